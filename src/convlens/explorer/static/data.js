// The data cache: everything large the views draw (point values, labels, pixels, the pair
// ranking), fetched once and kept by key. It is not state: the store names what each pane
// shows, the loader below fetches it, and an action says when it arrived. Components read
// the cache; only the loader and `want` write to it.
import { getBinary, getJSON } from "./api.js";
import { checkpointOf, layerOf } from "./store.js";
import { PointCloud } from "./points.js";

const q = encodeURIComponent;
export const LIVE_POLL_MS = 1000;

export class Data {
  constructor(store) {
    this.store = store;
    this.values = new Map();     // key -> value that arrived
    this.errors = new Map();     // key -> message of a failed fetch
    this.pending = new Map();    // key -> promise
    this.clouds = new Map();     // cloud key -> PointCloud (the last few)
    this.labels = new Map();     // `${rid}|${checkpoint}|v` -> {labels, indices, predictions}
    this.atlases = new Map();    // rid -> {pixels, n, h, w, c, loaded}
    this.rowmaps = new Map();    // rid -> {toPrimary, fromPrimary} (null for the first pane's run)
  }

  // A value fetched on demand: returns it when it has arrived, else starts the fetch and
  // returns undefined (an "arrived" action follows). `make` is an async function.
  want(key, make) {
    if (this.values.has(key)) return this.values.get(key);
    if (!this.pending.has(key) && !this.errors.has(key)) {
      this.pending.set(key, make().then((v) => { this.values.set(key, v); }, (err) => { this.errors.set(key, err.message); })
        .finally(() => { this.pending.delete(key); this.store.dispatch({ type: "arrived", key }); }));
    }
    return undefined;
  }
  error(key) { return this.errors.get(key); }
  drop(predicate) {
    for (const m of [this.values, this.errors, this.clouds, this.labels]) for (const k of [...m.keys()]) if (predicate(k)) m.delete(k);
  }

  // The pair ranking of a pane's layer at its checkpoint (a decoded message).
  ranking(state, k) {
    const key = paneKey(state, k);
    if (!key || state.panes[k].data.status !== "ready") return { key: null };
    const p = state.panes[k], ck = checkpointOf(state, k);
    const rkey = `ranking|${key}`;
    const value = this.want(rkey, () => getBinary(`/api/runs/${p.rid}/layers/${q(p.layer)}/ranking.bin?proj=${p.projection}&checkpoint=${q(ck.name)}`));
    return { key: rkey, value, error: this.error(rkey) };
  }

  cloudOf(state, k) { const key = state.panes[k].data.key; return key ? this.clouds.get(key) : null; }
  labelsOf(state, k) { const key = state.panes[k].data.key; return key ? this.labels.get(labelKey(key)) : null; }
  atlasOf(rid) { return this.atlases.get(rid) || null; }
  rowmapOf(rid) { return this.rowmaps.get(rid) || null; }
}

// What pane k shows, as one string: run, layer, projection, checkpoint and its version.
export function paneKey(state, k) {
  const p = state.panes[k], ck = checkpointOf(state, k);
  if (!p.layer || !ck) return null;
  return `${p.rid}|${p.layer}|${p.projection}|${ck.name}|${ck.version || 0}`;
}
const labelKey = (key) => { const [rid, , , ck, v] = key.split("|"); return `${rid}|${ck}|${v}`; };

// ------------------------------------------------------------------ the loader
// Watches the state and brings what each pane needs into the cache, one status per pane:
// ready, loading, waiting (a probe runs), missing (no such layer) or error.
export function startLoader(store, data) {
  const tokens = [];
  const check = (state) => {
    state.panes.forEach((p, k) => {
      const run = state.runs[p.rid];
      const set = (status, message, key = null) => store.dispatch({ type: "paneData", pane: k, key, status, message });
      if (!run || !run.ready) { set("waiting", run ? run.message : "loading…"); return; }
      if (!p.layer) { set("waiting", "loading…"); return; }
      if (!layerOf(state, k)) { set("missing", `run ${run.name} has no layer ${p.layer}: choose another layer for this pane`); return; }
      const ck = checkpointOf(state, k);
      if (!ck) { set("error", `run ${run.name} has no checkpoint to show`); return; }
      const why = unprobed(run, ck);
      if (why) { set("waiting", why); return; }
      const key = paneKey(state, k);
      if (p.data.key === key && (p.data.status === "ready" || p.data.status === "loading" || p.data.status === "error")) return;
      if (data.clouds.has(key) && data.labels.has(labelKey(key))) { set("ready", "", key); return; }
      const token = (tokens[k] = (tokens[k] || 0) + 1);
      set("loading", `loading ${p.layer} of ${run.name} (${ck.name})…`, key);
      Promise.all([loadCloud(data, state, k, key), loadLabels(data, p.rid, ck.name, key)]).then(() => {
        if (tokens[k] !== token) return;
        linkRows(data, store.get());
        set("ready", "", key);
      }, (err) => { if (tokens[k] === token) set("error", err.message, key); });
    });
  };
  store.subscribe((state, prev, action) => {
    if (action.type === "hover" || action.type === "arrived" || action.type === "interact" || action.type === "refine") return;
    check(state);
  });
  check(store.get());
}

// Why checkpoint `ck` cannot be shown now (null: it can).
function unprobed(run, ck) {
  const at = ck.total ? `: ${ck.done.toLocaleString()} of ${ck.total.toLocaleString()} images (${Math.floor((100 * ck.done) / ck.total)}%)` : "";
  switch (ck.state) {
    case "probed": return null;
    case "queued": return `${ck.name} of run ${run.name} is queued for its probe; it shows when probed`;
    case "probing": return `probing ${ck.name} of run ${run.name}${at || " (starting)"}`;
    case "reprobing": return `${ck.name} of run ${run.name} is being probed again; it reloads when that probe is done`;
    case "failed": return `the probe of ${ck.name} of run ${run.name} failed: ${ck.error}`;
    default: return `${ck.name} of run ${run.name} is not probed yet; it is probed when you step to it`;
  }
}

async function loadCloud(data, state, k, key) {
  if (data.clouds.has(key)) return data.clouds.get(key);
  const p = state.panes[k], ck = checkpointOf(state, k), layer = layerOf(state, k);
  const m = await getBinary(`/api/runs/${p.rid}/layers/${q(p.layer)}/points.bin?proj=${p.projection}&checkpoint=${q(ck.name)}`);
  const cloud = new PointCloud(m, layer);
  data.clouds.set(key, cloud);
  while (data.clouds.size > 6) data.clouds.delete(data.clouds.keys().next().value);
  return cloud;
}

async function loadLabels(data, rid, checkpoint, key) {
  const lk = labelKey(key);
  if (data.labels.has(lk)) return;
  const m = await getBinary(`/api/runs/${rid}/labels.bin?checkpoint=${q(checkpoint)}`);
  data.labels.set(lk, {
    labels: m.arrays.labels.data, indices: m.arrays.indices.data,
    predictions: m.arrays.predictions ? m.arrays.predictions.data : null,
  });
}

// Row maps between each pane's run and the first pane's, through dataset indices
// (-1: not probed there), so that one selection over the first pane's rows links both.
function linkRows(data, state) {
  const first = data.labelsOf(state, 0);
  if (!first) return;
  const primaryRid = state.panes[0].rid;
  data.rowmaps.set(primaryRid, null);
  state.panes.forEach((p, k) => {
    if (p.rid === primaryRid || data.rowmaps.has(p.rid)) return;
    const mine = data.labelsOf(state, k);
    if (!mine) return;
    const where = new Map();
    first.indices.forEach((d, r) => where.set(d, r));
    const toPrimary = new Int32Array(mine.indices.length).fill(-1);
    const fromPrimary = new Int32Array(first.indices.length).fill(-1);
    mine.indices.forEach((d, r) => {
      const pr = where.get(d);
      if (pr !== undefined) { toPrimary[r] = pr; fromPrimary[pr] = r; }
    });
    data.rowmaps.set(p.rid, { toPrimary, fromPrimary });
  });
}

// Selected rows of pane k (its own probe rows) from the selection over the first pane's rows.
export function paneRows(state, data, k) {
  const rows = state.selection.rows, map = data.rowmapOf(state.panes[k].rid);
  if (!map) return rows;
  const out = [];
  for (const r of rows) if (map.fromPrimary[r] >= 0) out.push(map.fromPrimary[r]);
  return Int32Array.from(out).sort();
}
// Pane k's rows -> the first pane's rows (for a selection made in pane k).
export function toPrimaryRows(state, data, k, rows) {
  const map = data.rowmapOf(state.panes[k].rid);
  if (!map) return Array.from(rows);
  const out = [];
  for (const r of rows) if (map.toPrimary[r] >= 0) out.push(map.toPrimary[r]);
  return out;
}

// ------------------------------------------------------------------ the pixel atlas
export async function loadAtlas(data, store, rid) {
  if (data.atlases.has(rid)) return data.atlases.get(rid);
  const first = await getBinary(`/api/runs/${rid}/images.bin?page=0`);
  const px = first.arrays.pixels, [, h, w, c] = px.shape, n = first.header.n_images;
  const atlas = { pixels: new Uint8Array(n * h * w * c), n, h, w, c, loaded: px.shape[0] };
  atlas.pixels.set(px.data, 0);
  data.atlases.set(rid, atlas);
  store.dispatch({ type: "arrived", key: `atlas|${rid}` });
  // the rest arrives in pages in the background (a hover shows what has arrived)
  atlas.done = (async () => {
    for (let p = 1; p < first.header.pages; p++) {
      const m = await getBinary(`/api/runs/${rid}/images.bin?page=${p}`);
      atlas.pixels.set(m.arrays.pixels.data, m.header.start * h * w * c);
      atlas.loaded = m.header.start + m.arrays.pixels.shape[0];
    }
  })();
  return atlas;
}

// ------------------------------------------------------------------ live status
// Polls /api/live. A run that became ready (or was rebuilt) reloads /api/runs; a
// checkpoint whose store was written again drops its cached arrays (its version moved).
export function startLive(store, data) {
  let lastText = "", lastVersion = null, stopped = false;
  const poll = async () => {
    if (stopped) return;
    let wait = LIVE_POLL_MS;
    try {
      const live = await getJSON("/api/live");
      wait = live.poll_ms || wait;
      const text = JSON.stringify(live);
      if (text !== lastText) {
        lastText = text;
        const state = store.get();
        const readyChanged = live.runs.some((r, i) => state.runs[i] && !!state.runs[i].ready !== r.ready);
        if (readyChanged || (lastVersion !== null && live.version !== lastVersion)) {
          const { runs } = await getJSON("/api/runs");
          store.dispatch({ type: "runs", runs });
        }
        lastVersion = live.version;
        dropRewritten(data, store.get(), live);
        store.dispatch({ type: "live", live });
      }
    } catch (err) {
      store.dispatch({ type: "notice", notice: { kind: "error", text: `the explorer server does not answer (${err.message})` } });
    }
    setTimeout(poll, wait);
  };
  poll();
  return () => { stopped = true; };
}

function dropRewritten(data, state, live) {
  if (!state.live) return;
  live.runs.forEach((run, rid) => {
    const before = state.live.runs[rid];
    if (!before) return;
    for (const c of run.checkpoints) {
      const old = before.checkpoints.find((o) => o.name === c.name);
      if (old && old.version !== c.version) data.drop((key) => String(key).includes(`|${c.name}|`));
    }
  });
}

// Ask the server to probe a checkpoint that is not probed yet (stepping to it).
export async function requestProbe(state, k) {
  const p = state.panes[k], ck = checkpointOf(state, k);
  if (!ck || ck.state !== "unprobed") return;
  await fetch(`/api/runs/${p.rid}/probe?checkpoint=${q(ck.name)}`, { method: "POST" });
}
