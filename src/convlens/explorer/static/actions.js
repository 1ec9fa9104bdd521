// Action creators that need the data cache (row maps between the panes' runs, labels):
// they compute the action from the state and the data, dispatch it, and time it.
import { paneRows, toPrimaryRows } from "./data.js";

export const timings = { lastHighlight: null, firstFrameMs: null };

// Select `rows` (pane k's own probe rows). The selection is held over the first pane's rows.
// Resolves, one animation frame later, with the timing record (the panes draw synchronously
// on a selection: see pane.js).
export function selectPaneRows(store, data, k, rows, mode = "replace", t0 = performance.now()) {
  const primary = toPrimaryRows(store.get(), data, k, rows);
  const selected = performance.now();
  store.dispatch({ type: "select", rows: primary, mode });
  const drawn = performance.now();
  const state = store.get();
  const record = {
    selectMs: selected - t0, drawnMs: drawn - t0, presentedMs: null, images: state.selection.rows.length,
    budget: timings.budget ?? null, fullBudget: state.view.budget, drawn: timings.drawn ?? null, panes: state.panes.length,
  };
  timings.lastHighlight = record;
  return new Promise((resolve) => requestAnimationFrame(() => {
    record.presentedMs = performance.now() - t0;
    resolve(record);
  }));
}

export function selectClass(store, data, k, label, mode = "replace") {
  const t0 = performance.now(), labels = data.labelsOf(store.get(), k);
  if (!labels) return Promise.resolve(null);
  const rows = [];
  for (let i = 0; i < labels.labels.length; i++) if (labels.labels[i] === label) rows.push(i);
  return selectPaneRows(store, data, k, rows, mode, t0);
}

// Select the images of true class t predicted as p in pane k.
export function selectConfusion(store, data, k, t, p, mode = "replace") {
  const labels = data.labelsOf(store.get(), k);
  if (!labels || !labels.predictions) return Promise.resolve(null);
  const rows = [];
  for (let i = 0; i < labels.labels.length; i++) if (labels.labels[i] === t && labels.predictions[i] === p) rows.push(i);
  return selectPaneRows(store, data, k, rows, mode);
}

// A feature map was clicked: its channel panel, its layer (raw dimensions), its diagonal cell.
export function goToDimension(store, k, layer, d) {
  store.dispatch({ type: "channel", pane: k, layer, c: d });
  showLayer(store, k, layer, "raw");
  store.dispatch({ type: "goto", pane: k, x: d, y: d });
}

// A side panel asks for a layer: every pane shows it, unless the panes show different
// layers (A/B with a layer per pane), then only pane k.
export function showLayer(store, k, layer, projection) {
  const layers = new Set(store.get().panes.map((p) => p.layer));
  const pane = layers.size > 1 ? k : undefined;
  store.dispatch({ type: "layer", layer, projection, pane });
}

export { paneRows };
