// A layer's point cloud on the CPU side: normalised coordinates, sampling, picking, lasso.
// Point p = image row (p / P), P the points each image has: every feature-map position
// (p % P), or for a layer the probe stored as a sample the position `position[p]`.
// Values are dimension-major.
//
// Each dimension is drawn over a view range [vlo, vhi]: its own min..max, or one range
// for every dimension of the layer (the "shared scale" switch). A coordinate is the
// stored number (8-bit code q, or a float16 value) through t = a[d] + b[d] * raw; the
// GPU uses the same (a, b) (gl.js), so picking, the lasso and the drawing agree.
import { HALF_TO_FLOAT } from "./api.js";

// Integer hash shared with the vertex shader (Math.imul wraps like GLSL uint math).
export function hash01(i) {
  let h = Math.imul(i >>> 0, 0x9e3779b1) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  return (h & 0xffff) / 65536;
}

// Diagonal cells are 1-D dot plots: x is the value, y a fixed jitter per point.
export function jitter(pid) { return 0.08 + 0.84 * hash01(pid); }

// Stratified sample: vertex v of `count` draws point floor((v + u) * step), u a hash in [0, 1).
export function sampledPoint(v, count, total) {
  if (count >= total) return v;
  const step = total / count;
  return Math.min(total - 1, Math.floor((v + hash01(v + 0x5bd1e995)) * step));
}

export class PointCloud {
  constructor(message, layer) {
    const h = message.header;
    this.layer = layer;                // the layer description from /api/runs
    this.name = h.layer;
    this.checkpoint = h.checkpoint;
    this.dims = h.dims;
    this.nImages = h.n_images;
    this.positions = h.positions;
    this.count = h.n_images * h.positions;
    this.dtype = h.dtype;              // "u8" | "f16"
    this.lo = h.lo;
    this.hi = h.hi;
    this.projection = h.projection;
    this.values = message.arrays.values.data;   // Uint8Array or Uint16Array (half bits)
    this.sampled = !!h.sampled;
    this.gridPositions = h.grid_positions ?? h.positions;
    this.where = message.arrays.position ? message.arrays.position.data : null;  // Int32Array
    this.setScale(false);
  }

  // One view range per dimension (shared = false) or one for the whole layer.
  setScale(shared) {
    this.shared = shared;
    let L = Infinity, H = -Infinity;
    for (let d = 0; d < this.dims; d++) { L = Math.min(L, this.lo[d]); H = Math.max(H, this.hi[d]); }
    this.layerRange = [L, H];
    this.a = new Float64Array(this.dims);
    this.b = new Float64Array(this.dims);
    for (let d = 0; d < this.dims; d++) {
      const [vlo, vhi] = this.viewRange(d), span = vhi - vlo;
      if (!(span > 0)) { this.a[d] = 0.5; this.b[d] = 0; continue; }
      if (this.dtype === "u8") {   // value = lo + q / 255 * (hi - lo)
        this.a[d] = (this.lo[d] - vlo) / span;
        this.b[d] = (this.hi[d] - this.lo[d]) / (255 * span);
      } else {
        this.a[d] = -vlo / span;
        this.b[d] = 1 / span;
      }
    }
    this._t = new Map();
  }

  viewRange(d) { return this.shared ? this.layerRange : [this.lo[d], this.hi[d]]; }

  // The feature-map position (row-major over the layer's grid) of point p.
  positionOf(p) { return this.where ? this.where[p] : p % this.positions; }

  // The stored value of point p on dimension d (decoded).
  valueAt(d, p) {
    const raw = this.values[d * this.count + p];
    return this.dtype === "u8" ? this.lo[d] + (raw / 255) * (this.hi[d] - this.lo[d]) : HALF_TO_FLOAT[raw];
  }

  // Normalised coordinate of point p on dimension d (one point: no cached column).
  tAt(d, p) {
    const raw = this.values[d * this.count + p];
    return this.a[d] + this.b[d] * (this.dtype === "u8" ? raw : HALF_TO_FLOAT[raw]);
  }

  // Normalised coordinate t (0..1 over the view range) of value v on dimension d.
  toT(d, v) { const [vlo, vhi] = this.viewRange(d); return vhi > vlo ? (v - vlo) / (vhi - vlo) : 0.5; }

  // Normalised coordinates of one dimension for every point, as a Float64Array (cached).
  t(dim) {
    if (this._t.has(dim)) return this._t.get(dim);
    const n = this.count, out = new Float64Array(n), base = dim * n, v = this.values;
    const a = this.a[dim], b = this.b[dim];
    if (this.dtype === "u8") for (let p = 0; p < n; p++) out[p] = a + b * v[base + p];
    else for (let p = 0; p < n; p++) out[p] = a + b * HALF_TO_FLOAT[v[base + p]];
    if (this._t.size > 4) this._t.delete(this._t.keys().next().value);
    this._t.set(dim, out);
    return out;
  }

  // Coordinate getter of one dimension: p -> normalised value. 8-bit data is read directly.
  coord(dim) {
    if (this.dtype === "u8") {
      const q = this.values.subarray(dim * this.count, (dim + 1) * this.count), a = this.a[dim], b = this.b[dim];
      return (p) => a + b * q[p];
    }
    const t = this.t(dim);
    return (p) => t[p];
  }

  // Images with at least one point inside `polygon` (normalised cell coordinates [[tx, ty], ...],
  // ty up) in the cell plotting xdim against ydim; a diagonal cell uses the jitter for y.
  lasso(xdim, ydim, polygon) {
    const diagonal = xdim === ydim, n = this.count, P = this.positions;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const [x, y] of polygon) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    const hit = new Uint8Array(this.nImages);
    if (this.dtype === "u8" && !diagonal) {
      const lattice = latticeMask(polygon, this.a[xdim], this.b[xdim], this.a[ydim], this.b[ydim]);
      const qx = this.values.subarray(xdim * n, (xdim + 1) * n);
      const qy = this.values.subarray(ydim * n, (ydim + 1) * n);
      for (let p = 0; p < n; p++) if (lattice[(qx[p] << 8) | qy[p]]) hit[(p / P) | 0] = 1;
      return hit;
    }
    const fx = this.coord(xdim), fy = diagonal ? jitter : this.coord(ydim);
    for (let p = 0; p < n; p++) {
      const x = fx(p);
      if (x < x0 || x > x1) continue;
      const y = fy(p);
      if (y < y0 || y > y1) continue;
      if (insidePolygon(x, y, polygon)) hit[(p / P) | 0] = 1;
    }
    return hit;
  }

  // The drawn point nearest to (tx0, ty0) within radii (rx, ry) (normalised units), or -1.
  // `drawn` = {all, selected}: how many points each pass draws per cell.
  nearest(xdim, ydim, tx0, ty0, rx, ry, drawn, selectedRows) {
    const fx = this.coord(xdim), fy = xdim === ydim ? jitter : this.coord(ydim);
    let best = -1, bestD = 1;
    const test = (p) => {
      const dx = (fx(p) - tx0) / rx;
      if (dx > 1 || dx < -1) return;
      const dy = (fy(p) - ty0) / ry, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = p; }
    };
    if (selectedRows && selectedRows.length) {
      const P = this.positions, total = selectedRows.length * P;
      const count = Math.min(total, drawn.selected);
      for (let v = 0; v < count; v++) {
        const k = sampledPoint(v, count, total);
        test(selectedRows[(k / P) | 0] * P + (k % P));
      }
      if (best >= 0) return best;
    }
    const count = Math.min(this.count, drawn.all);
    for (let v = 0; v < count; v++) test(sampledPoint(v, count, this.count));
    return best;
  }
}

// Even-odd rule; the same arithmetic as the Python reference in the tests.
export function insidePolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// For 8-bit data every coordinate is a + b * q for q in 0..255: test each of the
// 256 x 256 lattice points once.
function latticeMask(polygon, ax, bx, ay, by) {
  const mask = new Uint8Array(256 * 256);
  for (let qx = 0; qx < 256; qx++) {
    const x = ax + bx * qx;
    for (let qy = 0; qy < 256; qy++) mask[qx * 256 + qy] = insidePolygon(x, ay + by * qy, polygon) ? 1 : 0;
  }
  return mask;
}
