// A layer's weights at two snapshots side by side (deepViz), on one shared signed colour
// scale (blue < 0 < red). Convolution weights (C_out, C_in, kh, kw) are a grid of kernels,
// one row per output channel and one column per input channel; fully connected weights
// (out, in) are one image.
import { getBinary } from "./api.js";

const $ = (id) => document.getElementById(id);
const MAX_ROWS = 64, MAX_COLS = 32;

function colour(v, top) {
  const t = Math.max(-1, Math.min(1, v / top));
  return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))] : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
}

export class Weights {
  constructor(app) { this.app = app; this.token = 0; }

  get pane() { return this.app.panes[this.app.focus] || this.app.panes[0]; }

  build() {
    const pane = this.pane, run = pane.run;
    const layers = run.layers.filter((l) => /conv|linear/i.test(l.type)).map((l) => l.name);
    $("weights-layer").replaceChildren(...layers.map((n) => new Option(n, n)));
    const all = run.all_checkpoints || run.checkpoints;
    for (const id of ["weights-a", "weights-b"]) $(id).replaceChildren(...all.map((c) => new Option(`${c.name} (step ${c.step})`, c.name)));
    $("weights-a").value = all[0].name;
    $("weights-b").value = pane.checkpoint;
    for (const id of ["weights-layer", "weights-a", "weights-b"]) $(id).onchange = () => this.load();
  }

  layerChanged() {
    const sel = $("weights-layer");
    if ([...sel.options].some((o) => o.value === this.app.layer)) { sel.value = this.app.layer; if (this.app.panels.tab === "weights") this.load(); }
  }

  snapshotChanged() {
    $("weights-b").value = this.pane.checkpoint;
    if (this.app.panels.tab === "weights") this.load();
  }

  async load() {
    const pane = this.pane, layer = $("weights-layer").value, token = ++this.token;
    if (!layer) { $("weights-info").textContent = "no layer with weights was probed"; return; }
    const names = [$("weights-a").value, $("weights-b").value];
    try {
      const ms = await Promise.all(names.map((c) => getBinary(
        `/api/runs/${pane.rid}/layers/${encodeURIComponent(layer)}/weights.bin?checkpoint=${encodeURIComponent(c)}`)));
      if (token !== this.token) return;
      let top = 1e-12;
      for (const m of ms) for (const v of m.arrays.weights.data) top = Math.max(top, Math.abs(v));
      const figs = ms.map((m, k) => {
        const fig = document.createElement("figure");
        const cap = document.createElement("figcaption");
        cap.textContent = names[k];
        fig.append(this.canvas(m.arrays.weights, top), cap);
        return fig;
      });
      $("weights-pair").replaceChildren(...figs);
      const shape = ms[0].arrays.weights.shape;
      let diff = 0;
      const a = ms[0].arrays.weights.data, b = ms[1].arrays.weights.data;
      for (let i = 0; i < a.length; i++) diff += (a[i] - b[i]) ** 2;
      $("weights-info").textContent = `${layer} weights ${shape.join("×")} · shared scale ±${top.toPrecision(3)} · ` +
        `change ‖Δw‖ = ${Math.sqrt(diff).toPrecision(3)}` +
        (shape.length === 4 && (shape[0] > MAX_ROWS || shape[1] > MAX_COLS) ? ` · first ${MAX_ROWS}×${MAX_COLS} kernels shown` : "");
      this.last = { layer, names, shape };
    } catch (err) {
      $("weights-info").textContent = `error: ${err.message}`;
    }
  }

  canvas(w, top) {
    const c = document.createElement("canvas"), s = w.shape, d = w.data;
    let img;
    if (s.length === 4) {
      const [co, ci, kh, kw] = s, rows = Math.min(co, MAX_ROWS), cols = Math.min(ci, MAX_COLS);
      c.width = cols * (kw + 1); c.height = rows * (kh + 1);
      const ctx = c.getContext("2d");
      img = ctx.createImageData(c.width, c.height);
      img.data.fill(30);
      for (let o = 0; o < rows; o++) for (let i = 0; i < cols; i++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
        const v = d[((o * ci + i) * kh + y) * kw + x], [r, g, b] = colour(v, top);
        const p = 4 * ((o * (kh + 1) + y) * c.width + i * (kw + 1) + x);
        img.data[p] = r; img.data[p + 1] = g; img.data[p + 2] = b; img.data[p + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    } else {
      const [out, inp] = s.length === 2 ? s : [1, d.length];
      c.width = inp; c.height = out;
      const ctx = c.getContext("2d");
      img = ctx.createImageData(inp, out);
      for (let k = 0; k < out * inp; k++) {
        const [r, g, b] = colour(d[k], top);
        img.data[4 * k] = r; img.data[4 * k + 1] = g; img.data[4 * k + 2] = b; img.data[4 * k + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }
    const zoom = Math.max(1, Math.floor(170 / Math.max(c.width, 1)));
    const width = Math.min(170, c.width * zoom);
    c.style.width = `${width}px`;
    c.style.height = `${Math.max(40, (c.height * width) / c.width)}px`;
    c.style.imageRendering = "pixelated";
    return c;
  }
}
