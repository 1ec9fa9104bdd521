// Weight and gradient distributions over time: percentile bands (overlaid across runs or
// one chart per run) and a histogram ridgeline (rows = times, runs overlaid on common bins).

import { getBinary } from "./api.js";
import { Chart, formatNumber, niceTicks } from "./plot.js";

// Pairs of percentile levels drawn as bands, outermost first, with their opacity.
const BAND_PAIRS = [[0, 100, 0.1], [1, 99, 0.12], [5, 95, 0.16], [25, 75, 0.28]];

export class Distributions {
  constructor(container, state) {
    this.container = container;
    this.state = state;
    this.view = "bands";
    this.kind = "weight";
    this.param = null;
    this.overlay = true;
    this.charts = [];
  }

  params() {
    const all = [];
    for (const r of this.state.runs) for (const p of r.params) if (!all.includes(p)) all.push(p);
    return all;
  }

  visibleRuns() { return this.state.runs.filter((r) => !this.state.hidden.has(r.id) && r.params.includes(this.param)); }

  async load() {
    if (!this.param) return;
    const token = (this.token = (this.token || 0) + 1);
    const runs = this.visibleRuns();
    if (this.view === "ridgeline") {
      const msg = runs.length ? await getBinary("ridgeline.bin", {
        runs: runs.map((r) => r.id).join(","), param: this.param, kind: this.kind, rows: 14, bins: 80,
      }) : null;
      if (token === this.token) this.drawRidgeline(runs, msg);
      return;
    }
    const msgs = await Promise.all(runs.map((r) => getBinary(`runs/${r.id}/bands.bin`, {
      param: this.param, kind: this.kind, rows: 1000,
    })));
    if (token === this.token) this.drawBands(runs, msgs);
  }

  clear() {
    this.container.replaceChildren();
    this.charts = [];
  }

  drawBands(runs, msgs) {
    this.clear();
    const layersOf = (run, msg) => {
      const { step, levels, percentiles, mean } = msg.arrays;
      const P = levels.length, T = step.length, color = this.state.color(run.id);
      const col = (level) => {
        const j = Array.from(levels).indexOf(level);
        if (j < 0) return null;
        const out = new Float32Array(T);
        for (let t = 0; t < T; t++) out[t] = percentiles[t * P + j];
        return out;
      };
      const layers = [];
      for (const [a, b, alpha] of BAND_PAIRS) {
        const lo = col(a), hi = col(b);
        if (lo && hi) layers.push({ type: "band", x: step, lo, hi, color, alpha });
      }
      const median = col(50);
      if (median) layers.push({ type: "line", x: step, y: median, color, width: 1.8, label: `${run.label} median` });
      void mean;
      return layers;
    };
    const what = `${this.param} ${this.kind === "grad" ? "gradient" : "weight"}`;
    const note = "bands: min–max, 1–99, 5–95, 25–75 percentiles; line: median";
    if (this.overlay) {
      const chart = new Chart(this.container, { title: `${what} · all runs`, height: 240, note });
      chart.set(runs.flatMap((r, i) => layersOf(r, msgs[i])), { ignoreOutliers: false });
      this.charts.push(chart);
    } else {
      runs.forEach((r, i) => {
        const chart = new Chart(this.container, { title: `${what} · ${r.label}`, height: 200, note });
        chart.set(layersOf(r, msgs[i]), { ignoreOutliers: false });
        this.charts.push(chart);
      });
    }
    this.state.markDistributions(runs, msgs);
  }

  drawRidgeline(runs, msg) {
    this.clear();
    const wrap = document.createElement("div");
    wrap.className = "chart";
    const head = document.createElement("div");
    head.className = "chart-title";
    head.textContent = `${this.param} ${this.kind === "grad" ? "gradient" : "weight"} histograms over time`;
    const canvas = document.createElement("canvas");
    wrap.append(head, canvas);
    this.container.appendChild(wrap);
    if (!msg) return;
    const { edges, targets, steps, density } = msg.arrays;
    const R = runs.length, K = targets.length, B = edges.length - 1;
    const gap = 26, top = 34, m = { left: 76, right: 12, bottom: 24 };
    const h = top + gap * K + m.bottom;
    const w = Math.max(300, wrap.clientWidth - 16);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = w * dpr; canvas.height = h * dpr;
    canvas.style.width = `${w}px`; canvas.style.height = `${h}px`;
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const x0 = edges[0], x1 = edges[B], pw = w - m.left - m.right;
    const X = (v) => m.left + ((v - x0) / (x1 - x0)) * pw;
    g.font = "11px system-ui, sans-serif";
    g.strokeStyle = "#2b2f35"; g.fillStyle = "#8d939b"; g.textAlign = "center"; g.textBaseline = "top";
    for (const t of niceTicks(x0, x1, Math.floor(pw / 90))) {
      const x = Math.round(X(t)) + 0.5;
      g.beginPath(); g.moveTo(x, top - 28); g.lineTo(x, h - m.bottom); g.stroke();
      g.fillText(formatNumber(t), x, h - m.bottom + 4);
    }
    const at = (r, k, b) => density[(r * K + k) * B + b];
    for (let k = 0; k < K; k++) {
      const base = top + gap * (k + 1);
      let peak = 0;
      for (let r = 0; r < R; r++) for (let b = 0; b < B; b++) peak = Math.max(peak, at(r, k, b));
      g.fillStyle = "#8d939b"; g.textAlign = "right"; g.textBaseline = "middle";
      g.fillText(`step ${targets[k]}`, m.left - 6, base - 4);
      for (let r = 0; r < R; r++) {
        if (steps[r * K + k] < 0 || peak <= 0) continue;
        const color = this.state.color(runs[r].id);
        g.beginPath(); g.moveTo(X(edges[0]), base);
        for (let b = 0; b < B; b++) {
          const y = base - (at(r, k, b) / peak) * gap * 1.5;
          g.lineTo(X(edges[b]), y); g.lineTo(X(edges[b + 1]), y);
        }
        g.lineTo(X(edges[B]), base); g.closePath();
        g.globalAlpha = 0.28; g.fillStyle = color; g.fill();
        g.globalAlpha = 0.95; g.strokeStyle = color; g.lineWidth = 1.2; g.stroke();
        g.globalAlpha = 1;
      }
    }
    this.state.markDistributions(runs, [msg]);
  }
}
