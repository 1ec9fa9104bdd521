// The embedding view of one pane: a D x D scatter plot matrix (dimension j on x, i on y; 1-D
// dot plots on the diagonal) or one scatter plot when D <= 2. Pan, zoom, a scrollable window
// of dimensions, picking, the freehand lasso, the overview (focus + context), level of detail.
// In the A/B view every pane shares one navigation state (`nav`): camera and window.

import { jitter } from "./points.js";

const MARGIN_LEFT = 36, MARGIN_TOP = 22, PAD = 0.04, OVERVIEW = 200;
const $ = (id) => document.getElementById(id);

// Point draws per frame while the user interacts (lasso, pan, zoom, snapshot animation);
// the full budget is drawn once the view is idle for REFINE_MS.
export const INTERACTIVE_BUDGET = { software: 40_000, gpu: 2_000_000 };
export const REFINE_MS = 250;

export class Matrix {
  constructor(app, pane, nav, { onPick, onLasso, onHover }) {
    this.app = app;
    this.pane = pane;
    this.nav = nav;
    this.onPick = onPick;
    this.onLasso = onLasso;
    this.onHover = onHover;
    this.gl = pane.glCanvas;
    this.overlay = pane.overlay;
    this.lodEl = pane.lod;
    this.overviewCanvas = pane.index === 0 ? $("overview") : null;
    this.tool = "pan";
    this.overviewDirty = true;
    this.overviewImage = null;
    this.drawn = { all: 0, selected: 0, cells: 0 };
    this.lastLasso = null;
    this.budgetOverride = null;
    this.interactive = false;
    this.pending = null;
    new ResizeObserver(() => this.resize()).observe(pane.plot);
    this.bindMouse();
    if (this.overviewCanvas) this.bindOverview();
  }

  // ------------------------------------------------------------ layout
  get cam() { return this.nav.cam; }
  get windowSize() { return this.nav.windowSize; }
  set windowSize(v) { this.nav.windowSize = v; }
  get colStart() { return this.nav.colStart; }
  set colStart(v) { this.nav.colStart = v; }
  get rowStart() { return this.nav.rowStart; }
  set rowStart(v) { this.nav.rowStart = v; }
  get size() { return { w: this.overlay.clientWidth, h: this.overlay.clientHeight }; }
  get dims() { return this.cloud ? this.cloud.dims : 0; }
  get single() { return this.dims <= 2; }
  get grid() { return this.single ? 1 : Math.min(this.windowSize, this.dims); }
  get fullBudget() { return this.budgetOverride ?? +$("budget").value; }
  get budget() {
    if (!this.interactive) return this.fullBudget;
    const fast = this.app.renderer0().software ? INTERACTIVE_BUDGET.software : INTERACTIVE_BUDGET.gpu;
    return Math.min(this.fullBudget, fast);
  }

  resize() {
    const dpr = window.devicePixelRatio || 1, { w, h } = this.size;
    for (const c of [this.gl, this.overlay]) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    this.overviewDirty = true;
    this.render();
  }

  setCloud(cloud, keepView) {
    const sameDims = this.cloud && this.cloud.dims === cloud.dims;
    this.cloud = cloud;
    this.clampWindow();
    this.overviewDirty = true;
    if (!(keepView && sameDims) && this.pane.index === 0) this.fit();
    this.render();
  }

  clampWindow() {
    const max = Math.max(0, this.dims - this.grid);
    this.colStart = Math.max(0, Math.min(max, this.colStart));
    this.rowStart = Math.max(0, Math.min(max, this.rowStart));
    if (this.pane.index !== 0) return;
    $("col-start").value = this.colStart;
    $("row-start").value = this.rowStart;
    $("window-size").value = this.windowSize;
    $("window-info").textContent = this.single ? `${this.dims}-D: one scatter plot`
      : `showing dims ${this.colStart}–${this.colStart + this.grid - 1} (x) × ${this.rowStart}–${this.rowStart + this.grid - 1} (y) of ${this.dims}`;
  }

  setWindow(colStart, rowStart, size = this.windowSize) {
    this.windowSize = Math.max(1, Math.min(64, size | 0));
    this.colStart = colStart | 0;
    this.rowStart = rowStart | 0;
    this.clampWindow();
    this.fit();
    return this.app.frameAll();
  }

  setWindowFromInputs() {
    this.setWindow(+$("col-start").value, +$("row-start").value, +$("window-size").value);
  }

  fit() {
    const { w, h } = this.size, g = this.grid;
    this.cam.scale = Math.max(1e-3, Math.min((w - MARGIN_LEFT - 8) / g, (h - MARGIN_TOP - 8) / g));
    this.cam.cx = g / 2;
    this.cam.cy = g / 2;
    this.app.navigated();
  }

  goToDiagonal(d) {
    if (this.single) { this.fit(); return this.app.frameAll(); }
    const g = this.grid, start = Math.max(0, Math.min(this.dims - g, d - Math.floor(g / 2)));
    this.colStart = this.rowStart = start;
    this.clampWindow();
    const { w, h } = this.size, i = d - start;
    this.cam.scale = 0.8 * Math.min(w - MARGIN_LEFT, h - MARGIN_TOP);
    this.cam.cx = i + 0.5;
    this.cam.cy = i + 0.5;
    return this.app.frameAll();
  }

  center() {
    const { w, h } = this.size;
    return [MARGIN_LEFT + (w - MARGIN_LEFT) / 2, MARGIN_TOP + (h - MARGIN_TOP) / 2];
  }
  toScreen(wx, wy) { const [ox, oy] = this.center(); return [(wx - this.cam.cx) * this.cam.scale + ox, (wy - this.cam.cy) * this.cam.scale + oy]; }
  toWorld(sx, sy) { const [ox, oy] = this.center(); return [(sx - ox) / this.cam.scale + this.cam.cx, (sy - oy) / this.cam.scale + this.cam.cy]; }

  visibleCells() {
    const { w, h } = this.size, g = this.grid;
    const [x0, y0] = this.toWorld(MARGIN_LEFT, MARGIN_TOP), [x1, y1] = this.toWorld(w, h);
    const c0 = Math.max(0, Math.floor(x0)), c1 = Math.min(g - 1, Math.floor(x1));
    const r0 = Math.max(0, Math.floor(y0)), r1 = Math.min(g - 1, Math.floor(y1));
    return [r0, c0, Math.max(0, r1 - r0 + 1), Math.max(0, c1 - c0 + 1)];
  }

  cellDims(i, j) {
    if (this.single) return this.dims === 2 ? [0, 1] : [0, 0];
    return [this.colStart + j, this.rowStart + i];   // [xdim, ydim]
  }

  // Client (page) coordinates of normalised point (tx, ty) in cell (i, j), for scripted tests.
  cellToClient(i, j, tx, ty) {
    const [sx, sy] = this.toScreen(j + PAD + tx * (1 - 2 * PAD), i + PAD + (1 - ty) * (1 - 2 * PAD));
    const r = this.overlay.getBoundingClientRect();
    return { x: r.left + sx, y: r.top + sy };
  }

  // Screen (overlay) coordinates of normalised point (tx, ty) in cell (i, j).
  cellToScreen(i, j, tx, ty) {
    return this.toScreen(j + PAD + tx * (1 - 2 * PAD), i + PAD + (1 - ty) * (1 - 2 * PAD));
  }

  screenToCell(sx, sy, cell) {
    const [wx, wy] = this.toWorld(sx, sy);
    const i = cell ? cell[0] : Math.floor(wy), j = cell ? cell[1] : Math.floor(wx);
    if (i < 0 || j < 0 || i >= this.grid || j >= this.grid) return null;
    const inner = 1 - 2 * PAD;
    return { i, j, tx: (wx - j - PAD) / inner, ty: 1 - (wy - i - PAD) / inner };
  }

  // ------------------------------------------------------------ drawing
  viewFor(width, height, cam, cells, size, budget) {
    return {
      width, height, cam, cells, budget, size, pad: PAD,
      dimStart: [this.rowStart, this.colStart],
      fixed: this.single ? this.cellDims(0, 0) : [-1, -1],
      alpha: +$("opacity").value,
    };
  }

  glView(budget = this.budget) {
    const dpr = window.devicePixelRatio || 1, { w, h } = this.size;
    const [ox, oy] = this.center();
    const cx = this.cam.cx - (ox - w / 2) / this.cam.scale, cy = this.cam.cy - (oy - h / 2) / this.cam.scale;
    const cam = [cx, cy, (2 * this.cam.scale) / w, (2 * this.cam.scale) / h];
    return this.viewFor(this.gl.width, this.gl.height, cam, this.visibleCells(), +$("point-size").value * dpr, budget);
  }

  render() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = null; this.draw(); });
  }

  // Draw now and resolve once the GPU finished (used by tests and benchmarks).
  frame() {
    if (this.pending) { cancelAnimationFrame(this.pending); this.pending = null; }
    this.draw();
    this.pane.renderer.finish();
    return new Promise((resolve) => requestAnimationFrame(() => resolve(this.describe())));
  }

  draw() {
    if (!this.cloud) return;
    const renderer = this.pane.renderer;
    if (renderer.from) renderer.mix = this.app.currentMix();
    const view = this.glView();
    this.drawn = this.pane.renderer.draw(view);
    this.drawnBudget = view.budget;
    this.drawOverlay(view.cells);
    this.drawLod();
    if (this.overviewCanvas) {
      if (this.overviewDirty && !this.interactive) this.renderOverview();
      this.drawOverviewBox();
    }
    if (this.pane.renderer.mix < 1) this.app.animationFrame(this);
  }

  drawLod() {
    const el = this.lodEl, d = this.drawn, total = this.cloud.count;
    const unit = this.cloud.positions > 1 ? "points (image positions)" : "points";
    if (!d.cells) { el.textContent = ""; return; }
    const cells = d.cells === 1 ? "the cell" : `each of ${d.cells.toLocaleString()} cells`;
    const quick = this.interactive && this.drawnBudget < this.fullBudget ? " · interacting: fast preview, refining…" : "";
    if (d.all < total) {
      el.className = "lod sampled";
      el.textContent = `Level of detail: ${cells} shows a uniform random sample of ${d.all.toLocaleString()} of ` +
        `${total.toLocaleString()} ${unit} (${((100 * d.all) / total).toPrecision(2)}%)` +
        (d.selected ? `, selection ${d.selected.toLocaleString()} of ${(this.app.selectedCount(this.pane) * this.cloud.positions).toLocaleString()}` : "") +
        (quick || " — zoom in or raise detail to see all");
    } else {
      el.className = "lod";
      el.textContent = `All ${total.toLocaleString()} ${unit} drawn in ${cells} (${((d.all + d.selected) * d.cells).toLocaleString()} point draws)${quick}`;
    }
  }

  drawOverlay(cells = this.visibleCells()) {
    const dpr = window.devicePixelRatio || 1, ctx = this.overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const { w, h } = this.size;
    ctx.clearRect(0, 0, w, h);
    const [r0, c0, nr, nc] = cells, px = this.cam.scale;
    if (px >= 5) {
      ctx.strokeStyle = "rgba(255,255,255,0.13)";
      ctx.lineWidth = 1;
      for (let r = r0; r < r0 + nr; r++) {
        for (let c = c0; c < c0 + nc; c++) {
          const [x, y] = this.toScreen(c, r);
          ctx.strokeRect(x + 0.5, y + 0.5, px - 1, px - 1);
        }
      }
    }
    this.app.drawDisplacement(this, ctx, cells);
    ctx.fillStyle = "#15171a";
    ctx.fillRect(0, 0, w, MARGIN_TOP);
    ctx.fillRect(0, 0, MARGIN_LEFT, h);
    ctx.fillStyle = "#9aa0a8";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const every = Math.max(1, Math.ceil(26 / px));
    for (let c = c0; c < c0 + nc; c++) {
      const [xdim] = this.cellDims(0, c);
      if (!this.single && c % every) continue;
      const [x] = this.toScreen(c + 0.5, 0);
      if (x < MARGIN_LEFT) continue;
      ctx.fillText(this.single ? `x: d${xdim}` : `${xdim}`, x, MARGIN_TOP / 2);
    }
    for (let r = r0; r < r0 + nr; r++) {
      const [, ydim] = this.cellDims(r, 0);
      if (!this.single && r % every) continue;
      const [, y] = this.toScreen(0, r + 0.5);
      if (y < MARGIN_TOP) continue;
      ctx.save();
      ctx.translate(MARGIN_LEFT / 2, y);
      if (this.single) ctx.rotate(-Math.PI / 2);
      ctx.fillText(this.single ? (this.dims === 1 ? "jitter" : `y: d${ydim}`) : `${ydim}`, 0, 0);
      ctx.restore();
    }
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

  // ------------------------------------------------------------ overview (focus + context)
  renderOverview() {
    this.overviewDirty = false;
    const g = this.grid, renderer = this.pane.renderer;
    const view = this.viewFor(OVERVIEW, OVERVIEW, [g / 2, g / 2, 2 / g, 2 / g], [0, 0, g, g], 1,
      Math.min(this.fullBudget, renderer.software ? 1e6 : 8e6));
    view.background = [0.05, 0.055, 0.06];
    this.overviewImage = renderer.drawToImage(view);
  }

  drawOverviewBox() {
    const c = this.overviewCanvas, ctx = c.getContext("2d");
    if (this.overviewImage) ctx.putImageData(this.overviewImage, 0, 0);
    const g = this.grid, k = OVERVIEW / g, { w, h } = this.size;
    const [x0, y0] = this.toWorld(MARGIN_LEFT, MARGIN_TOP), [x1, y1] = this.toWorld(w, h);
    const bw = (x1 - x0) * k, bh = (y1 - y0) * k;
    ctx.strokeStyle = "#ffd000";
    ctx.lineWidth = 1.5;
    if (bw < 6 || bh < 6) {   // too small to see: a crosshair on the viewport centre
      const cx = ((x0 + x1) / 2) * k, cy = ((y0 + y1) / 2) * k;
      ctx.beginPath();
      ctx.moveTo(cx, 0); ctx.lineTo(cx, OVERVIEW); ctx.moveTo(0, cy); ctx.lineTo(OVERVIEW, cy);
      ctx.stroke();
      this.overviewMark = "crosshair";
    } else {
      ctx.strokeRect(x0 * k, y0 * k, bw, bh);
      this.overviewMark = "box";
    }
  }

  bindOverview() {
    const c = this.overviewCanvas;
    const moveTo = (e) => {
      const r = c.getBoundingClientRect(), k = OVERVIEW / this.grid;
      const [ox, oy] = this.center(), { w, h } = this.size;
      // put the clicked world point at the centre of the visible area
      this.cam.cx = (e.clientX - r.left) / k - (w / 2 + MARGIN_LEFT / 2 - ox) / this.cam.scale;
      this.cam.cy = (e.clientY - r.top) / k - (h / 2 + MARGIN_TOP / 2 - oy) / this.cam.scale;
      this.app.navigated();
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
      this.cam.scale *= Math.exp(-e.deltaY * 0.0015);
      this.app.navigated();
    }, { passive: false });
  }

  // ------------------------------------------------------------ mouse: pan, zoom, pick, lasso
  setTool(tool) {
    this.tool = tool;
    this.overlay.classList.toggle("lasso", tool === "lasso");
  }

  local(e) { const r = this.overlay.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }

  bindMouse() {
    const o = this.overlay;
    o.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [sx, sy] = this.local(e), [wx, wy] = this.toWorld(sx, sy);
      this.cam.scale = Math.max(1, Math.min(1e7, this.cam.scale * Math.exp(-e.deltaY * 0.0015)));
      const [ax, ay] = this.toWorld(sx, sy);
      this.cam.cx += wx - ax;
      this.cam.cy += wy - ay;
      this.app.navigated();
    }, { passive: false });
    o.addEventListener("mousedown", (e) => {
      if (e.button !== 0) return;
      const start = this.local(e);
      let last = start, moved = 0;
      const lasso = this.tool === "lasso";
      const startCell = this.screenToCell(...start);
      if (lasso) this.lassoPath = [start];
      this.onHover(null);
      const move = (ev) => {
        const p = this.local(ev), dx = p[0] - last[0], dy = p[1] - last[1];
        moved += Math.abs(dx) + Math.abs(dy);
        last = p;
        if (lasso) { this.lassoPath.push(p); this.drawOverlay(); return; }
        this.cam.cx -= dx / this.cam.scale;
        this.cam.cy -= dy / this.cam.scale;
        this.app.navigated();
      };
      const up = (ev) => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        if (moved < 4) { this.lassoPath = null; this.onPick(this.pick(...start), ev, this.pane); this.drawOverlay(); return; }
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
        this.onHover(hit, ev.clientX, ev.clientY, this.pane);
        this.drawOverlay();   // hover marks live on the 2-D overlay: no point redraw
      });
    });
    o.addEventListener("mouseleave", () => { this.hoverMark = null; this.onHover(null); this.drawOverlay(); });
  }

  // The drawn point under screen point (sx, sy): {pid, xdim, ydim, screen} or null.
  pick(sx, sy) {
    const cell = this.screenToCell(sx, sy);
    if (!cell || !this.cloud) return null;
    const [xdim, ydim] = this.cellDims(cell.i, cell.j);
    const inner = (1 - 2 * PAD) * this.cam.scale, radius = Math.max(5, +$("point-size").value) / inner;
    const pid = this.cloud.nearest(xdim, ydim, cell.tx, cell.ty, radius, radius, this.drawn, this.pane.rows);
    if (pid < 0) return null;
    const tx = this.cloud.coord(xdim)(pid);
    const ty = xdim === ydim ? jitter(pid) : this.cloud.coord(ydim)(pid);
    return { pid, xdim, ydim, screen: this.cellToScreen(cell.i, cell.j, tx, ty) };
  }

  finishLasso(cell, ev) {
    const path = this.lassoPath;
    this.lassoPath = null;
    if (!cell || path.length < 3) { this.drawOverlay(); return; }
    const t0 = performance.now();
    const polygon = path.map(([x, y]) => { const c = this.screenToCell(x, y, [cell.i, cell.j]); return [c.tx, c.ty]; });
    const [xdim, ydim] = this.cellDims(cell.i, cell.j);
    this.lastLasso = { layer: this.app.layer, projection: this.app.projection, xdim, ydim, polygon, cell: [cell.i, cell.j], pane: this.pane.index };
    this.onLasso(this.cloud.lasso(xdim, ydim, polygon), ev, this.pane, t0);
  }

  describe() {
    return {
      layer: this.app.layer, dims: this.dims, grid: this.grid, single: this.single,
      colStart: this.colStart, rowStart: this.rowStart, cam: { ...this.cam },
      cells: this.visibleCells(), drawn: { ...this.drawn }, budget: this.budget,
      interactive: this.interactive, drawnBudget: this.drawnBudget,
      overviewMark: this.overviewMark, lod: this.lodEl.textContent,
      css: { w: this.size.w, h: this.size.h }, pane: this.pane.index,
      checkpoint: this.pane.checkpoint,
    };
  }

  bench(n) {
    const times = [];
    for (let k = 0; k < n; k++) {
      const t = performance.now();
      this.draw();
      this.pane.renderer.finish();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(n / 2)], min: times[0], max: times[n - 1], drawn: { ...this.drawn } };
  }
}
