// The explorer's front end: one store (store.js), the data cache and its loaders (data.js),
// and components that render from the state and dispatch actions (docs/explorer.md,
// "Front-end state"). This file builds them, keeps the fast preview honest (refine after
// REFINE_MS of quiet) and exposes `window.convlens` for tests and benchmarks.
import { getJSON } from "./api.js";
import { goToDimension, selectClass, selectPaneRows, timings } from "./actions.js";
import { Confusion } from "./confusion.js";
import { Controls } from "./controls.js";
import { Data, loadAtlas, paneRows, startLive, startLoader } from "./data.js";
import { FeatureMaps } from "./featuremaps.js";
import { paneGeometry } from "./geometry.js";
import { Guide } from "./guide.js";
import { HoverCard } from "./hover.js";
import { ANIMATION_MS, Pane } from "./pane.js";
import { ChannelPanel, ImagePanel, Tabs } from "./panels.js";
import { CrossPlot } from "./plot.js";
import { Sidebar } from "./sidebar.js";
import { checkpointOf, createStore, initialState, reducer } from "./store.js";
import { Timeline } from "./timeline.js";
import { Weights } from "./weights.js";

const $ = (id) => document.getElementById(id);
const T0 = performance.now();
export const REFINE_MS = 250;
const INTERACTIVE = new Set(["navigate", "window", "fit", "goto", "centre", "select", "step", "animate", "interact"]);

const store = createStore(reducer, initialState);
const data = new Data(store);
const panes = [];
const components = {};

// ?runs=0,1 picks the runs shown side by side (A/B); default: the first two opened.
function requestedRuns(count) {
  const q = new URLSearchParams(location.search).get("runs");
  const ids = q ? q.split(",").map(Number).filter((i) => i >= 0 && i < count) : [0, 1].filter((i) => i < count);
  return ids.length ? ids.slice(0, 2) : [0];
}

// The fast preview: drawn while the user interacts; the full budget REFINE_MS after the
// last interaction (later while the timeline animation runs).
let refineTimer = null;
function armRefine() {
  clearTimeout(refineTimer);
  refineTimer = setTimeout(() => {
    if (performance.now() < store.get().animUntil) { armRefine(); return; }
    store.dispatch({ type: "refine" });
  }, REFINE_MS);
}

function frameAll() { return Promise.all(panes.map((p) => p.frame())); }

// Drop the fast preview and any running animation: the full budget in every pane now.
function settle() {
  clearTimeout(refineTimer);
  for (const p of panes) p.animStart = -Infinity;
  store.dispatch({ type: "refine" });
  return frameAll().then(() => hook.view(0));
}

async function start() {
  const [{ runs, dashboard }, live] = await Promise.all([getJSON("/api/runs"), getJSON("/api/live")]);
  $("dashboard-link").hidden = !dashboard;
  const rids = requestedRuns(runs.length);
  rids.forEach((rid, k) => panes.push(new Pane(k, $("panes"), store, data)));
  const r0 = panes[0].renderer;
  store.dispatch({
    type: "init", runs, rids, live,
    view: { software: r0.software, budget: r0.software ? 1e6 : 16e6, renderer: r0.rendererName },
  });
  Object.assign(components, {
    controls: new Controls(store, data), sidebar: new Sidebar(store, data), timeline: new Timeline(store),
    hover: new HoverCard(store, data), maps: new FeatureMaps(store, data), tabs: new Tabs(store),
    image: new ImagePanel(store, data), channel: new ChannelPanel(store, data), guide: new Guide(store, data),
    confusion: new Confusion(store, data), plot: new CrossPlot(store, data), weights: new Weights(store),
  });
  store.subscribe((state, prev, action) => {
    if (INTERACTIVE.has(action.type)) armRefine();
    for (const p of state.panes) {   // the pixel atlas of every shown run, once it is probed
      const run = state.runs[p.rid];
      if (run && run.ready && !data.atlases.has(p.rid) && !atlasLoading.has(p.rid)) {
        atlasLoading.add(p.rid);
        loadAtlas(data, store, p.rid).catch((err) => { atlasLoading.delete(p.rid); report(err); });
      }
    }
    if (timings.firstFrameMs === null && state.panes[0].data.status === "ready" && panes[0].cloud) {
      timings.firstFrameMs = -1;
      panes[0].frame().then(() => { timings.firstFrameMs = performance.now() - T0; hook.readyResolve(); });
    }
  });
  startLoader(store, data);
  startLive(store, data);
  hook.started = true;
}
const atlasLoading = new Set();

// ------------------------------------------------------------------ test and benchmark hook
const hook = { errors: [], started: false, store, data, components, panes };
hook.ready = new Promise((resolve) => { hook.readyResolve = resolve; });
const paneIndex = (k) => (k < panes.length ? k : 0);
const settled = (promise) => Promise.resolve(promise).then(settle);
// Resolves once every pane has what it should show (ready, or a message).
function loaded() {
  return new Promise((resolve) => {
    const done = () => store.get().panes.every((p) => p.data.status !== "loading");
    if (done()) { resolve(); return; }
    const stop = store.subscribe(() => { if (done()) { stop(); resolve(); } });
  });
}
Object.assign(hook, {
  app: {
    get firstFrameMs() { return timings.firstFrameMs === -1 ? null : timings.firstFrameMs; },
    get lastHighlight() { return timings.lastHighlight; },
    set lastHighlight(v) { timings.lastHighlight = v; },
  },
  state: () => store.get(),
  dispatch: (action) => store.dispatch(action),
  settle,
  loaded: () => loaded().then(settle),
  setLayer: (name, projection = "raw", pane) => {
    store.dispatch({ type: "layer", layer: name, projection, pane });
    return loaded().then(settle);
  },
  // the selection as rows of pane k (default: the first pane)
  selection: (k = 0) => Array.from(paneRows(store.get(), data, paneIndex(k))),
  selectClass: (c, mode = "replace", pane = 0) => settled(selectClass(store, data, paneIndex(pane), c, mode)),
  selectRows: (rows, mode = "replace", pane = 0) => settled(selectPaneRows(store, data, paneIndex(pane), rows, mode)),
  cellToClient: (i, j, tx, ty, pane = 0) => panes[paneIndex(pane)].matrix.cellToClient(paneGeometry(store.get(), paneIndex(pane)), i, j, tx, ty),
  lastLasso: () => panes.map((p) => p.matrix.lastLasso).find((l) => l) ?? null,
  hover: () => components.hover.last,
  view: (k = 0) => describe(paneIndex(k)),
  setBudget: (b) => { store.dispatch({ type: "set", key: "budget", value: b }); return settle(); },
  setWindow: (colStart, rowStart, size, pane = 0) => {
    store.dispatch({ type: "window", pane, colStart, rowStart, windowSize: size });
    return settle();
  },
  goToDiagonal: (d, pane = 0) => { store.dispatch({ type: "goto", pane, x: d, y: d }); return settle(); },
  goToCell: (x, y, pane = 0) => { store.dispatch({ type: "goto", pane, x, y }); return settle(); },
  goToDimension: (layer, d, pane = 0) => { goToDimension(store, pane, layer, d); return loaded().then(settle); },
  fit: () => { store.dispatch({ type: "fit", pane: 0 }); return settle(); },
  setTool: (tool) => store.dispatch({ type: "set", key: "tool", value: tool }),
  set: (key, value) => { store.dispatch({ type: "set", key, value }); return settle(); },
  timings: () => ({ firstFrameMs: hook.app.firstFrameMs, lastHighlight: timings.lastHighlight }),
  benchFrames: (n, pane = 0) => bench(panes[paneIndex(pane)], n),
  // timeline: move every pane to snapshot k; resolves once loaded (and animated)
  setSnapshot: async (k, animate = true) => {
    components.timeline.go(k);
    await loaded();
    if (animate && performance.now() < store.get().animUntil) await new Promise((r) => setTimeout(r, ANIMATION_MS + 50));
    return settle();
  },
  snapshot: () => {
    const state = store.get();
    return {
      step: components.timeline.position(state),
      checkpoints: state.panes.map((_, k) => { const c = checkpointOf(state, k); return c ? c.name : null; }),
      mix: panes[0].renderer.from ? Math.min(1, (performance.now() - panes[0].animStart) / ANIMATION_MS) : 1,
    };
  },
  // what the GPU computes for the first `count` points of cell (i, j): [tx, ty, pid] triples;
  // `mix` (0..1) pins the timeline animation's position for the capture
  drawnPositions: (i, j, count, pane = 0, mix = null) => {
    const p = panes[paneIndex(pane)], state = store.get();
    if (mix !== null) p.renderer.mix = mix;
    const G = paneGeometry(state, p.k);
    return Array.from(p.renderer.capture(p.matrix.glView(state, G), i, j, count));
  },
  showTab: (name) => store.dispatch({ type: "tab", tab: name }),
  click: (row, pane = 0) => store.dispatch({ type: "click", pane, row }),
  showChannel: (layer, c, pane = 0) => store.dispatch({ type: "channel", pane, layer, c }),
  overview: () => components.controls.overview.last,
  guide: () => components.guide.last,
  axes: (k = 0) => panes[paneIndex(k)].matrix.axes,
  live: () => store.get().live,
  // share of pane k's pixels that are not background: the WebGL canvas and the overlay
  // (0 when nothing is drawn; tests check that nothing stale is shown)
  ink: (k = 0) => {
    const p = panes[paneIndex(k)], out = {};
    for (const [name, canvas] of [["points", p.dom.glCanvas], ["overlay", p.dom.overlay]]) {
      const c = document.createElement("canvas");
      c.width = canvas.width; c.height = canvas.height;
      const ctx = c.getContext("2d");
      ctx.drawImage(canvas, 0, 0);
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 0; i < px.length; i += 4) {
        const drawn = px[i + 3] > 0 && (name === "overlay" ||
          Math.abs(px[i] - 20) + Math.abs(px[i + 1] - 23) + Math.abs(px[i + 2] - 26) > 12);
        if (drawn) ink++;
      }
      out[name] = ink / (px.length / 4);
    }
    return out;
  },
});

function describe(k) {
  const state = store.get(), p = state.panes[k], pane = panes[k], G = paneGeometry(state, k);
  return {
    layer: p.layer, projection: p.projection, dims: G.dims, grid: G.g, single: G.single,
    colStart: G.colStart, rowStart: G.rowStart, cam: { cx: G.cx, cy: G.cy, scale: G.scale },
    cells: pane.matrix.visibleCells(G), drawn: { ...pane.matrix.drawn }, budget: pane.matrix.budget(state),
    interactive: state.interactive, drawnBudget: pane.matrix.drawnBudget, lod: pane.dom.lod.textContent,
    css: { w: G.w, h: G.h }, pane: k, checkpoint: (checkpointOf(state, k) || {}).name ?? null,
    status: p.data.status, message: p.data.message, missingShown: !pane.dom.missing.hidden,
    drawing: !!pane.cloud, overviewMark: components.controls ? (components.controls.overview.last || {}).mark : null,
  };
}

function bench(pane, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    pane.drawNow(store.get());
    pane.renderer.finish();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(n / 2)], min: times[0], max: times[n - 1], drawn: { ...pane.matrix.drawn } };
}

function report(err) {
  hook.errors.push(String(err && err.message ? err.message : err));
  store.dispatch({ type: "notice", notice: { kind: "error", text: `error: ${err && err.message ? err.message : err}` } });
}

window.convlens = hook;
window.addEventListener("error", (e) => hook.errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => hook.errors.push(String(e.reason && e.reason.message ? e.reason.message : e.reason)));
start().catch((err) => { $("status").textContent = `error: ${err.message}`; hook.errors.push(String(err.message)); console.error(err); });
