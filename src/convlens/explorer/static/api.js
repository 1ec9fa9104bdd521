// Talking to the explorer server: JSON for descriptions, binary messages for arrays.
// A binary message is b"CLV1" | uint32 L | JSON header (L bytes) | payload; see binary.py.

const DTYPES = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float16: Uint16Array, float32: Float32Array,
  int64: BigInt64Array, float64: Float64Array,
};

export function decodeMessage(buffer) {
  const magic = new TextDecoder().decode(new Uint8Array(buffer, 0, 4));
  if (magic !== "CLV1") throw new Error(`not an explorer message (starts with ${magic})`);
  const size = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, size)));
  const start = 8 + size;
  const arrays = {};
  for (const e of header.arrays) {
    const Kind = DTYPES[e.dtype];
    const count = e.shape.reduce((a, b) => a * b, 1);
    arrays[e.name] = { data: new Kind(buffer, start + e.offset, count), shape: e.shape, dtype: e.dtype };
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

export async function getJSON(url) {
  return (await check(await fetch(url))).json();
}

export async function getBinary(url, init) {
  return decodeMessage(await (await check(await fetch(url, init))).arrayBuffer());
}

export async function postBinary(url, body) {
  return getBinary(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}

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
