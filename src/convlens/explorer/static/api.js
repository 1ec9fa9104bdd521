// Talking to the explorer server: JSON for descriptions, binary messages for arrays.
// The message format and the error check are shared with the dashboard (./wire.js).

import { HALF_TO_FLOAT, decodeWith, fetchChecked } from "./wire.js";

export { HALF_TO_FLOAT };

const DTYPES = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float16: Uint16Array, float32: Float32Array,
  int64: BigInt64Array, float64: Float64Array,
};

// Each array is {data, shape, dtype}; float16 data stays raw bits (see HALF_TO_FLOAT).
export function decodeMessage(buffer) {
  return decodeWith(buffer, (buf, e, offset, count) => ({
    data: new DTYPES[e.dtype](buf, offset, count), shape: e.shape, dtype: e.dtype,
  }));
}

export async function getJSON(url) {
  return (await fetchChecked(url)).json();
}

export async function getBinary(url, init) {
  return decodeMessage(await (await fetchChecked(url, init)).arrayBuffer());
}

export async function postBinary(url, body) {
  return getBinary(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}
