// The wire format and fetch checks shared by the explorer (./api.js) and the dashboard
// (./dashboard/api.js; the dashboard router serves this file as /dashboard/static/wire.js).
// A binary message is b"CLV1" | uint32 L | JSON header (L bytes) | payload; see binary.py.

// float16 bits -> float32 value, for every one of the 65,536 patterns.
export const HALF_TO_FLOAT = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e === 0) table[h] = s * m * 2 ** -24;
    else if (e === 31) table[h] = m ? NaN : s * Infinity;
    else table[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return table;
})();

// Splits a message into its JSON header and its arrays; makeArray(buffer, entry, byteOffset,
// count) builds each array from its header entry ({name, dtype, shape, offset}).
export function decodeWith(buffer, makeArray) {
  const magic = new TextDecoder().decode(new Uint8Array(buffer, 0, 4));
  if (magic !== "CLV1") throw new Error(`not a convlens message (starts with ${magic})`);
  const size = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, size)));
  const start = 8 + size;
  const arrays = {};
  for (const e of header.arrays) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    arrays[e.name] = makeArray(buffer, e, start + e.offset, count);
  }
  return { header, arrays };
}

// fetch(url, init); a reply that is not 2xx throws the server's one-line {"error"} message.
export async function fetchChecked(url, init) {
  const response = await fetch(url, init);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}
