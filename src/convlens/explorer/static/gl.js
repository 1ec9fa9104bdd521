// The WebGL2 renderer of the embedding view. One context draws the whole matrix:
// every visible cell is one instance of one draw call, and each point fetches its two
// coordinates from a texture holding the layer's values (no per-point vertex buffers).

const TEX_W = 4096;   // texels per row of every linear data texture
const SELECTION_DENSE = 2000;   // selected points per cell above which they are drawn plainly
export const PALETTE = [
  [0.12, 0.47, 0.71], [1.0, 0.50, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.40, 0.74],
  [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.50, 0.50, 0.50], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81],
  [0.68, 0.78, 0.91], [1.0, 0.73, 0.47], [0.60, 0.87, 0.54], [1.0, 0.60, 0.59], [0.77, 0.69, 0.84],
  [0.77, 0.61, 0.58], [0.97, 0.71, 0.82], [0.78, 0.78, 0.78], [0.86, 0.86, 0.55], [0.62, 0.85, 0.90],
];

const VERTEX = `#version 300 es
precision highp float; precision highp int;
precision highp sampler2DArray; precision highp usampler2D; precision highp sampler2D;
uniform sampler2DArray u_values; uniform sampler2D u_lohi; uniform usampler2D u_labels;
uniform sampler2DArray u_from; uniform sampler2D u_lohiFrom; uniform float u_mix;
uniform sampler2D u_mask; uniform usampler2D u_sel;
uniform int u_npts, u_P, u_th, u_thFrom, u_count, u_total, u_pass, u_hasSel;
uniform ivec4 u_cells; uniform ivec2 u_dimStart; uniform ivec2 u_fixed;
uniform vec4 u_cam; uniform float u_pad, u_size, u_alpha;
uniform vec3 u_palette[20];
out vec4 v_color;
out vec3 v_cell;   // (tx, ty, point id): captured by transform feedback for tests
uint hashu(uint i) { uint h = i * 0x9e3779b1u; h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; return h; }
float hash01(int i) { return float(hashu(uint(i)) & 0xffffu) / 65536.0; }
int sampled(int v, int count, int total) {
  if (count >= total) return v;
  float step = float(total) / float(count);
  return min(total - 1, int(floor((float(v) + hash01(v + 0x5bd1e995)) * step)));
}
float fetchv(int dim, int pid) {
  int L = dim * u_npts + pid; int r = L >> 12;
  return texelFetch(u_values, ivec3(L & 4095, r % u_th, r / u_th), 0).r;
}
// t = a + b * v: the dimension's view range (its own, or the layer's: points.js setScale).
float norm(int dim, float v) {
  vec2 ab = texelFetch(u_lohi, ivec2(dim, 0), 0).rg;
  return ab.x + ab.y * v;
}
// The same point in the snapshot the view animates from (timeline).
float fromNorm(int dim, int pid) {
  int L = dim * u_npts + pid; int r = L >> 12;
  float v = texelFetch(u_from, ivec3(L & 4095, r % u_thFrom, r / u_thFrom), 0).r;
  vec2 ab = texelFetch(u_lohiFrom, ivec2(dim, 0), 0).rg;
  return ab.x + ab.y * v;
}
void main() {
  int pid;
  if (u_pass == 0) {
    pid = sampled(gl_VertexID, u_count, u_total);
    int im = pid / u_P;
    if (u_hasSel == 1 && texelFetch(u_mask, ivec2(im & 4095, im >> 12), 0).r > 0.5) {
      gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; v_color = vec4(0.0);
      v_cell = vec3(-1.0); return;
    }
  } else {
    int k = sampled(gl_VertexID, u_count, u_total); int s = k / u_P;
    int im = int(texelFetch(u_sel, ivec2(s & 4095, s >> 12), 0).r);
    pid = im * u_P + (k - s * u_P);
  }
  int img = pid / u_P;
  int inst = gl_InstanceID; int rr = inst / u_cells.z;
  int row = u_cells.x + rr; int col = u_cells.y + inst - rr * u_cells.z;
  int xdim = u_fixed.x >= 0 ? u_fixed.x : u_dimStart.y + col;
  int ydim = u_fixed.y >= 0 ? u_fixed.y : u_dimStart.x + row;
  float tx = norm(xdim, fetchv(xdim, pid));
  float ty = xdim == ydim ? 0.08 + 0.84 * hash01(pid) : norm(ydim, fetchv(ydim, pid));
  if (u_mix < 1.0) {
    float fx = fromNorm(xdim, pid), fy = xdim == ydim ? ty : fromNorm(ydim, pid);
    tx = mix(fx, tx, u_mix); ty = mix(fy, ty, u_mix);
  }
  v_cell = vec3(tx, ty, float(pid));
  float inner = 1.0 - 2.0 * u_pad;
  vec2 w = vec2(float(col) + u_pad + tx * inner, float(row) + u_pad + (1.0 - ty) * inner);
  gl_Position = vec4((w.x - u_cam.x) * u_cam.z, -(w.y - u_cam.y) * u_cam.w, 0.0, 1.0);
  gl_PointSize = u_size;
  uint lab = texelFetch(u_labels, ivec2(img & 4095, img >> 12), 0).r;
  v_color = vec4(lab == 65535u ? vec3(0.75) : u_palette[int(lab % 20u)], u_alpha);
}`;

const FRAGMENT = `#version 300 es
precision mediump float;
in vec4 v_color; out vec4 o; uniform float u_round;
void main() {
  if (u_round > 0.5) { vec2 d = gl_PointCoord - 0.5; if (dot(d, d) > 0.25) discard; }
  o = vec4(v_color.rgb * v_color.a, v_color.a);
}`;

function compile(gl, type, source) {
  const s = gl.createShader(type);
  gl.shaderSource(s, source);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}

function linearTexture(gl, internal, format, type, data, count) {
  // A TEX_W-wide 2-D texture holding `count` values in row-major order.
  const h = Math.max(1, Math.ceil(count / TEX_W)), tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texStorage2D(gl.TEXTURE_2D, 1, internal, TEX_W, h);
  const full = Math.floor(count / TEX_W);
  if (full) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, TEX_W, full, format, type, data, 0);
  const rest = count - full * TEX_W;
  if (rest) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, full, rest, 1, format, type, data, full * TEX_W);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  return tex;
}

function link(gl, feedback) {
  const prog = gl.createProgram();
  gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
  if (feedback) gl.transformFeedbackVaryings(prog, ["v_cell"], gl.SEPARATE_ATTRIBS);
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
  const loc = {};
  for (let i = 0; i < gl.getProgramParameter(prog, gl.ACTIVE_UNIFORMS); i++) {
    const name = gl.getActiveUniform(prog, i).name.replace(/\[0\]$/, "");
    loc[name] = gl.getUniformLocation(prog, name);
  }
  return { prog, loc };
}

// Rewrite the first `count` values of a linear texture made by linearTexture.
function updateLinear(gl, tex, format, type, data, count) {
  gl.bindTexture(gl.TEXTURE_2D, tex);
  const full = Math.floor(count / TEX_W);
  if (full) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, TEX_W, full, format, type, data, 0);
  const rest = count - full * TEX_W;
  if (rest) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, full, rest, 1, format, type, data, full * TEX_W);
}

export class Renderer {
  constructor(canvas) {
    const gl = canvas.getContext("webgl2", { antialias: false, premultipliedAlpha: true, preserveDrawingBuffer: true });
    if (!gl) throw new Error("this browser has no WebGL2; the explorer needs it");
    this.gl = gl;
    this.canvas = canvas;
    ({ prog: this.prog, loc: this.loc } = link(gl, false));
    this.feedback = null;   // the same shaders linked for transform feedback, made on first use
    this.vao = gl.createVertexArray();
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    this.rendererName = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    this.software = /swiftshader|llvmpipe|software/i.test(this.rendererName);
    this.maxLayers = gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS);
    this.maxSize = Math.min(gl.getParameter(gl.MAX_TEXTURE_SIZE), 8192);
    this.textures = {};
    this.mix = 1;           // 0..1 between the snapshot animated from and the current one
    this.from = null;       // {values, lohi, th} of the snapshot animated from
  }

  // Upload one layer's values (PointCloud) once: a 2-D array texture, TEX_W texels wide.
  // `animate`: keep the previous values (same images, same dimensions) to animate from.
  setPoints(cloud, animate = false) {
    const gl = this.gl, prev = this.cloud;
    const canAnimate = animate && prev && prev !== cloud && prev.count === cloud.count && prev.dims === cloud.dims;
    if (this.from) { gl.deleteTexture(this.from.values); gl.deleteTexture(this.from.lohi); this.from = null; }
    if (canAnimate) this.from = { values: this.textures.values, lohi: this.textures.lohi, th: this.th };
    else for (const k of ["values", "lohi"]) if (this.textures[k]) gl.deleteTexture(this.textures[k]);
    this.textures.lohi = null;
    this.mix = canAnimate ? 0 : 1;
    const total = cloud.count * cloud.dims;
    if (total >= 2 ** 31) throw new Error(`layer ${cloud.layer.name} has ${total} values, more than one view can hold`);
    const rows = Math.ceil(total / TEX_W), th = Math.min(rows, this.maxSize), depth = Math.ceil(rows / th);
    if (depth > this.maxLayers) throw new Error(`layer ${cloud.layer.name} is too large for this GPU`);
    const u8 = cloud.dtype === "u8";
    const [internal, type] = u8 ? [gl.R8, gl.UNSIGNED_BYTE] : [gl.R16F, gl.HALF_FLOAT];
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, tex);
    gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, internal, TEX_W, th, depth);
    const perLayer = TEX_W * th;
    for (let z = 0; z < depth; z++) {
      const start = z * perLayer, n = Math.min(perLayer, total - start);
      const full = Math.floor(n / TEX_W), rest = n - full * TEX_W;
      if (full) gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, z, TEX_W, full, 1, gl.RED, type, cloud.values, start);
      if (rest) gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, full, z, rest, 1, 1, gl.RED, type, cloud.values, start + full * TEX_W);
    }
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D_ARRAY, p, gl.NEAREST);
    this.textures.values = tex;
    this.textures.lohi = null;
    this.cloud = cloud;
    this.setScale(cloud);
    this.th = th;
    return canAnimate;
  }

  // (Re)upload the per-dimension view scale (a, b) of `cloud` (points.js setScale): an
  // 8-bit texture reads q / 255, so b is scaled by 255 there.
  setScale(cloud) {
    const gl = this.gl, u8 = cloud.dtype === "u8";
    const ab = new Float32Array(cloud.dims * 2);
    for (let d = 0; d < cloud.dims; d++) { ab[2 * d] = cloud.a[d]; ab[2 * d + 1] = cloud.b[d] * (u8 ? 255 : 1); }
    if (!this.textures.lohi) {
      const lt = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, lt);
      gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RG32F, cloud.dims, 1);
      for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
      this.textures.lohi = lt;
    }
    gl.bindTexture(gl.TEXTURE_2D, this.textures.lohi);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, cloud.dims, 1, gl.RG, gl.FLOAT, ab);
    this.scaleShared = cloud.shared;
  }

  // Forget the layer: nothing is drawn until the next setPoints (no stale picture).
  clear() {
    const gl = this.gl;
    this.cloud = null;
    if (this.from) { gl.deleteTexture(this.from.values); gl.deleteTexture(this.from.lohi); this.from = null; }
    this.mix = 1;
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(0.08, 0.09, 0.1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
  }

  setLabels(labels) {
    const gl = this.gl, n = labels.length;
    const data = new Uint16Array(n);
    for (let i = 0; i < n; i++) data[i] = labels[i] < 0 ? 65535 : labels[i];
    if (this.textures.labels) gl.deleteTexture(this.textures.labels);
    this.textures.labels = linearTexture(gl, gl.R16UI, gl.RED_INTEGER, gl.UNSIGNED_SHORT, data, n);
    this.nImages = n;
    // The selection lives in two textures sized once for N images and updated in place:
    // a mask (one byte per image) and the list of selected rows. No point data moves.
    for (const k of ["mask", "sel"]) if (this.textures[k]) gl.deleteTexture(this.textures[k]);
    this.textures.mask = linearTexture(gl, gl.R8, gl.RED, gl.UNSIGNED_BYTE, new Uint8Array(n), n);
    this.textures.sel = linearTexture(gl, gl.R32UI, gl.RED_INTEGER, gl.UNSIGNED_INT, new Uint32Array(n), n);
    this.maskBytes = new Uint8Array(n);
    this.nSelected = 0;
  }

  // The selection: a mask over images (Uint8Array N) and the sorted list of selected rows.
  setSelection(mask, rows) {
    const gl = this.gl, m = this.maskBytes;
    for (let i = 0; i < mask.length; i++) m[i] = mask[i] ? 255 : 0;
    updateLinear(gl, this.textures.mask, gl.RED, gl.UNSIGNED_BYTE, m, m.length);
    if (rows.length) updateLinear(gl, this.textures.sel, gl.RED_INTEGER, gl.UNSIGNED_INT, Uint32Array.from(rows), rows.length);
    this.nSelected = rows.length;
  }

  bindCommon(L, view, cells) {
    const gl = this.gl, cloud = this.cloud;
    const bind = (unit, target_, tex, name) => {
      gl.activeTexture(gl.TEXTURE0 + unit); gl.bindTexture(target_, tex); gl.uniform1i(L[name], unit);
    };
    const from = this.from && this.mix < 1 ? this.from : { values: this.textures.values, lohi: this.textures.lohi, th: this.th };
    bind(0, gl.TEXTURE_2D_ARRAY, this.textures.values, "u_values");
    bind(1, gl.TEXTURE_2D, this.textures.lohi, "u_lohi");
    bind(2, gl.TEXTURE_2D, this.textures.labels, "u_labels");
    bind(3, gl.TEXTURE_2D, this.textures.mask, "u_mask");
    bind(4, gl.TEXTURE_2D, this.textures.sel, "u_sel");
    bind(5, gl.TEXTURE_2D_ARRAY, from.values, "u_from");
    bind(6, gl.TEXTURE_2D, from.lohi, "u_lohiFrom");
    gl.uniform1f(L.u_mix, this.from ? this.mix : 1);
    gl.uniform1i(L.u_thFrom, from.th);
    gl.uniform1i(L.u_npts, cloud.count);
    gl.uniform1i(L.u_P, cloud.positions);
    gl.uniform1i(L.u_th, this.th);
    gl.uniform4i(L.u_cells, cells[0], cells[1], cells[3], 0);
    gl.uniform2i(L.u_dimStart, view.dimStart[0], view.dimStart[1]);
    gl.uniform2i(L.u_fixed, view.fixed[0], view.fixed[1]);
    gl.uniform4f(L.u_cam, ...view.cam);
    gl.uniform1f(L.u_pad, view.pad ?? 0.04);
    gl.uniform3fv(L.u_palette, PALETTE.flat());
  }

  // Draw `view` = {cam: [cx, cy, sx, sy], cells: [r0, c0, nr, nc], dimStart: [row, col],
  // fixed: [xdim, ydim] or [-1, -1], size, alpha, budget, width, height, background}.
  // Returns how many points each pass drew per cell: {all, selected}.
  draw(view, target = null) {
    const gl = this.gl, L = this.loc, cloud = this.cloud;
    gl.bindFramebuffer(gl.FRAMEBUFFER, target);
    gl.viewport(0, 0, view.width, view.height);
    const bg = view.background || [0.08, 0.09, 0.1];
    gl.clearColor(bg[0], bg[1], bg[2], 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    const drawn = { all: 0, selected: 0, cells: 0 };
    if (!cloud || !this.textures.labels || !this.textures.mask) return drawn;
    const [, , nr, nc] = view.cells, cells = nr * nc;
    if (cells <= 0) return drawn;
    gl.useProgram(this.prog);
    gl.bindVertexArray(this.vao);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    this.bindCommon(L, view, view.cells);
    const hasSel = this.nSelected > 0;
    const perCell = Math.max(1, Math.floor(view.budget / cells));
    // Pass 1: every image (a sample when over budget); faint and small under a selection.
    const all = Math.min(cloud.count, perCell);
    gl.uniform1i(L.u_pass, 0);
    gl.uniform1i(L.u_hasSel, hasSel ? 1 : 0);
    gl.uniform1i(L.u_count, all);
    gl.uniform1i(L.u_total, cloud.count);
    const size = view.size * (hasSel ? 0.7 : 1);
    gl.uniform1f(L.u_size, size);
    gl.uniform1f(L.u_round, size >= 3 ? 1 : 0);
    gl.uniform1f(L.u_alpha, hasSel ? view.alpha * 0.25 : view.alpha);
    gl.drawArraysInstanced(gl.POINTS, 0, all, cells);
    drawn.all = all;
    // Pass 2: the selected images on top: larger and opaque when they are few (a single
    // selected image is at least 7 px), at the normal size and opacity when they are many
    // (so that a whole class does not paint every cell its colour).
    if (hasSel) {
      const total = this.nSelected * cloud.positions, sel = Math.min(total, perCell);
      const dense = sel > SELECTION_DENSE;
      const selSize = total <= 64 ? Math.max(view.size * 1.4, 7 * (view.dpr || 1)) : dense ? view.size : view.size * 1.4;
      gl.uniform1i(L.u_pass, 1);
      gl.uniform1i(L.u_count, sel);
      gl.uniform1i(L.u_total, total);
      gl.uniform1f(L.u_size, selSize);
      gl.uniform1f(L.u_round, selSize >= 3 ? 1 : 0);
      gl.uniform1f(L.u_alpha, dense ? view.alpha : Math.min(1, view.alpha * 1.5));
      gl.drawArraysInstanced(gl.POINTS, 0, sel, cells);
      drawn.selected = sel;
      drawn.selectedSize = selSize;
    }
    drawn.cells = cells;
    return drawn;
  }

  // What the vertex shader computes for the first `count` points of pass 1 in one cell
  // (row, col of the visible window), read back through transform feedback:
  // Float32Array of (tx, ty, point id) triples in the cell's normalised coordinates.
  // Tests compare it with the stored probe arrays.
  capture(view, row, col, count) {
    const gl = this.gl;
    if (!this.feedback) this.feedback = link(gl, true);
    const { prog, loc: L } = this.feedback, cloud = this.cloud;
    count = Math.min(count, cloud.count);
    const buffer = gl.createBuffer();
    gl.bindBuffer(gl.TRANSFORM_FEEDBACK_BUFFER, buffer);
    gl.bufferData(gl.TRANSFORM_FEEDBACK_BUFFER, count * 12, gl.STREAM_READ);
    gl.useProgram(prog);
    gl.bindVertexArray(this.vao);
    this.bindCommon(L, view, [row, col, 1, 1]);
    gl.uniform1i(L.u_pass, 0);
    gl.uniform1i(L.u_hasSel, 0);
    gl.uniform1i(L.u_count, count);
    gl.uniform1i(L.u_total, count);   // no sampling: vertex v is point v
    gl.uniform1f(L.u_size, 1);
    gl.uniform1f(L.u_alpha, 1);
    const tf = gl.createTransformFeedback();
    gl.bindTransformFeedback(gl.TRANSFORM_FEEDBACK, tf);
    gl.bindBufferBase(gl.TRANSFORM_FEEDBACK_BUFFER, 0, buffer);
    gl.enable(gl.RASTERIZER_DISCARD);
    gl.beginTransformFeedback(gl.POINTS);
    gl.drawArraysInstanced(gl.POINTS, 0, count, 1);
    gl.endTransformFeedback();
    gl.disable(gl.RASTERIZER_DISCARD);
    gl.bindBufferBase(gl.TRANSFORM_FEEDBACK_BUFFER, 0, null);
    gl.bindTransformFeedback(gl.TRANSFORM_FEEDBACK, null);
    const out = new Float32Array(count * 3);
    gl.bindBuffer(gl.TRANSFORM_FEEDBACK_BUFFER, buffer);
    gl.getBufferSubData(gl.TRANSFORM_FEEDBACK_BUFFER, 0, out);
    gl.bindBuffer(gl.TRANSFORM_FEEDBACK_BUFFER, null);
    gl.deleteBuffer(buffer);
    gl.deleteTransformFeedback(tf);
    return out;
  }

  // Wait for the GPU to finish (for timing).
  finish() {
    const px = new Uint8Array(4);
    this.gl.readPixels(0, 0, 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, px);
  }
}
