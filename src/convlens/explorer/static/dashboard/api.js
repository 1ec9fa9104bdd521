// Talking to the dashboard API: JSON for descriptions, binary messages for arrays.
// A binary message is b"CLV1" | uint32 L | JSON header (L bytes) | payload
// (see convlens/explorer/binary.py); each array is a typed-array view on the buffer.

const half = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) half[h] = s * m * 2 ** -24;
  else if (e === 31) half[h] = m ? NaN : s * Infinity;
  else half[h] = s * (1 + m / 1024) * 2 ** (e - 15);
}

const KINDS = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array,
};

// float16 arrays are widened to Float32Array (through a 65,536-entry table).
function view(buffer, dtype, offset, count) {
  if (dtype === "float16") {
    const bits = new Uint16Array(buffer, offset, count);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = half[bits[i]];
    return out;
  }
  const Kind = KINDS[dtype];
  if (!Kind) throw new Error(`unsupported dtype ${dtype}`);
  return new Kind(buffer, offset, count);
}

export function decode(buffer) {
  const magic = new TextDecoder().decode(new Uint8Array(buffer, 0, 4));
  if (magic !== "CLV1") throw new Error(`not a convlens message (starts with ${magic})`);
  const size = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, size)));
  const start = 8 + size;
  const arrays = {};
  for (const e of header.arrays) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    arrays[e.name] = view(buffer, e.dtype, start + e.offset, count);
    arrays[e.name].shape = e.shape;
  }
  return { header, arrays };
}

async function check(response) {
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

// API paths are relative to the page (/dashboard/), so the router can be mounted anywhere.
export const API = "../api/dashboard";

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) q.set(k, v);
  return q.toString();
}

export async function getJSON(path) {
  return (await check(await fetch(`${API}/${path}`, { cache: "no-store" }))).json();
}

export async function getBinary(path, params) {
  const url = `${API}/${path}?${query(params)}`;
  return decode(await (await check(await fetch(url, { cache: "no-store" }))).arrayBuffer());
}
