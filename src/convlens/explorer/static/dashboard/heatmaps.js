// Weight heatmaps over time: one parameter at several checkpoints, a row per run, in a
// diverging colour map (blue negative, light zero, red positive). Each run has its own
// scale by default: one shared scale lets a run with huge weights (a too-large learning
// rate) blank out the kernels of a good run, so the shared scale is a switch, and a row
// that it washes out says so.

import { getBinary } from "./api.js";
import { formatNumber } from "./plot.js";

const NEG = [59, 76, 192], MID = [236, 236, 236], POS = [180, 4, 38], GAP = [21, 23, 26];

export function diverging(v, scale) {
  if (!Number.isFinite(v)) return GAP;
  const t = Math.max(-1, Math.min(1, v / scale));
  const end = t < 0 ? NEG : POS, a = Math.abs(t);
  return [0, 1, 2].map((i) => Math.round(MID[i] + (end[i] - MID[i]) * a));
}

export class Heatmaps {
  constructor(container, state) {
    this.container = container;
    this.state = state;
    this.param = null;
    this.shared = false;
    this.snapshots = 8;
  }

  async load() {
    if (!this.param) return;
    const token = (this.token = (this.token || 0) + 1);
    const runs = this.state.runs.filter((r) => !this.state.hidden.has(r.id) && r.checkpoints.length);
    const results = await Promise.all(runs.map((r) => getBinary(`runs/${r.id}/heatmaps.bin`, {
      param: this.param, snapshots: this.snapshots, side: 160,
    }).catch((err) => ({ error: err.message }))));
    if (token === this.token) this.draw(runs, results);
  }

  draw(runs, results) {
    this.container.replaceChildren();
    const ok = results.filter((m) => !m.error);
    const sharedScale = Math.max(1e-12, ...ok.map((m) => m.header.scale));
    const used = [];
    runs.forEach((run, i) => {
      const msg = results[i];
      const row = document.createElement("div");
      row.className = "heat-row";
      const label = document.createElement("div");
      label.className = "heat-label";
      label.innerHTML = `<span class="swatch" style="background:${this.state.color(run.id)}"></span>${run.label}`;
      row.appendChild(label);
      if (msg.error) {
        const err = document.createElement("span");
        err.className = "muted";
        err.textContent = msg.error;
        row.appendChild(err);
        this.container.appendChild(row);
        return;
      }
      const own = Math.max(1e-12, msg.header.scale), scale = this.shared ? sharedScale : own;
      used.push(scale);
      const [S, H, W] = msg.arrays.images.shape;
      const zoom = Math.max(1, Math.min(8, Math.floor(96 / Math.max(H, W / 1.6))));
      for (let s = 0; s < S; s++) {
        const fig = document.createElement("figure");
        const canvas = document.createElement("canvas");
        canvas.width = W; canvas.height = H;
        canvas.style.width = `${W * zoom}px`; canvas.style.height = `${H * zoom}px`;
        const g = canvas.getContext("2d");
        const img = g.createImageData(W, H);
        const base = s * H * W;
        for (let p = 0; p < H * W; p++) {
          const [r, gg, b] = diverging(msg.arrays.images[base + p], scale);
          img.data[4 * p] = r; img.data[4 * p + 1] = gg; img.data[4 * p + 2] = b; img.data[4 * p + 3] = 255;
        }
        g.putImageData(img, 0, 0);
        const cap = document.createElement("figcaption");
        cap.textContent = `step ${msg.arrays.steps[s]}`;
        fig.append(canvas, cap);
        row.appendChild(fig);
      }
      const info = document.createElement("div");
      info.className = "heat-info";
      const f = msg.header.factor;
      info.textContent = `±${formatNumber(scale)}${this.shared ? " (shared)" : " (this run)"} · shape ${msg.header.shape.join("×")}${f > 1 ? ` · ${f}×${f} block means` : ""}`;
      if (this.shared && own < scale / 10) {
        info.textContent += ` · this run's weights reach only ±${formatNumber(own)} (${Math.round((100 * own) / scale)}% of the shared scale), so its kernels look blank: untick "one colour scale"`;
        info.classList.add("warn");
      }
      row.appendChild(info);
      this.container.appendChild(row);
    });
    this.state.markHeatmaps(runs, results, used);
  }
}
