// The embedding view of one pane: a D x D scatter plot matrix (dimension j on x, i on y; 1-D
// dot plots on the diagonal) or one scatter plot when D <= 2. It draws from the state it is
// given (the pane's layer, window and camera, the view settings) and turns the mouse into
// actions: pan and zoom (navigate), click (select one image), lasso (select images), hover.
//
// Navigation state (store.js): colStart/rowStart/windowSize pick the window of dimensions;
// (cx, cy) is the view centre as a fraction of the window, zoom is relative to "fit".

import { MARGIN_LEFT, MARGIN_TOP, drawAxes, drawMarginTicks } from "./axes.js";
import { selectPaneRows } from "./actions.js";
import { paneGeometry } from "./geometry.js";
import { jitter } from "./points.js";

const PAD = 0.04;
export const INTERACTIVE_BUDGET = { software: 40_000, gpu: 2_000_000 };

export class Matrix {
  constructor(k, dom, renderer, store, data) {
    this.k = k;
    this.dom = dom;
    this.renderer = renderer;
    this.store = store;
    this.data = data;
    this.pad = PAD;
    this.drawn = { all: 0, selected: 0, cells: 0 };
    this.axes = { ticks: [], zero: [] };
    this.lastLasso = null;
    this.lassoPath = null;
    this.hoverMark = null;
    this.bindMouse();
  }

  get size() { return { w: this.dom.overlay.clientWidth, h: this.dom.overlay.clientHeight }; }

  // ------------------------------------------------------------ geometry (from the state)
  geom(state) { return paneGeometry(state, this.k); }
  center(G) { return [MARGIN_LEFT + (G.w - MARGIN_LEFT) / 2, MARGIN_TOP + (G.h - MARGIN_TOP) / 2]; }
  toScreen(G, wx, wy) { const [ox, oy] = this.center(G); return [(wx - G.cx) * G.scale + ox, (wy - G.cy) * G.scale + oy]; }
  toWorld(G, sx, sy) { const [ox, oy] = this.center(G); return [(sx - ox) / G.scale + G.cx, (sy - oy) / G.scale + G.cy]; }

  visibleCells(G) {
    const [x0, y0] = this.toWorld(G, MARGIN_LEFT, MARGIN_TOP), [x1, y1] = this.toWorld(G, G.w, G.h);
    const c0 = Math.max(0, Math.floor(x0)), c1 = Math.min(G.g - 1, Math.floor(x1));
    const r0 = Math.max(0, Math.floor(y0)), r1 = Math.min(G.g - 1, Math.floor(y1));
    return [r0, c0, Math.max(0, r1 - r0 + 1), Math.max(0, c1 - c0 + 1)];
  }
  cellDims(G, i, j) {
    if (G.single) return G.dims === 2 ? [0, 1] : [0, 0];
    return [G.colStart + j, G.rowStart + i];   // [xdim, ydim]
  }
  cellToScreen(G, i, j, tx, ty) {
    return this.toScreen(G, j + PAD + tx * (1 - 2 * PAD), i + PAD + (1 - ty) * (1 - 2 * PAD));
  }
  cellToClient(G, i, j, tx, ty) {
    const [sx, sy] = this.cellToScreen(G, i, j, tx, ty), r = this.dom.overlay.getBoundingClientRect();
    return { x: r.left + sx, y: r.top + sy };
  }
  screenToCell(G, sx, sy, cell) {
    const [wx, wy] = this.toWorld(G, sx, sy);
    const i = cell ? cell[0] : Math.floor(wy), j = cell ? cell[1] : Math.floor(wx);
    if (i < 0 || j < 0 || i >= G.g || j >= G.g) return null;
    const inner = 1 - 2 * PAD;
    return { i, j, tx: (wx - j - PAD) / inner, ty: 1 - (wy - i - PAD) / inner };
  }

  budget(state) {
    if (!state.interactive) return state.view.budget;
    return Math.min(state.view.budget, state.view.software ? INTERACTIVE_BUDGET.software : INTERACTIVE_BUDGET.gpu);
  }

  glView(state, G, budget = this.budget(state)) {
    const dpr = window.devicePixelRatio || 1, [ox, oy] = this.center(G);
    const cx = G.cx - (ox - G.w / 2) / G.scale, cy = G.cy - (oy - G.h / 2) / G.scale;
    return {
      width: this.dom.glCanvas.width, height: this.dom.glCanvas.height,
      cam: [cx, cy, (2 * G.scale) / G.w, (2 * G.scale) / G.h], cells: this.visibleCells(G), budget,
      size: state.view.pointSize * dpr, dpr, pad: PAD, dimStart: [G.rowStart, G.colStart],
      fixed: G.single ? this.cellDims(G, 0, 0) : [-1, -1], alpha: state.view.opacity,
    };
  }

  // ------------------------------------------------------------ drawing
  draw(state, cloud, extras) {
    const G = this.geom(state), view = this.glView(state, G);
    this.G = G;
    this.drawn = this.renderer.draw(view);
    this.drawnBudget = view.budget;
    this.fullBudget = state.view.budget;
    this.drawOverlay(state, cloud, extras);
    return this.drawn;
  }

  clear() {
    this.renderer.clear();
    const ctx = this.dom.overlay.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.dom.overlay.width, this.dom.overlay.height);
    this.drawn = { all: 0, selected: 0, cells: 0 };
    this.axes = { ticks: [], zero: [] };
    this.G = null;
  }

  drawOverlay(state, cloud, extras = {}) {
    const G = this.G || this.geom(state);
    const dpr = window.devicePixelRatio || 1, ctx = this.dom.overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, G.w, G.h);
    if (!cloud) return;
    const cells = this.visibleCells(G), [r0, c0, nr, nc] = cells, px = G.scale;
    if (px >= 5) {
      ctx.strokeStyle = "rgba(255,255,255,0.13)";
      ctx.lineWidth = 1;
      for (let r = r0; r < r0 + nr; r++) {
        for (let c = c0; c < c0 + nc; c++) {
          const [x, y] = this.toScreen(G, c, r);
          ctx.strokeRect(x + 0.5, y + 0.5, px - 1, px - 1);
        }
      }
    }
    const rec = drawAxes(ctx, this, G, cloud, cells);
    if (extras.displacement) extras.displacement(ctx, this, G, cells);
    // margins: dimension numbers and tick values of the outer cells
    ctx.fillStyle = "#15171a";
    ctx.fillRect(0, 0, G.w, MARGIN_TOP);
    ctx.fillRect(0, 0, MARGIN_LEFT, G.h);
    drawMarginTicks(ctx, this, G, cloud, cells, rec);
    this.axes = rec;
    this.drawDimensionLabels(ctx, G, cells);
    if (this.lassoPath && this.lassoPath.length > 1) {
      ctx.strokeStyle = "#ffd000";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      this.lassoPath.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (this.hoverMark) {
      const [x, y] = this.hoverMark;
      ctx.strokeStyle = "white";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(x, y, 6, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  drawDimensionLabels(ctx, G, cells) {
    const [r0, c0, nr, nc] = cells, px = G.scale;
    ctx.fillStyle = "#e4e6e9";
    ctx.font = "bold 11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const every = Math.max(1, Math.ceil(26 / px));
    for (let c = c0; c < c0 + nc; c++) {
      if (!G.single && c % every) continue;
      const [xdim] = this.cellDims(G, 0, c), [x] = this.toScreen(G, c + 0.5, 0);
      if (x < MARGIN_LEFT) continue;
      ctx.fillText(G.single ? `x: dimension ${xdim}` : `d${xdim}`, x, 8);
    }
    for (let r = r0; r < r0 + nr; r++) {
      if (!G.single && r % every) continue;
      const [, ydim] = this.cellDims(G, r, 0), [, y] = this.toScreen(G, 0, r + 0.5);
      if (y < MARGIN_TOP) continue;
      ctx.save();
      ctx.translate(9, y);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(G.single ? (G.dims === 1 ? "jitter" : `y: dimension ${ydim}`) : `d${ydim}`, 0, 0);
      ctx.restore();
    }
  }

  // ------------------------------------------------------------ mouse
  local(e) { const r = this.dom.overlay.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }

  navigate(nav) { this.store.dispatch({ type: "navigate", pane: this.k, nav }); }

  bindMouse() {
    const o = this.dom.overlay;
    o.addEventListener("wheel", (e) => {
      e.preventDefault();
      if (!this.G) return;
      const G = this.G, [sx, sy] = this.local(e), [wx, wy] = this.toWorld(G, sx, sy);
      const scale = Math.max(1, Math.min(1e7, G.scale * Math.exp(-e.deltaY * 0.0015)));
      const [ox, oy] = this.center(G);
      this.navigate({ zoom: scale / G.fit, cx: (wx - (sx - ox) / scale) / G.g, cy: (wy - (sy - oy) / scale) / G.g });
    }, { passive: false });
    o.addEventListener("mousedown", (e) => {
      if (e.button !== 0 || !this.G) return;
      const state = this.store.get(), start = this.local(e), lasso = state.view.tool === "lasso";
      let last = start, moved = 0;
      const startCell = this.screenToCell(this.G, ...start);
      if (lasso) this.lassoPath = [start];
      this.store.dispatch({ type: "hover", hover: null });
      const move = (ev) => {
        const p = this.local(ev), dx = p[0] - last[0], dy = p[1] - last[1];
        moved += Math.abs(dx) + Math.abs(dy);
        last = p;
        if (lasso) { this.lassoPath.push(p); this.drawOverlay(this.store.get(), this.cloud, this.extras); return; }
        const G = this.G;
        this.navigate({ cx: (G.cx - dx / G.scale) / G.g, cy: (G.cy - dy / G.scale) / G.g });
      };
      const up = (ev) => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        if (moved < 4) { this.lassoPath = null; this.click(start, ev); return; }
        if (lasso) this.finishLasso(startCell, ev);
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
    o.addEventListener("mousemove", (e) => {
      if (e.buttons) return;
      const p = this.local(e);
      if (this.hoverPending) { this.hoverPending = [p, e]; return; }
      this.hoverPending = [p, e];
      requestAnimationFrame(() => {
        const [q, ev] = this.hoverPending;
        this.hoverPending = null;
        const hit = this.pick(...q);
        this.hoverMark = hit ? hit.screen : null;
        this.store.dispatch({ type: "hover", hover: hit ? { pane: this.k, pid: hit.pid, xdim: hit.xdim, ydim: hit.ydim, clientX: ev.clientX, clientY: ev.clientY } : null });
      });
    });
    o.addEventListener("mouseleave", () => { this.hoverMark = null; this.store.dispatch({ type: "hover", hover: null }); });
  }

  click(start, ev) {
    const hit = this.pick(...start);
    const mode = modeOf(ev);
    if (hit) {
      const row = Math.floor(hit.pid / this.cloud.positions);
      this.store.dispatch({ type: "click", pane: this.k, row });
      selectPaneRows(this.store, this.data, this.k, [row], mode);
    } else if (mode === "replace") selectPaneRows(this.store, this.data, this.k, [], mode);
    else this.drawOverlay(this.store.get(), this.cloud, this.extras);
  }

  // The drawn point under screen point (sx, sy): {pid, xdim, ydim, screen} or null.
  pick(sx, sy) {
    const G = this.G, cloud = this.cloud;
    if (!G || !cloud) return null;
    const cell = this.screenToCell(G, sx, sy);
    if (!cell) return null;
    const [xdim, ydim] = this.cellDims(G, cell.i, cell.j);
    const inner = (1 - 2 * PAD) * G.scale, radius = Math.max(5, this.store.get().view.pointSize) / inner;
    const pid = cloud.nearest(xdim, ydim, cell.tx, cell.ty, radius, radius, this.drawn, this.rows);
    if (pid < 0) return null;
    const tx = cloud.coord(xdim)(pid);
    const ty = xdim === ydim ? jitter(pid) : cloud.coord(ydim)(pid);
    return { pid, xdim, ydim, screen: this.cellToScreen(G, cell.i, cell.j, tx, ty) };
  }

  finishLasso(cell, ev) {
    const path = this.lassoPath, state = this.store.get();
    this.lassoPath = null;
    if (!cell || path.length < 3 || !this.cloud) { this.drawOverlay(state, this.cloud, this.extras); return; }
    const t0 = performance.now(), G = this.G;
    const polygon = path.map(([x, y]) => { const c = this.screenToCell(G, x, y, [cell.i, cell.j]); return [c.tx, c.ty]; });
    const [xdim, ydim] = this.cellDims(G, cell.i, cell.j);
    const p = state.panes[this.k];
    this.lastLasso = { layer: p.layer, projection: p.projection, xdim, ydim, polygon, cell: [cell.i, cell.j], pane: this.k };
    const hit = this.cloud.lasso(xdim, ydim, polygon), rows = [];
    for (let i = 0; i < hit.length; i++) if (hit[i]) rows.push(i);
    selectPaneRows(this.store, this.data, this.k, rows, modeOf(ev), t0);
  }
}

export function modeOf(e) {
  return !e ? "replace" : e.shiftKey ? "add" : (e.altKey || e.ctrlKey || e.metaKey) ? "remove" : "replace";
}
