// The overview (focus + context, seed 004 §3.4): the whole D x D matrix of the focused pane's
// layer, whatever D, with the viewport box (a crosshair when the box would be tiny).
// Up to POINTS_MAX_DIMS dimensions it shows a sample of every cell's points; above, a heat
// map of the pair ranking's screening score (guide.py), so a 500-dim layer is one picture
// of where the structure is. Dragging or clicking centres the view there; the wheel zooms.
import { PALETTE } from "./gl.js";
import { paneGeometry, viewport } from "./geometry.js";
import { jitter } from "./points.js";
import { dimsOf } from "./store.js";

export const SIZE = 200, POINTS_MAX_DIMS = 32;
const DRAW_POINTS = 120_000;   // points drawn over the whole overview in points mode
const QUIET = new Set(["hover", "tab", "mapsZoom", "sortRanking", "channel", "click", "notice", "interact", "refine"]);

export class Overview {
  constructor(canvas, info, store, data) {
    this.canvas = canvas;
    this.info = info;
    this.store = store;
    this.data = data;
    this.base = null;        // the cached picture (ImageData) and what it shows
    this.baseKey = null;
    this.last = null;        // what the last render showed (the test hook reads it)
    this.bind();
    store.subscribe((state, prev, action) => { if (!QUIET.has(action.type)) this.render(state); });
  }

  pane(state) { return Math.min(state.focus, state.panes.length - 1); }

  render(state) {
    const k = this.pane(state), p = state.panes[k], ctx = this.canvas.getContext("2d");
    const cloud = p.data.status === "ready" ? this.data.cloudOf(state, k) : null;
    if (!cloud) {
      ctx.fillStyle = "#0d0e10"; ctx.fillRect(0, 0, SIZE, SIZE);
      this.info.textContent = p.data.message || "";
      this.last = { dims: 0, mode: "none" };
      this.baseKey = null;
      return;
    }
    const dims = dimsOf(state, k);
    const mode = state.view.overview === "auto" ? (dims <= POINTS_MAX_DIMS ? "points" : "score") : state.view.overview;
    let note = "";
    const key = `${p.data.key}|${mode}|${state.view.sharedScale}|${mode === "points" ? state.selection.version : ""}`;
    if (this.baseKey !== key) {
      if (mode === "points") { this.base = this.pointsImage(state, k, cloud, dims); this.baseKey = key; } else {
        const ranking = this.data.ranking(state, k);
        if (ranking.value) { this.base = heatImage(ranking.value, dims); this.baseKey = key; } else {
          this.base = null;
          note = ranking.error ? `ranking failed: ${ranking.error}` : "ranking the pairs…";
        }
      }
    }
    if (this.base) ctx.putImageData(this.base, 0, 0);
    else { ctx.fillStyle = "#0d0e10"; ctx.fillRect(0, 0, SIZE, SIZE); }
    const mark = this.drawBox(ctx, state, k, dims);
    this.info.textContent = note || (mode === "score"
      ? `all ${dims} × ${dims} dims · colour: class separation of each pair (bright = more)`
      : `all ${dims} × ${dims} dims · a sample of each cell's points`);
    this.last = { dims, span: [0, dims], mode, mark: mark.kind, box: mark.box, heat: mode === "score" && !!this.base, layer: p.layer, pane: k };
  }

  pointsImage(state, k, cloud, dims) {
    const img = new ImageData(SIZE, SIZE), px = img.data, cs = SIZE / dims;
    for (let i = 0; i < px.length; i += 4) { px[i] = 13; px[i + 1] = 14; px[i + 2] = 16; px[i + 3] = 255; }
    const labels = this.data.labelsOf(state, k), sel = state.selection.rows.length > 0;
    const perCell = Math.max(1, Math.min(cloud.count, Math.floor(DRAW_POINTS / (dims * dims))));
    const step = Math.max(1, Math.floor(cloud.count / perCell)), P = cloud.positions;
    const selected = new Set(sel ? Array.from(state.selection.rows) : []);
    const plot = (x, y, c, alpha) => {
      const o = 4 * (Math.floor(y) * SIZE + Math.floor(x));
      for (let t = 0; t < 3; t++) px[o + t] = Math.round(px[o + t] * (1 - alpha) + c[t] * 255 * alpha);
    };
    for (let i = 0; i < dims; i++) {
      for (let j = 0; j < dims; j++) {
        for (let p = 0; p < cloud.count; p += step) {
          const row = Math.floor(p / P), on = !sel || selected.has(row);
          const tx = cloud.tAt(j, p), ty = i === j ? jitter(p) : cloud.tAt(i, p);
          const x = j * cs + Math.min(0.999, Math.max(0, tx)) * cs, y = i * cs + (1 - Math.min(0.999, Math.max(0, ty))) * cs;
          const lab = labels ? labels.labels[row] : -1;
          plot(Math.min(SIZE - 1, x), Math.min(SIZE - 1, y), lab >= 0 ? PALETTE[lab % PALETTE.length] : [0.75, 0.75, 0.75], on ? 0.55 : 0.08);
        }
      }
    }
    return img;
  }

  drawBox(ctx, state, k, dims) {
    const G = paneGeometry(state, k), per = SIZE / dims;
    let box;
    if (G.single) box = [0, 0, dims, dims];
    else {
      const [x0, y0, x1, y1] = viewport(G);
      const clip = (v) => Math.max(0, Math.min(G.g, v));
      box = [G.colStart + clip(x0), G.rowStart + clip(y0), G.colStart + clip(x1), G.rowStart + clip(y1)];
    }
    ctx.strokeStyle = "#ffd000";
    ctx.lineWidth = 1.5;
    const [bx0, by0, bx1, by1] = box.map((v) => v * per);
    if (bx1 - bx0 < 6 || by1 - by0 < 6) {   // too small to see: a crosshair on the centre
      const cx = (bx0 + bx1) / 2, cy = (by0 + by1) / 2;
      ctx.beginPath(); ctx.moveTo(cx, 0); ctx.lineTo(cx, SIZE); ctx.moveTo(0, cy); ctx.lineTo(SIZE, cy); ctx.stroke();
      return { kind: "crosshair", box };
    }
    ctx.strokeRect(bx0, by0, bx1 - bx0, by1 - by0);
    return { kind: "box", box };
  }

  bind() {
    const c = this.canvas;
    const moveTo = (e) => {
      const state = this.store.get(), k = this.pane(state), dims = dimsOf(state, k);
      if (!dims) return;
      const r = c.getBoundingClientRect(), per = r.width / dims;
      const x = (e.clientX - r.left) / per, y = (e.clientY - r.top) / per;
      this.store.dispatch({ type: "centre", pane: k, x, y });
    };
    c.addEventListener("mousedown", (e) => {
      moveTo(e);
      const move = (ev) => moveTo(ev);
      const up = () => { window.removeEventListener("mousemove", move); window.removeEventListener("mouseup", up); };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const state = this.store.get(), k = this.pane(state), nav = state.panes[k].nav;
      this.store.dispatch({ type: "navigate", pane: k, nav: { zoom: Math.max(0.05, nav.zoom * Math.exp(-e.deltaY * 0.0015)) } });
    }, { passive: false });
  }
}

// The ranking's screening score (D, D) as a heat map over the whole overview.
function heatImage(message, dims) {
  const screen = message.arrays.screen.data, img = new ImageData(SIZE, SIZE), px = img.data;
  let top = 0;
  for (const v of screen) if (Number.isFinite(v) && v > top) top = v;
  for (let y = 0; y < SIZE; y++) {
    const i = Math.min(dims - 1, Math.floor((y * dims) / SIZE));
    for (let x = 0; x < SIZE; x++) {
      const j = Math.min(dims - 1, Math.floor((x * dims) / SIZE)), v = screen[i * dims + j], o = 4 * (y * SIZE + x);
      const [r, g, b] = Number.isFinite(v) ? heat(top > 0 ? Math.max(0, v) / top : 0) : [40, 40, 44];
      px[o] = r; px[o + 1] = g; px[o + 2] = b; px[o + 3] = 255;
    }
  }
  return img;
}

// Dark blue to yellow (perceptually ordered, like viridis' ends).
export function heat(t) {
  const stops = [[13, 8, 50], [59, 28, 140], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f));
}
