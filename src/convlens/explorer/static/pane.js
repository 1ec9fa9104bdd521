// One pane of the embedding view: its run, its own layer (in A/B each pane chooses one), the
// WebGL renderer and the matrix. It renders from the state: when the pane's data is not
// ready (a layer its run lacks, a probe that runs or failed, a store being probed again)
// it clears the picture and shows only the message, so nothing stale is ever drawn.
import { paneRows } from "./data.js";
import { Renderer } from "./gl.js";
import { Matrix } from "./matrix.js";
import { checkpointOf, runOf } from "./store.js";
import { timings } from "./actions.js";

export const ANIMATION_MS = 600;
const QUIET = new Set(["hover", "tab", "mapsZoom", "sortRanking", "channel", "click", "notice", "focus"]);

export class Pane {
  constructor(k, parent, store, data) {
    this.k = k;
    this.store = store;
    this.data = data;
    this.dom = this.build(parent);
    this.renderer = new Renderer(this.dom.glCanvas);
    this.matrix = new Matrix(k, this.dom, this.renderer, store, data);
    this.cloud = null;
    this.labels = null;
    this.rows = new Int32Array(0);
    this.mask = null;
    this.selectionVersion = -1;
    this.animStart = 0;
    this.pending = null;
    new ResizeObserver(() => this.resize()).observe(this.dom.plot);
    store.subscribe((state, prev, action) => this.update(state, prev, action));
  }

  build(parent) {
    const root = document.createElement("div"), k = this.k, suffix = k === 0 ? "" : `-${k}`;
    root.className = "pane";
    root.dataset.pane = k;
    root.innerHTML = `<div class="pane-title"><span class="pane-name"></span>` +
      `<label class="pane-layer-label">layer <select class="pane-layer"></select></label><span class="pane-ck"></span></div>` +
      `<div class="plot"><canvas class="gl" id="gl${suffix}"></canvas><canvas class="overlay" id="overlay${suffix}"></canvas>` +
      `<div class="lod"></div><div class="missing" hidden></div></div>`;
    parent.append(root);
    const dom = {
      root, plot: root.querySelector(".plot"), glCanvas: root.querySelector(".gl"), overlay: root.querySelector(".overlay"),
      lod: root.querySelector(".lod"), missing: root.querySelector(".missing"), name: root.querySelector(".pane-name"),
      layerSelect: root.querySelector(".pane-layer"), ck: root.querySelector(".pane-ck"),
    };
    dom.layerSelect.onchange = (e) => this.store.dispatch({ type: "layer", layer: e.target.value, pane: k });
    root.addEventListener("mousedown", () => this.store.dispatch({ type: "focus", pane: k }));
    return dom;
  }

  resize() {
    const dpr = window.devicePixelRatio || 1, { w, h } = this.matrix.size;
    for (const c of [this.dom.glCanvas, this.dom.overlay]) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    this.store.dispatch({ type: "paneSize", pane: this.k, size: { w, h } });
    if (this.cloud) this.render();
    else this.renderer.clear();
  }

  // ------------------------------------------------------------ from the state
  update(state, prev, action) {
    this.renderTitle(state);
    if (action.type === "hover") {
      if (!state.hover || state.hover.pane !== this.k) this.matrix.hoverMark = null;
      if (this.cloud) this.matrix.drawOverlay(state, this.cloud, this.extras());
      return;
    }
    if (QUIET.has(action.type)) return;
    const p = state.panes[this.k];
    if (p.data.status !== "ready") { this.showMessage(p.data.message || p.data.status); return; }
    this.dom.missing.hidden = true;
    const cloud = this.data.cloudOf(state, this.k), labels = this.data.labelsOf(state, this.k);
    if (!cloud || !labels) { this.showMessage("loading…"); return; }
    if (cloud.shared !== state.view.sharedScale) cloud.setScale(state.view.sharedScale);
    if (cloud !== this.cloud) {
      const old = this.cloud, animate = !!old && old.name === cloud.name && old.projection === cloud.projection &&
        old.dims === cloud.dims && old.checkpoint !== cloud.checkpoint && action.type === "paneData";
      if (this.renderer.setPoints(cloud, animate)) {
        this.animStart = performance.now();
        this.store.dispatch({ type: "animate", until: this.animStart + ANIMATION_MS });
      }
      this.cloud = cloud;
      this.matrix.cloud = cloud;
    } else if (this.renderer.scaleShared !== cloud.shared) this.renderer.setScale(cloud);
    if (labels !== this.labels) {
      this.renderer.setLabels(labels.labels);
      this.labels = labels;
      this.selectionVersion = -1;
    }
    if (this.selectionVersion !== state.selection.version) {
      this.rows = paneRows(state, this.data, this.k);
      this.mask = new Uint8Array(labels.labels.length);
      for (const r of this.rows) this.mask[r] = 1;
      this.renderer.setSelection(this.mask, this.rows);
      this.matrix.rows = this.rows;
      this.selectionVersion = state.selection.version;
    }
    if (action.type === "select") { this.drawNow(state); this.renderer.finish(); } else this.render();
  }

  renderTitle(state) {
    const run = runOf(state, this.k), p = state.panes[this.k], ck = checkpointOf(state, this.k);
    const text = `${"AB"[this.k] ?? this.k}: ${run ? run.name : "?"}`;
    if (this.dom.name.textContent !== text) this.dom.name.textContent = text;
    const ckText = ck ? `${ck.name}${ck.step !== undefined && ck.step !== null ? ` (step ${ck.step})` : ""}` : "";
    if (this.dom.ck.textContent !== ckText) this.dom.ck.textContent = ckText;
    const names = run && run.layers ? run.layers.map((l) => l.name) : [];
    const sel = this.dom.layerSelect, want = [...names, ...(p.layer && !names.includes(p.layer) ? [p.layer] : [])];
    if (sel.options.length !== want.length || [...sel.options].some((o, i) => o.value !== want[i])) {
      sel.replaceChildren(...want.map((n) => new Option(names.includes(n) ? n : `${n} (not in this run)`, n)));
    }
    if (p.layer && sel.value !== p.layer) sel.value = p.layer;
  }

  showMessage(text) {
    if (this.cloud || this.dom.missing.hidden || this.dom.missing.textContent !== text) {
      this.cloud = null;
      this.matrix.cloud = null;
      this.labels = null;
      this.selectionVersion = -1;
      this.matrix.clear();
      this.dom.lod.textContent = "";
      this.dom.missing.textContent = text;
      this.dom.missing.hidden = false;
    }
  }

  // ------------------------------------------------------------ drawing
  render() {
    if (this.pending || !this.cloud) return;
    this.pending = requestAnimationFrame(() => { this.pending = null; this.drawNow(this.store.get()); });
  }

  drawNow(state) {
    if (this.pending) { cancelAnimationFrame(this.pending); this.pending = null; }
    if (!this.cloud) return null;
    if (this.renderer.from) this.renderer.mix = Math.min(1, (performance.now() - this.animStart) / ANIMATION_MS);
    const drawn = this.matrix.draw(state, this.cloud, this.extras());
    this.drawLod(state);
    if (this.k === 0) { timings.budget = this.matrix.drawnBudget; timings.drawn = { ...drawn }; }
    if (this.renderer.mix < 1) this.render();
    return drawn;
  }

  // Draw now and resolve once the GPU finished (tests and benchmarks).
  frame() {
    this.drawNow(this.store.get());
    if (this.cloud) this.renderer.finish();
    return new Promise((resolve) => requestAnimationFrame(() => resolve()));
  }

  drawLod(state) {
    const el = this.dom.lod, d = this.matrix.drawn, cloud = this.cloud, total = cloud.count;
    const unit = cloud.positions > 1 ? "points (image positions)" : "points";
    if (!d.cells) { el.textContent = ""; return; }
    const cells = d.cells === 1 ? "the cell" : `each of ${d.cells.toLocaleString()} cells`;
    const quick = state.interactive && this.matrix.drawnBudget < state.view.budget ? " · interacting: fast preview, refining…" : "";
    const scale = cloud.shared ? " · one scale for every dimension" : "";
    if (d.all < total) {
      el.className = "lod sampled";
      el.textContent = `Level of detail: ${cells} shows a uniform random sample of ${d.all.toLocaleString()} of ` +
        `${total.toLocaleString()} ${unit} (${((100 * d.all) / total).toPrecision(2)}%)` +
        (d.selected ? `, selection ${d.selected.toLocaleString()} of ${(this.rows.length * cloud.positions).toLocaleString()}` : "") +
        (quick || " — zoom in or raise detail to see all") + scale;
    } else {
      el.className = "lod";
      el.textContent = `All ${total.toLocaleString()} ${unit} drawn in ${cells} (${((d.all + d.selected) * d.cells).toLocaleString()} point draws)${quick}${scale}`;
    }
  }

  // The A/B displacement lines: from where the other pane's run puts each selected image
  // (white dot) to where this one does, in the same cell.
  extras() {
    const state = this.store.get();
    if (!state.view.displacement || state.panes.length < 2) return {};
    const other = 1 - this.k, a = this.data.cloudOf(state, other), b = this.cloud;
    if (!a || !b || a.dims !== b.dims || a.positions !== b.positions || state.panes[other].data.status !== "ready") return {};
    const mine = this.data.rowmapOf(state.panes[this.k].rid), theirs = this.data.rowmapOf(state.panes[other].rid);
    const labels = this.labels;
    return {
      displacement: (ctx, m, G, cells) => drawDisplacement(ctx, m, G, cells, { a, b, mine, theirs, rows: state.selection.rows, labels }),
    };
  }
}

const MAX_SEGMENTS = 20_000;
function drawDisplacement(ctx, m, G, cells, { a, b, mine, theirs, rows }) {
  const [r0, c0, nr, nc] = cells, P = b.positions;
  let list = rows;
  if (!list.length) { list = []; const n = b.nImages, step = Math.max(1, Math.ceil(n / 300)); for (let r = 0; r < n; r += step) list.push(r); }
  const perCell = Math.max(1, Math.floor(MAX_SEGMENTS / Math.max(1, nr * nc)));
  const pairs = [];
  for (const r of list) {
    const pr = mine ? mine.fromPrimary[r] : r, orow = theirs ? theirs.fromPrimary[r] : r;
    if (pr < 0 || orow < 0) continue;
    for (let q = 0; q < P && pairs.length < perCell; q++) pairs.push([pr * P + q, orow * P + q]);
    if (pairs.length >= perCell) break;
  }
  ctx.lineWidth = 1;
  ctx.strokeStyle = "rgba(255, 208, 0, 0.55)";
  ctx.fillStyle = "rgba(255, 255, 255, 0.8)";
  for (let i = r0; i < r0 + nr; i++) {
    for (let j = c0; j < c0 + nc; j++) {
      const [xd, yd] = m.cellDims(G, i, j), diag = xd === yd;
      const fxb = b.coord(xd), fyb = diag ? null : b.coord(yd), fxa = a.coord(xd), fya = diag ? null : a.coord(yd);
      for (const [pb, pa] of pairs) {
        const yb = diag ? 0.5 : fyb(pb), ya = diag ? 0.5 : fya(pa);
        const [x0, y0] = m.cellToScreen(G, i, j, fxa(pa), ya), [x1, y1] = m.cellToScreen(G, i, j, fxb(pb), yb);
        ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
        ctx.fillRect(x0 - 1, y0 - 1, 2, 2);
      }
    }
  }
}
