// The explorer's one store of front-end state (docs/explorer.md, "Front-end state").
//
// State is a plain object, replaced (never mutated) by the reducer for each action.
// Components subscribe, render from the state they are given and change it only by
// dispatching actions; none reads state from the DOM or calls into another component.
// Large arrays (point values, pixels, labels) are not state: they live in the data cache
// (data.js), keyed by what the state names, and arrive through actions too.

export function createStore(reducer, initial) {
  let state = initial, busy = false;
  const subscribers = new Set(), queue = [];
  const store = {
    get: () => state,
    // Apply `action`; subscribers see (state, previous state, action). An action
    // dispatched by a subscriber runs after the current one has reached everyone.
    dispatch(action) {
      queue.push(action);
      if (busy) return state;
      busy = true;
      try {
        while (queue.length) {
          const a = queue.shift(), prev = state;
          state = reducer(prev, a);
          if (state !== prev) for (const fn of [...subscribers]) fn(state, prev, a);
        }
      } finally { busy = false; }
      return state;
    },
    subscribe(fn) { subscribers.add(fn); return () => subscribers.delete(fn); },
  };
  return store;
}

// ------------------------------------------------------------------ the state
export const initialState = {
  runs: [],              // /api/runs: a description per opened run ({ready: false, message} while probing)
  live: null,            // /api/live: per run, every checkpoint's probe state
  panes: [],             // [{rid, layer, projection, nav, data: {key, status, message}}]
  step: null,            // timeline position (index into the first pane's checkpoints); null: opened one
  selection: { rows: [], version: 0 },   // selected images, as rows of the first pane's probe
  focus: 0,              // the pane whose images the side panels show
  clicked: null,         // {pane, row}: the image of the method panels
  channel: null,         // {pane, layer, c}: the channel of the channel panel
  tab: "maps",
  mapsZoom: 2,
  view: {
    pointSize: 2, opacity: 0.6, budget: 1e6, software: true, tool: "pan",
    sharedScale: false, displacement: false, linked: true, overview: "auto",
  },
  rankingSort: { key: null, desc: true },
  attr: { method: "saliency", target: "predicted", layer: null },   // the method panel's choices
  plot: { x: null, y: null, z: null },   // the cross-layer plot's axes: [layer, dimension] or null
  weights: { layer: null, a: null, b: null },   // the weights panel: layer and two checkpoints
  hover: null,           // {pane, row, pid, box, text, x, y}
  interactive: false,    // a fast preview is drawn while the user interacts
  animUntil: 0,          // the timeline animation runs until this time (performance.now())
  arrived: 0,            // counts data that arrived in the cache (components re-render)
  notice: null,          // one line for the page ({kind, text})
};

export const NAV_FIT = { cx: 0.5, cy: 0.5, zoom: 1 };

// ------------------------------------------------------------------ selectors
export const runOf = (state, k) => state.runs[state.panes[k].rid];
export function layerOf(state, k) {
  const run = runOf(state, k), pane = state.panes[k];
  return run && run.layers ? run.layers.find((l) => l.name === pane.layer) || null : null;
}
export function dimsOf(state, k) {
  const layer = layerOf(state, k);
  if (!layer) return 0;
  return state.panes[k].projection === "pca" ? layer.pca : layer.dims;
}
// The grid of the pane's matrix: one scatter plot for D <= 2, else a window of cells.
export function gridOf(state, k) {
  const dims = dimsOf(state, k);
  return dims <= 2 ? 1 : Math.min(state.panes[k].nav.windowSize, dims);
}
// Every checkpoint of a pane's run, probed or not (the live list when it is known).
export function checkpointsOf(state, k) {
  const rid = state.panes[k].rid, run = state.runs[rid];
  const live = state.live && state.live.runs[rid];
  if (live) return live.checkpoints;
  return run && run.checkpoints ? run.checkpoints.map((c) => ({ ...c, state: "probed", version: 0 })) : [];
}
// The checkpoint pane k shows: the opened one, or step k of the timeline (clamped).
export function checkpointOf(state, k) {
  const run = runOf(state, k);
  const list = checkpointsOf(state, k);
  if (state.step === null || !list.length) {
    const name = run && run.checkpoint;
    return list.find((c) => c.name === name) || (name ? { name, state: "probed", version: 0 } : null);
  }
  return list[Math.min(state.step, list.length - 1)];
}
// Panes that move together: the same layer and projection, with linking on.
export function linkedPanes(state, k) {
  const p = state.panes[k];
  if (!state.view.linked) return [k];
  return state.panes.map((q, i) => i).filter((i) => i === k ||
    (state.panes[i].layer === p.layer && state.panes[i].projection === p.projection));
}

// Default window: each cell draws at least min(points, 5,000) points at the full budget.
export function defaultWindow(state, k, layer) {
  const run = runOf(state, k);
  const points = (run.n_images || 1) * (layer ? layer.positions : 1);
  const perCell = Math.max(1, Math.min(points, 5000));
  return Math.max(4, Math.min(20, Math.floor(Math.sqrt(state.view.budget / perCell))));
}

function freshNav(state, k, layerName) {
  const run = runOf(state, k);
  const layer = run && run.layers ? run.layers.find((l) => l.name === layerName) : null;
  return { colStart: 0, rowStart: 0, windowSize: layer ? defaultWindow(state, k, layer) : 20, ...NAV_FIT };
}

// ------------------------------------------------------------------ the reducer
const setPane = (state, k, patch) => ({
  ...state, panes: state.panes.map((p, i) => (i === k ? { ...p, ...patch } : p)),
});

function mergeRows(old, rows, mode) {
  const set = new Set(mode === "replace" ? [] : old);
  for (const r of rows) { if (mode === "remove") set.delete(r); else set.add(r); }
  return Int32Array.from(set).sort();
}

// Centre cell (x dim, y dim) of pane k's layer, zoomed so that it fills most of the view.
function centreOn(state, k, x, y, zoomCell) {
  const dims = dimsOf(state, k), nav = state.panes[k].nav;
  if (dims <= 2) return { ...nav, ...NAV_FIT, cx: 0.5, cy: 0.5 };
  const g = Math.min(nav.windowSize, dims), clamp = (v) => Math.max(0, Math.min(dims - g, v));
  const colStart = clamp(x - Math.floor(g / 2)), rowStart = clamp(y - Math.floor(g / 2));
  const zoom = zoomCell ? 0.8 * g : nav.zoom;
  return { ...nav, colStart, rowStart, cx: (x - colStart + 0.5) / g, cy: (y - rowStart + 0.5) / g, zoom };
}

function navigateLinked(state, k, makeNav) {
  let next = state;
  for (const i of linkedPanes(state, k)) next = setPane(next, i, { nav: makeNav(next, i) });
  return { ...next, interactive: true };
}

const HANDLERS = {
  init: (s, a) => {
    let next = { ...s, runs: a.runs, view: { ...s.view, ...a.view }, live: a.live ?? s.live };
    next.panes = a.rids.map((rid) => ({ rid, layer: null, projection: "raw", nav: { ...NAV_FIT, colStart: 0, rowStart: 0, windowSize: 20 }, data: { key: null, status: "waiting", message: "" } }));
    const first = next.runs[a.rids[0]];
    if (first && first.layers) next = HANDLERS.layer(next, { layer: first.layers[first.layers.length - 1].name });
    return next;
  },
  runs: (s, a) => {
    let next = { ...s, runs: a.runs };
    // a pane that had no layer (its run was still probing) gets the last one
    next.panes.forEach((p, k) => {
      const run = next.runs[p.rid];
      if (!p.layer && run && run.layers && run.layers.length) {
        next = HANDLERS.layer(next, { layer: run.layers[run.layers.length - 1].name, pane: k });
      }
    });
    return next;
  },
  live: (s, a) => ({ ...s, live: a.live }),
  // Show `layer` in pane `pane`, or in every pane when no pane is given.
  layer: (s, a) => {
    let next = s;
    const panes = a.pane === undefined ? s.panes.map((_, i) => i) : [a.pane];
    for (const k of panes) {
      const p = next.panes[k], projection = a.projection ?? p.projection;
      if (p.layer === a.layer && p.projection === projection && !a.reset) continue;
      next = setPane(next, k, { layer: a.layer, projection });
      next = setPane(next, k, { nav: freshNav(next, k, a.layer) });
    }
    return next === s ? s : { ...next, hover: null };
  },
  projection: (s, a) => {
    let next = s;
    s.panes.forEach((p, k) => { next = HANDLERS.layer(next, { layer: p.layer, projection: a.projection, pane: k }); });
    return next;
  },
  navigate: (s, a) => navigateLinked(s, a.pane, (st, i) => ({ ...st.panes[i].nav, ...a.nav })),
  window: (s, a) => navigateLinked(s, a.pane ?? 0, (st, i) => {
    const dims = dimsOf(st, i), size = Math.max(1, Math.min(64, a.windowSize | 0 || st.panes[i].nav.windowSize));
    const g = Math.min(size, dims), clamp = (v) => Math.max(0, Math.min(Math.max(0, dims - g), v | 0));
    return { ...st.panes[i].nav, windowSize: size, colStart: clamp(a.colStart), rowStart: clamp(a.rowStart), ...NAV_FIT };
  }),
  fit: (s, a) => navigateLinked(s, a.pane ?? 0, (st, i) => ({ ...st.panes[i].nav, ...NAV_FIT })),
  goto: (s, a) => navigateLinked(s, a.pane ?? 0, (st, i) => centreOn(st, i, a.x, a.y, a.zoom !== false)),
  // Centre the view on a point (x, y) in dimension units (the overview's drag), keeping the zoom.
  centre: (s, a) => navigateLinked(s, a.pane ?? 0, (st, i) => {
    const dims = dimsOf(st, i), nav = st.panes[i].nav;
    if (dims <= 2) return nav;
    const g = Math.min(nav.windowSize, dims), clamp = (v) => Math.max(0, Math.min(dims - g, v));
    const colStart = clamp(Math.floor(a.x - g / 2)), rowStart = clamp(Math.floor(a.y - g / 2));
    return { ...nav, colStart, rowStart, cx: (a.x - colStart) / g, cy: (a.y - rowStart) / g };
  }),
  paneSize: (s, a) => {
    const old = s.panes[a.pane].size;
    return old && old.w === a.size.w && old.h === a.size.h ? s : setPane(s, a.pane, { size: a.size });
  },
  select: (s, a) => ({
    ...s, interactive: true,
    selection: { rows: mergeRows(s.selection.rows, a.rows, a.mode || "replace"), version: s.selection.version + 1 },
  }),
  click: (s, a) => ({ ...s, clicked: a.row === null ? null : { pane: a.pane, row: a.row }, focus: a.pane ?? s.focus }),
  channel: (s, a) => ({ ...s, channel: { pane: a.pane, layer: a.layer, c: a.c }, focus: a.pane }),
  tab: (s, a) => ({ ...s, tab: a.tab }),
  set: (s, a) => ({ ...s, view: { ...s.view, [a.key]: a.value }, interactive: a.key === "budget" ? false : s.interactive }),
  step: (s, a) => ({ ...s, step: a.step, interactive: true }),
  focus: (s, a) => (s.focus === a.pane ? s : { ...s, focus: a.pane }),
  paneData: (s, a) => {
    const d = s.panes[a.pane].data;
    if (d.key === a.key && d.status === a.status && d.message === a.message) return s;
    return setPane(s, a.pane, { data: { key: a.key, status: a.status, message: a.message || "" } });
  },
  mapsZoom: (s, a) => ({ ...s, mapsZoom: Math.max(1, Math.min(16, a.zoom)) }),
  sortRanking: (s, a) => ({
    ...s, rankingSort: { key: a.key, desc: s.rankingSort.key === a.key ? !s.rankingSort.desc : true },
  }),
  hover: (s, a) => (s.hover === a.hover ? s : { ...s, hover: a.hover }),
  interact: (s) => (s.interactive ? s : { ...s, interactive: true }),
  refine: (s) => (s.interactive ? { ...s, interactive: false } : s),
  animate: (s, a) => ({ ...s, animUntil: a.until, interactive: true }),
  arrived: (s) => ({ ...s, arrived: s.arrived + 1 }),
  notice: (s, a) => ({ ...s, notice: a.notice }),
  attr: (s, a) => ({ ...s, attr: { ...s.attr, ...a.patch } }),
  plot: (s, a) => ({ ...s, plot: { ...s.plot, ...a.patch } }),
  weights: (s, a) => ({ ...s, weights: { ...s.weights, ...a.patch } }),
};

export function reducer(state, action) {
  const handler = HANDLERS[action.type];
  if (!handler) throw new Error(`unknown action ${action.type}`);
  return handler(state, action);
}

export const ACTIONS = Object.keys(HANDLERS);
