// The cross-layer scatter plot: any dimension of one layer against any dimension of another
// (one point per image; the server averages a structured layer's channel over positions),
// and a 3-D scatter plot with rotation (drag) when a third axis is chosen. Canvas 2-D:
// one point per image is few enough to draw directly.
import { getBinary } from "./api.js";
import { PALETTE } from "./gl.js";

const $ = (id) => document.getElementById(id);
const AXES = ["x", "y", "z"];

export class CrossPlot {
  constructor(app) {
    this.app = app;
    this.values = null;     // Float32Array per axis, normalised to -1..1
    this.yaw = 0.6;
    this.pitch = 0.35;
    this.projected = null;  // Float32Array (N, 2) canvas coordinates of each image
  }

  get pane() { return this.app.panes[this.app.focus] || this.app.panes[0]; }

  build() {
    const layers = this.app.panes[0].run.layers;
    const root = $("plot-axes");
    root.replaceChildren(...AXES.map((a, k) => {
      const label = document.createElement("label");
      label.textContent = `${a} `;
      const sel = document.createElement("select");
      sel.id = `plot-${a}-layer`;
      if (a === "z") sel.append(new Option("none", ""));
      for (const l of layers) sel.append(new Option(l.name, l.name));
      const first = layers[0].name, last = layers[layers.length - 1].name;
      sel.value = a === "z" ? "" : k === 0 ? first : last;
      const dim = document.createElement("input");
      dim.type = "number"; dim.min = 0; dim.value = 0; dim.id = `plot-${a}-dim`;
      sel.onchange = dim.onchange = () => this.load();
      label.append(sel, dim);
      return label;
    }));
    const canvas = $("plot");
    canvas.addEventListener("mousedown", (e) => {
      const start = [e.clientX, e.clientY];
      let last = start, moved = 0;
      const move = (ev) => {
        moved += Math.abs(ev.clientX - last[0]) + Math.abs(ev.clientY - last[1]);
        if (this.values && this.values.length === 3) {
          this.yaw += (ev.clientX - last[0]) * 0.01;
          this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + (ev.clientY - last[1]) * 0.01));
          this.draw();
        }
        last = [ev.clientX, ev.clientY];
      };
      const up = (ev) => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        if (moved < 4) this.click(ev);
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
  }

  axes() {
    const out = [];
    for (const a of AXES) {
      const layer = $(`plot-${a}-layer`).value;
      if (layer) out.push(`${layer}:${Math.max(0, +$(`plot-${a}-dim`).value | 0)}`);
    }
    return out;
  }

  async load() {
    const pane = this.pane, axes = this.axes();
    try {
      const m = await getBinary(`/api/runs/${pane.rid}/scatter.bin?axes=${encodeURIComponent(axes.join(","))}` +
        `&checkpoint=${encodeURIComponent(pane.checkpoint)}`);
      const v = m.arrays.values, n = v.shape[1];
      this.raw = [];
      this.values = [];
      for (let a = 0; a < v.shape[0]; a++) {
        const col = v.data.subarray(a * n, (a + 1) * n);
        let lo = Infinity, hi = -Infinity;
        for (const x of col) { if (x < lo) lo = x; if (x > hi) hi = x; }
        const span = hi > lo ? hi - lo : 1, out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = ((col[i] - lo) / span) * 2 - 1;
        this.raw.push(col);
        this.values.push(out);
      }
      this.names = m.header.axes;
      this.draw();
    } catch (err) {
      $("plot-info").textContent = `error: ${err.message}`;
    }
  }

  draw() {
    const canvas = $("plot"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.fillStyle = "#0d0e10";
    ctx.fillRect(0, 0, W, H);
    if (!this.values) return;
    const pane = this.pane, n = this.values[0].length, three = this.values.length === 3;
    const [X, Y] = this.values, Z = three ? this.values[2] : null;
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    const half = W * (three ? 0.3 : 0.44);
    const project = (x, y, z) => {
      if (!three) return [W / 2 + x * half, H / 2 - y * half, 0];
      const x1 = cy * x + sy * z, z1 = -sy * x + cy * z;     // yaw about the vertical axis
      const y2 = cp * y - sp * z1, z2 = sp * y + cp * z1;     // pitch about the horizontal axis
      return [W / 2 + x1 * half, H / 2 - y2 * half, z2];
    };
    if (three) {   // the unit cube's axes
      ctx.strokeStyle = "#555";
      for (const [a, b, label] of [[[-1, -1, -1], [1, -1, -1], "x"], [[-1, -1, -1], [-1, 1, -1], "y"], [[-1, -1, -1], [-1, -1, 1], "z"]]) {
        const p = project(...a), q = project(...b);
        ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke();
        ctx.fillStyle = "#9aa0a8"; ctx.fillText(label, q[0] + 3, q[1]);
      }
    }
    const proj = new Float32Array(n * 2), depth = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const [sx, sy2, d] = project(X[i], Y[i], three ? Z[i] : 0);
      proj[2 * i] = sx; proj[2 * i + 1] = sy2; depth[i] = d;
    }
    this.projected = proj;
    const mask = pane.mask, any = pane.rows.length > 0;
    const order = Array.from({ length: n }, (_, i) => i);
    if (three) order.sort((a, b) => depth[a] - depth[b]);   // far points first
    for (const pass of any ? [0, 1] : [0]) {
      for (const i of order) {
        const sel = mask && mask[i];
        if (any && (pass === 0) === !!sel) continue;
        const c = PALETTE[pane.labels[i] % PALETTE.length];
        const a = any && !sel ? 0.15 : 0.75;
        ctx.fillStyle = `rgba(${Math.round(c[0] * 255)},${Math.round(c[1] * 255)},${Math.round(c[2] * 255)},${a})`;
        const r = sel ? 2.5 : 1.6;
        ctx.fillRect(proj[2 * i] - r / 2, proj[2 * i + 1] - r / 2, r, r);
      }
    }
    $("plot-info").textContent = `${this.names.join(" × ")} · ${n.toLocaleString()} images` + (three ? " · drag to rotate" : "");
  }

  click(e) {
    if (!this.projected) return;
    const r = $("plot").getBoundingClientRect(), sx = e.clientX - r.left, sy = e.clientY - r.top;
    let best = -1, bestD = 36;
    for (let i = 0; i < this.projected.length / 2; i++) {
      const d = (this.projected[2 * i] - sx) ** 2 + (this.projected[2 * i + 1] - sy) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    const pane = this.pane;
    if (best >= 0) this.app.selectPaneRows(pane, [best], this.app.modeOf(e));
  }
}
