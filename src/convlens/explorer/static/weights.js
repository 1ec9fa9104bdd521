// A layer's weights at two snapshots side by side (deepViz), on one shared signed colour
// scale (blue < 0 < red). Convolution weights (C_out, C_in, kh, kw) are a grid of kernels,
// one row per output channel and one column per input channel; fully connected weights
// (out, in) are one image.
import { getBinary } from "./api.js";
import { checkpointOf, runOf } from "./store.js";

const $ = (id) => document.getElementById(id);
const MAX_ROWS = 64, MAX_COLS = 32;

function colour(v, top) {
  const t = Math.max(-1, Math.min(1, v / top));
  return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))] : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
}

export class Weights {
  constructor(store) {
    this.store = store;
    this.shown = null;
    this.token = 0;
    for (const [id, key] of [["weights-layer", "layer"], ["weights-a", "a"], ["weights-b", "b"]]) {
      $(id).onchange = (e) => store.dispatch({ type: "weights", patch: { [key]: e.target.value } });
    }
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  pane(state) { return Math.min(state.focus, state.panes.length - 1); }

  // The choices: the state's, or the active layer and the first and shown snapshots.
  choice(state, run, k) {
    const layers = run.layers.filter((l) => /conv|linear/i.test(l.type)).map((l) => l.name);
    const all = (run.all_checkpoints || run.checkpoints).map((c) => c.name);
    const active = state.panes[k].layer, ck = checkpointOf(state, k);
    const layer = layers.includes(state.weights.layer) ? state.weights.layer : layers.includes(active) ? active : layers[0];
    const a = all.includes(state.weights.a) ? state.weights.a : all[0];
    const b = all.includes(state.weights.b) ? state.weights.b : ck ? ck.name : all[all.length - 1];
    return { layers, all, layer, a, b };
  }

  render(state) {
    if (!state.panes.length) return;
    const k = this.pane(state), run = runOf(state, k);
    if (!run || !run.ready) return;
    const { layers, all, layer, a, b } = this.choice(state, run, k);
    const fill = (id, names, value, label = (n) => n) => {
      const sel = $(id);
      if (sel.options.length !== names.length || [...sel.options].some((o, i) => o.value !== names[i])) sel.replaceChildren(...names.map((n) => new Option(label(n), n)));
      if (value) sel.value = value;
    };
    const steps = new Map((run.all_checkpoints || []).map((c) => [c.name, c.step]));
    fill("weights-layer", layers, layer);
    fill("weights-a", all, a, (n) => `${n} (step ${steps.get(n)})`);
    fill("weights-b", all, b, (n) => `${n} (step ${steps.get(n)})`);
    if (state.tab !== "weights") return;
    const key = `${state.panes[k].rid}|${layer}|${a}|${b}`;
    if (key === this.shown) return;
    this.shown = key;
    this.load(state.panes[k].rid, layer, [a, b]);
  }

  async load(rid, layer, names) {
    const token = ++this.token;
    if (!layer) { $("weights-info").textContent = "no layer with weights was probed"; return; }
    try {
      const ms = await Promise.all(names.map((c) => getBinary(
        `/api/runs/${rid}/layers/${encodeURIComponent(layer)}/weights.bin?checkpoint=${encodeURIComponent(c)}`)));
      if (token !== this.token) return;
      let top = 1e-12;
      for (const m of ms) for (const v of m.arrays.weights.data) top = Math.max(top, Math.abs(v));
      const figs = ms.map((m, i) => {
        const fig = document.createElement("figure"), cap = document.createElement("figcaption");
        cap.textContent = names[i];
        fig.append(this.canvas(m.arrays.weights, top), cap);
        return fig;
      });
      $("weights-pair").replaceChildren(...figs);
      const shape = ms[0].arrays.weights.shape, wa = ms[0].arrays.weights.data, wb = ms[1].arrays.weights.data;
      let diff = 0;
      for (let i = 0; i < wa.length; i++) diff += (wa[i] - wb[i]) ** 2;
      $("weights-info").textContent = `${layer} weights ${shape.join("×")} · shared scale ±${top.toPrecision(3)} · ` +
        `change ‖Δw‖ = ${Math.sqrt(diff).toPrecision(3)}` +
        (shape.length === 4 && (shape[0] > MAX_ROWS || shape[1] > MAX_COLS) ? ` · first ${MAX_ROWS}×${MAX_COLS} kernels shown` : "");
      this.last = { layer, names, shape };
    } catch (err) {
      if (token === this.token) $("weights-info").textContent = `error: ${err.message}`;
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
      for (let i = 0; i < out * inp; i++) {
        const [r, g, b] = colour(d[i], top);
        img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }
    const zoom = Math.max(1, Math.floor(170 / Math.max(c.width, 1))), width = Math.min(170, c.width * zoom);
    c.style.width = `${width}px`;
    c.style.height = `${Math.max(40, (c.height * width) / c.width)}px`;
    c.style.imageRendering = "pixelated";
    return c;
  }
}
