// Scalar curves (loss, accuracy, ...): one chart per tag, every run overlaid; the raw
// curve faint, the debiased-EMA curve on top. Points come min/max-downsampled to one
// bucket per pixel column; live updates append the points logged since the last one.

import { getBinary } from "./api.js";
import { Chart } from "./plot.js";

const TAG_ORDER = ["train/loss", "val/loss", "train/acc", "val/acc"];
export const HIDDEN_TAGS = new Set(["epoch"]);

function concat(Kind, a, b) {
  const out = new Kind(a.length + b.length);
  out.set(a); out.set(b, a.length);
  return out;
}

export class Curves {
  constructor(container, state) {
    this.container = container;
    this.state = state;
    this.charts = new Map(); // tag -> Chart
    this.data = new Map(); // "rid|tag" -> curve
    this.xRange = null;
  }

  tags() {
    const all = new Set();
    for (const r of this.state.runs) for (const t of r.tags) if (!HIDDEN_TAGS.has(t)) all.add(t);
    const rank = (t) => (TAG_ORDER.includes(t) ? TAG_ORDER.indexOf(t) : 99);
    return [...all].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }

  ensureCharts() {
    for (const tag of this.tags()) {
      if (this.charts.has(tag)) continue;
      const chart = new Chart(this.container, { title: tag, onZoom: (r) => this.zoom(r) });
      chart.root.dataset.tag = tag;
      this.charts.set(tag, chart);
    }
  }

  async fetchFull(rid, tag) {
    const chart = this.charts.get(tag);
    const { header, arrays } = await getBinary(`runs/${rid}/scalars.bin`, {
      tag, points: Math.min(20000, Math.max(16, chart.width())), smooth: this.state.smooth,
      start: this.xRange ? Math.floor(this.xRange[0]) : null,
      end: this.xRange ? Math.ceil(this.xRange[1]) : null,
    });
    this.data.set(`${rid}|${tag}`, {
      ...arrays, last: header.last_step, count: header.count, buckets: header.buckets,
      inRange: header.in_range, tail: 0,
    });
  }

  async loadAll() {
    this.ensureCharts();
    const jobs = [];
    for (const r of this.state.runs) for (const t of r.tags) if (!HIDDEN_TAGS.has(t)) jobs.push(this.fetchFull(r.id, t));
    await Promise.all(jobs);
    for (const tag of this.charts.keys()) this.draw(tag);
  }

  // Follow run ``run`` (its fresh description): fetch what was logged since the last point.
  async update(run) {
    this.ensureCharts();
    const changed = new Set();
    await Promise.all(run.tags.filter((t) => !HIDDEN_TAGS.has(t)).map(async (tag) => {
      const key = `${run.id}|${tag}`;
      const d = this.data.get(key);
      if (!d) { await this.fetchFull(run.id, tag); changed.add(tag); return; }
      if (run.last_step === null || (d.last !== null && run.last_step <= d.last)) return;
      if (this.xRange && d.last !== null && d.last > this.xRange[1]) return;
      const { header, arrays } = await getBinary(`runs/${run.id}/scalars.bin`, {
        tag, smooth: this.state.smooth, since_step: d.last === null ? -1 : d.last,
      });
      const n = arrays.raw_step.length;
      if (!n) return;
      for (const name of ["raw_step", "smooth_step"]) d[name] = concat(Float64Array, d[name], arrays[name]);
      for (const name of ["raw_value", "smooth_value"]) d[name] = concat(Float32Array, d[name], arrays[name]);
      d.last = header.last_step; d.count = header.count; d.tail += n; d.inRange += n;
      if (d.tail > 2 * this.charts.get(tag).width() && !this.xRange) await this.fetchFull(run.id, tag);
      changed.add(tag);
    }));
    for (const tag of changed) this.draw(tag);
  }

  draw(tag) {
    const chart = this.charts.get(tag);
    const layers = [];
    const notes = [];
    for (const r of this.state.runs) {
      const d = this.data.get(`${r.id}|${tag}`);
      if (!d || this.state.hidden.has(r.id)) continue;
      const color = this.state.color(r.id);
      layers.push({ type: "line", x: d.raw_step, y: d.raw_value, color, alpha: 0.28, width: 1 });
      layers.push({ type: "line", x: d.smooth_step, y: d.smooth_value, color, alpha: 1, width: 1.8, label: r.label });
      notes.push(d.buckets ? `${d.inRange.toLocaleString()} pts → min/max of ${d.buckets} buckets` : `${d.inRange.toLocaleString()} pts`);
    }
    const logY = this.state.logLoss && tag.endsWith("loss");
    chart.set(layers, { xRange: this.xRange, ignoreOutliers: this.state.ignoreOutliers, logY });
    chart.note([...new Set(notes)].join(" · "));
    for (const r of this.state.runs) {
      const d = this.data.get(`${r.id}|${tag}`);
      if (d && d.last !== null && !this.state.hidden.has(r.id)) this.state.markDrawn(r.id, tag, d.last);
    }
  }

  drawAll() { for (const tag of this.charts.keys()) this.draw(tag); }

  async zoom(range) {
    this.xRange = range;
    await this.loadAll();
  }
}
