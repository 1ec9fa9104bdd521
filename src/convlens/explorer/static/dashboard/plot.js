// A small canvas-2D chart: lines and filled bands over a numeric x axis, with nice
// ticks, drag-to-zoom on x (double-click resets) and a hover read-out.

export function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

export function formatNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return +v.toPrecision(4) + "";
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

export class Chart {
  // layers: [{type: "line", x, y, color, alpha, width} | {type: "band", x, lo, hi, color, alpha}]
  constructor(parent, { title = "", height = 200, onZoom = null, note = "" } = {}) {
    this.root = document.createElement("div");
    this.root.className = "chart";
    this.head = document.createElement("div");
    this.head.className = "chart-title";
    this.head.textContent = title;
    this.noteEl = document.createElement("span");
    this.noteEl.className = "chart-note";
    this.noteEl.textContent = note;
    this.head.appendChild(this.noteEl);
    this.canvas = document.createElement("canvas");
    this.canvas.style.height = `${height}px`;
    this.tip = document.createElement("div");
    this.tip.className = "chart-tip";
    this.root.append(this.head, this.canvas, this.tip);
    parent.appendChild(this.root);
    this.height = height;
    this.layers = [];
    this.xRange = null;
    this.ignoreOutliers = true;
    this.logY = false;
    this.onZoom = onZoom;
    this.margin = { left: 54, right: 10, top: 8, bottom: 22 };
    this.drag = null;
    this.installEvents();
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  set(layers, opts = {}) {
    this.layers = layers;
    Object.assign(this, opts);
    this.draw();
  }

  note(text) { this.noteEl.textContent = text; }

  width() { return Math.max(100, Math.round(this.canvas.clientWidth || 400)); }

  extents() {
    let x0 = Infinity, x1 = -Infinity;
    for (const l of this.layers) {
      const n = l.x.length;
      if (n) { x0 = Math.min(x0, l.x[0]); x1 = Math.max(x1, l.x[n - 1]); }
    }
    if (this.xRange) [x0, x1] = this.xRange;
    if (!(x1 > x0)) { x0 = Number.isFinite(x0) ? x0 - 1 : 0; x1 = Number.isFinite(x1) ? x1 + 1 : 1; }
    const ys = [];
    for (const l of this.layers) {
      const arrays = l.type === "band" ? [l.lo, l.hi] : [l.y];
      for (const a of arrays) {
        for (let i = 0; i < l.x.length; i++) {
          const v = this.ty(a[i]);
          if (l.x[i] >= x0 && l.x[i] <= x1 && Number.isFinite(v)) ys.push(v);
        }
      }
    }
    ys.sort((a, b) => a - b);
    let y0 = ys.length ? ys[0] : 0, y1 = ys.length ? ys[ys.length - 1] : 1;
    if (this.ignoreOutliers && ys.length > 50) { y0 = quantile(ys, 0.002); y1 = quantile(ys, 0.998); }
    if (this.yRange) [y0, y1] = this.yRange;
    if (!(y1 > y0)) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.04;
    return { x0, x1, y0: y0 - pad, y1: y1 + pad };
  }

  // The drawn y of a value: log10 on a log axis (non-positive values are not drawn).
  ty(v) { return this.logY ? (v > 0 ? Math.log10(v) : NaN) : v; }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const w = this.width(), h = this.height;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const m = this.margin, e = this.extents();
    this.e = e;
    const pw = w - m.left - m.right, ph = h - m.top - m.bottom;
    const X = (x) => m.left + ((x - e.x0) / (e.x1 - e.x0)) * pw;
    const Y = (y) => m.top + (1 - (this.ty(y) - e.y0) / (e.y1 - e.y0)) * ph;
    const Yt = (t) => m.top + (1 - (t - e.y0) / (e.y1 - e.y0)) * ph;
    this.X = X; this.Y = Y;
    g.font = "11px system-ui, sans-serif";
    g.strokeStyle = "#2b2f35"; g.fillStyle = "#8d939b"; g.lineWidth = 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const t of niceTicks(e.y0, e.y1, Math.max(2, Math.floor(ph / 40)))) {
      const y = Math.round(Yt(t)) + 0.5;
      g.beginPath(); g.moveTo(m.left, y); g.lineTo(w - m.right, y); g.stroke();
      g.fillText(formatNumber(this.logY ? 10 ** t : t), m.left - 4, y);
    }
    g.textAlign = "center"; g.textBaseline = "top";
    for (const t of niceTicks(e.x0, e.x1, Math.max(2, Math.floor(pw / 90)))) {
      const x = Math.round(X(t)) + 0.5;
      g.beginPath(); g.moveTo(x, m.top); g.lineTo(x, h - m.bottom); g.stroke();
      g.fillText(formatNumber(t), x, h - m.bottom + 4);
    }
    g.save();
    g.beginPath(); g.rect(m.left, m.top, pw, ph); g.clip();
    for (const l of this.layers) {
      g.globalAlpha = l.alpha ?? 1;
      if (l.type === "band") {
        g.fillStyle = l.color;
        g.beginPath();
        let open = false;
        const n = l.x.length;
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(this.ty(l.hi[i]))) continue;
          if (!open) { g.moveTo(X(l.x[i]), Y(l.hi[i])); open = true; } else g.lineTo(X(l.x[i]), Y(l.hi[i]));
        }
        for (let i = n - 1; i >= 0; i--) if (Number.isFinite(this.ty(l.lo[i]))) g.lineTo(X(l.x[i]), Y(l.lo[i]));
        g.closePath(); g.fill();
      } else {
        g.strokeStyle = l.color; g.lineWidth = l.width ?? 1.5; g.lineJoin = "round";
        g.beginPath();
        let pen = false;
        for (let i = 0; i < l.x.length; i++) {
          const v = l.y[i];
          if (!Number.isFinite(this.ty(v))) { pen = false; continue; }
          const px = X(l.x[i]), py = Y(v);
          if (pen) g.lineTo(px, py); else { g.moveTo(px, py); pen = true; }
        }
        if (l.x.length === 1) { g.fillStyle = l.color; g.fillRect(X(l.x[0]) - 1.5, Y(l.y[0]) - 1.5, 3, 3); }
        g.stroke();
      }
    }
    g.restore();
    g.globalAlpha = 1;
    if (this.drag && this.drag.x1 !== undefined) {
      g.fillStyle = "rgba(120,160,220,0.18)";
      const a = Math.min(this.drag.x0, this.drag.x1), b = Math.max(this.drag.x0, this.drag.x1);
      g.fillRect(a, m.top, b - a, ph);
    }
  }

  installEvents() {
    const c = this.canvas;
    const px = (ev) => ev.clientX - c.getBoundingClientRect().left;
    const toX = (p) => this.e.x0 + ((p - this.margin.left) / (this.width() - this.margin.left - this.margin.right)) * (this.e.x1 - this.e.x0);
    c.addEventListener("mousedown", (ev) => { this.drag = { x0: px(ev) }; });
    c.addEventListener("mousemove", (ev) => {
      if (this.drag) { this.drag.x1 = px(ev); this.draw(); }
      this.hover(px(ev), toX(px(ev)));
    });
    c.addEventListener("mouseleave", () => { this.tip.style.display = "none"; });
    window.addEventListener("mouseup", (ev) => {
      if (!this.drag) return;
      const d = this.drag; this.drag = null;
      if (d.x1 !== undefined && Math.abs(d.x1 - d.x0) > 4 && this.onZoom) {
        const a = toX(Math.min(d.x0, d.x1)), b = toX(Math.max(d.x0, d.x1));
        this.onZoom([a, b]);
      } else this.draw();
      void ev;
    });
    c.addEventListener("dblclick", () => { if (this.onZoom) this.onZoom(null); });
  }

  hover(p, x) {
    const lines = this.layers.filter((l) => l.type === "line" && l.label && l.x.length);
    if (!lines.length || !this.e) { this.tip.style.display = "none"; return; }
    const rows = [];
    for (const l of lines) {
      let lo = 0, hi = l.x.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (l.x[mid] < x) lo = mid + 1; else hi = mid; }
      const i = lo > 0 && Math.abs(l.x[lo - 1] - x) < Math.abs(l.x[lo] - x) ? lo - 1 : lo;
      rows.push(`<span style="color:${l.color}">■</span> ${l.label}: ${formatNumber(l.y[i])} <small>@${l.x[i]}</small>`);
    }
    this.tip.innerHTML = rows.join("<br>");
    this.tip.style.display = "block";
    this.tip.style.left = `${Math.min(p + 12, this.width() - 160)}px`;
  }
}
