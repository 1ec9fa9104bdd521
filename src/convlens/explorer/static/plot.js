// The cross-layer scatter plot: any dimension of one layer against any dimension of another
// (one point per image; the server averages a structured layer's channel over positions),
// and a 3-D scatter plot with rotation (drag) when a third axis is chosen. Canvas 2-D:
// one point per image is few enough to draw directly. The axes are state; the rotation is
// this view's own.
import { getBinary } from "./api.js";
import { paneRows, selectPaneRows } from "./actions.js";
import { PALETTE } from "./gl.js";
import { modeOf } from "./matrix.js";
import { checkpointOf, runOf } from "./store.js";

const $ = (id) => document.getElementById(id);
const AXES = ["x", "y", "z"];

export class CrossPlot {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.values = null;     // Float32Array per axis, normalised to -1..1
    this.yaw = 0.6;
    this.pitch = 0.35;
    this.projected = null;  // Float32Array (N, 2) canvas coordinates of each image
    this.built = null;
    this.shown = null;
    this.bindCanvas();
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state, prev); });
  }

  pane(state) { return Math.min(state.focus, state.panes.length - 1); }

  axes(state, run) {
    const names = run.layers.map((l) => l.name);
    const pick = (a, fallback) => (a && names.includes(a[0]) ? a : fallback);
    const x = pick(state.plot.x, [names[0], 0]), y = pick(state.plot.y, [names[names.length - 1], 0]);
    const z = state.plot.z && names.includes(state.plot.z[0]) ? state.plot.z : null;
    return [x, y, z];
  }

  build(run) {
    const key = run.layers.map((l) => l.name).join(",");
    if (this.built === key) return;
    this.built = key;
    $("plot-axes").replaceChildren(...AXES.map((a, k) => {
      const label = document.createElement("label"), sel = document.createElement("select"), dim = document.createElement("input");
      label.textContent = `${a} `;
      sel.id = `plot-${a}-layer`;
      if (a === "z") sel.append(new Option("none", ""));
      for (const l of run.layers) sel.append(new Option(l.name, l.name));
      dim.type = "number"; dim.min = 0; dim.id = `plot-${a}-dim`;
      const send = () => {
        const layer = $(`plot-${a}-layer`).value, d = Math.max(0, +$(`plot-${a}-dim`).value | 0);
        this.store.dispatch({ type: "plot", patch: { [a]: layer ? [layer, d] : null } });
      };
      sel.onchange = send;
      dim.onchange = send;
      label.append(sel, dim);
      return label;
    }));
  }

  render(state, prev) {
    if (!state.panes.length) return;
    const k = this.pane(state), run = runOf(state, k), ck = checkpointOf(state, k);
    if (!run || !run.ready || !ck) return;
    this.build(run);
    const axes = this.axes(state, run);
    AXES.forEach((a, i) => {
      $(`plot-${a}-layer`).value = axes[i] ? axes[i][0] : "";
      $(`plot-${a}-dim`).value = axes[i] ? axes[i][1] : 0;
    });
    if (state.tab !== "plot" || ck.state !== "probed") return;
    const spec = axes.filter(Boolean).map(([l, d]) => `${l}:${d}`).join(",");
    const key = `${state.panes[k].rid}|${ck.name}|${ck.version}|${spec}`;
    if (key !== this.shown) { this.shown = key; this.load(state.panes[k].rid, ck.name, spec, key); return; }
    if (!prev || prev.selection !== state.selection) this.draw();
  }

  async load(rid, checkpoint, spec, key) {
    try {
      const m = await getBinary(`/api/runs/${rid}/scatter.bin?axes=${encodeURIComponent(spec)}&checkpoint=${encodeURIComponent(checkpoint)}`);
      if (key !== this.shown) return;
      const v = m.arrays.values, n = v.shape[1];
      this.values = [];
      for (let a = 0; a < v.shape[0]; a++) {
        const col = v.data.subarray(a * n, (a + 1) * n);
        let lo = Infinity, hi = -Infinity;
        for (const x of col) { if (x < lo) lo = x; if (x > hi) hi = x; }
        const span = hi > lo ? hi - lo : 1, out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = ((col[i] - lo) / span) * 2 - 1;
        this.values.push(out);
      }
      this.names = m.header.axes;
      this.draw();
    } catch (err) {
      if (key === this.shown) $("plot-info").textContent = `error: ${err.message}`;
    }
  }

  draw() {
    const canvas = $("plot"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.fillStyle = "#0d0e10";
    ctx.fillRect(0, 0, W, H);
    if (!this.values) return;
    const state = this.store.get(), k = this.pane(state), labels = this.data.labelsOf(state, k);
    if (!labels) return;
    const n = this.values[0].length, three = this.values.length === 3;
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
    const rows = paneRows(state, this.data, k), mask = new Uint8Array(n);
    for (const r of rows) if (r < n) mask[r] = 1;
    const any = rows.length > 0, order = Array.from({ length: n }, (_, i) => i);
    if (three) order.sort((a, b) => depth[a] - depth[b]);   // far points first
    for (const pass of any ? [0, 1] : [0]) {
      for (const i of order) {
        const sel = mask[i];
        if (any && (pass === 0) === !!sel) continue;
        const c = PALETTE[Math.max(0, labels.labels[i]) % PALETTE.length], a = any && !sel ? 0.15 : 0.75;
        ctx.fillStyle = `rgba(${Math.round(c[0] * 255)},${Math.round(c[1] * 255)},${Math.round(c[2] * 255)},${a})`;
        const r = sel ? (rows.length <= 20 ? 6 : 2.5) : 1.6;
        ctx.fillRect(proj[2 * i] - r / 2, proj[2 * i + 1] - r / 2, r, r);
      }
    }
    $("plot-info").textContent = `${this.names.join(" × ")} · ${n.toLocaleString()} images` + (three ? " · drag to rotate" : "");
  }

  bindCanvas() {
    const canvas = $("plot");
    canvas.addEventListener("mousedown", (e) => {
      let last = [e.clientX, e.clientY], moved = 0;
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

  click(e) {
    if (!this.projected) return;
    const r = $("plot").getBoundingClientRect(), sx = e.clientX - r.left, sy = e.clientY - r.top;
    let best = -1, bestD = 36;
    for (let i = 0; i < this.projected.length / 2; i++) {
      const d = (this.projected[2 * i] - sx) ** 2 + (this.projected[2 * i + 1] - sy) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    const k = this.pane(this.store.get());
    if (best >= 0) selectPaneRows(this.store, this.data, k, [best], modeOf(e));
  }
}
