// Talking to the dashboard API: JSON for descriptions, binary messages for arrays.
// The message format and the error check are shared with the explorer (../wire.js, which
// the dashboard router serves next to this file); each array is a typed-array view on the
// buffer with a .shape.

import { HALF_TO_FLOAT, decodeWith, fetchChecked } from "./wire.js";

const KINDS = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array,
};

// float16 arrays are widened to Float32Array (through a 65,536-entry table).
function view(buffer, dtype, offset, count) {
  if (dtype === "float16") {
    const bits = new Uint16Array(buffer, offset, count);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = HALF_TO_FLOAT[bits[i]];
    return out;
  }
  const Kind = KINDS[dtype];
  if (!Kind) throw new Error(`unsupported dtype ${dtype}`);
  return new Kind(buffer, offset, count);
}

export function decode(buffer) {
  return decodeWith(buffer, (buf, e, offset, count) => {
    const array = view(buf, e.dtype, offset, count);
    array.shape = e.shape;
    return array;
  });
}

// API paths are relative to the page (/dashboard/), so the router can be mounted anywhere.
export const API = "../api/dashboard";

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) q.set(k, v);
  return q.toString();
}

export async function getJSON(path) {
  return (await fetchChecked(`${API}/${path}`, { cache: "no-store" })).json();
}

export async function getBinary(path, params) {
  const url = `${API}/${path}?${query(params)}`;
  return decode(await (await fetchChecked(url, { cache: "no-store" })).arrayBuffer());
}
