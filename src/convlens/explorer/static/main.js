// The explorer's front end: panes (one per shown run), loading, the timeline, interactions
// and linking. A selection is a set of images held as a mask over the first pane's probe
// rows; every other pane maps it through dataset indices, so one selection links every
// cell, every layer, every snapshot and both runs of the A/B view.
import { getBinary, getJSON, postBinary } from "./api.js";
import { FeatureMaps } from "./featuremaps.js";
import { PALETTE, Renderer } from "./gl.js";
import { drawImage, rfBox, strokeBox } from "./images.js";
import { PointCloud } from "./points.js";
import { Matrix, REFINE_MS } from "./matrix.js";
import { Panels } from "./panels.js";

const $ = (id) => document.getElementById(id);
const T0 = performance.now();
export const ANIMATION_MS = 600;

const app = {
  runs: [], panes: [], layer: null, projection: "raw", step: 0,
  nav: { cam: { cx: 0.5, cy: 0.5, scale: 100 }, windowSize: 20, colStart: 0, rowStart: 0 },
  mask: null, rows: [], maps: null, panels: null, focus: 0, clicked: null,
  firstFrameMs: null, lastHighlight: null, anim: null, showDisplacement: false,
};
app.renderer0 = () => app.panes[0].renderer;
app.selectedCount = (pane) => pane.rows.length;

function setStatus(text) { $("status").textContent = text; }

// ------------------------------------------------------------------ panes
function paneDom(index, run) {
  const root = document.createElement("div");
  root.className = "pane";
  root.dataset.pane = index;
  const suffix = index === 0 ? "" : `-${index}`;
  root.innerHTML = `<div class="pane-title"></div><div class="plot"><canvas class="gl" id="gl${suffix}"></canvas>` +
    `<canvas class="overlay" id="overlay${suffix}"></canvas><div class="lod"></div><div class="missing" hidden></div></div>`;
  root.querySelector(".pane-title").textContent = `${"AB"[index] ?? index}: ${run.name}`;
  $("panes").append(root);
  return {
    root, plot: root.querySelector(".plot"), glCanvas: root.querySelector(".gl"),
    overlay: root.querySelector(".overlay"), lod: root.querySelector(".lod"),
    missing: root.querySelector(".missing"), title: root.querySelector(".pane-title"),
  };
}

async function loadAtlas(pane) {
  const first = await getBinary(`/api/runs/${pane.rid}/images.bin?page=0`);
  const px = first.arrays.pixels, [, h, w, c] = px.shape, n = first.header.n_images;
  const atlas = { pixels: new Uint8Array(n * h * w * c), n, h, w, c, loaded: px.shape[0] };
  atlas.pixels.set(px.data, 0);
  // the rest of the atlas arrives in pages in the background (hover shows what has arrived)
  atlas.done = (async () => {
    for (let p = 1; p < first.header.pages; p++) {
      const m = await getBinary(`/api/runs/${pane.rid}/images.bin?page=${p}`);
      atlas.pixels.set(m.arrays.pixels.data, m.header.start * h * w * c);
      atlas.loaded = m.header.start + m.arrays.pixels.shape[0];
    }
  })();
  return atlas;
}

async function loadLabels(pane, checkpoint) {
  const m = await getBinary(`/api/runs/${pane.rid}/labels.bin?checkpoint=${encodeURIComponent(checkpoint)}`);
  pane.labels = m.arrays.labels.data;
  pane.indices = m.arrays.indices.data;
  pane.predictions = m.arrays.predictions ? m.arrays.predictions.data : null;
}

async function createPane(index, rid) {
  const run = app.runs[rid];
  const pane = { index, rid, run, ...paneDom(index, run), clouds: new Map(), cloud: null, rows: [], mask: null };
  pane.checkpoint = run.checkpoint;
  pane.renderer = new Renderer(pane.glCanvas);
  pane.matrix = new Matrix(app, pane, app.nav, {
    onPick: (hit, e, p) => {
      if (hit) {
        const row = Math.floor(hit.pid / p.cloud.positions);
        app.focus = p.index;
        app.clicked = { pane: p.index, row };
        selectPaneRows(p, [row], modeOf(e));
        app.panels.imageClicked();
      } else if (modeOf(e) === "replace") selectPaneRows(p, []);
    },
    onLasso: (hit, e, p, t0) => highlight(() => applySelection(p, hit, modeOf(e)), t0, p),
    onHover: showHover,
  });
  await loadLabels(pane, pane.checkpoint);
  pane.renderer.setLabels(pane.labels);
  return pane;
}

// Row maps between a pane and the first pane, through dataset indices (-1: not probed there).
function linkPanes() {
  const first = app.panes[0], where = new Map();
  first.indices.forEach((d, r) => where.set(d, r));
  for (const pane of app.panes) {
    if (pane.index === 0) { pane.toPrimary = null; pane.fromPrimary = null; continue; }
    pane.toPrimary = new Int32Array(pane.indices.length).fill(-1);
    pane.fromPrimary = new Int32Array(first.indices.length).fill(-1);
    pane.indices.forEach((d, r) => {
      const p = where.get(d);
      if (p !== undefined) { pane.toPrimary[r] = p; pane.fromPrimary[p] = r; }
    });
  }
}

async function loadCloud(pane, name, projection, checkpoint) {
  const key = `${name}|${projection}|${checkpoint}`;
  if (!pane.clouds.has(key)) {
    const layer = pane.run.layers.find((l) => l.name === name);
    const url = `/api/runs/${pane.rid}/layers/${encodeURIComponent(name)}/points.bin?proj=${projection}` +
      `&checkpoint=${encodeURIComponent(checkpoint)}`;
    pane.clouds.set(key, getBinary(url).then((m) => new PointCloud(m, layer)));
    if (pane.clouds.size > 4) pane.clouds.delete(pane.clouds.keys().next().value);
  }
  return pane.clouds.get(key);
}

function hasLayer(pane, name) { return pane.run.layers.some((l) => l.name === name); }

async function setLayer(name, projection = app.projection, keepView = false) {
  setStatus(`loading ${name}…`);
  const clouds = await Promise.all(app.panes.map((p) =>
    hasLayer(p, name) ? loadCloud(p, name, projection, p.checkpoint) : null));
  app.layer = name;
  app.projection = projection;
  app.panes.forEach((p, k) => {
    const cloud = clouds[k];
    p.missing.hidden = !!cloud;
    p.missing.textContent = cloud ? "" : `run ${p.run.name} has no layer ${name}`;
    p.cloud = cloud;
    if (!cloud) { p.matrix.cloud = null; p.renderer.cloud = null; return; }
    p.renderer.setPoints(cloud);
    p.matrix.setCloud(cloud, keepView);
  });
  $("layer-select").value = name;
  $("projection").value = projection;
  for (const li of $("layers").children) li.classList.toggle("active", li.dataset.layer === name);
  for (const el of document.querySelectorAll("#maps .layer-name")) el.classList.toggle("active", el.dataset.layer === name);
  const cloud = app.panes[0].cloud, l = cloud ? cloud.layer : null;
  if (cloud) {
    setStatus(`${name}: ${cloud.dims} ${projection === "pca" ? "PCA components" : "dimensions"}` +
      ` · ${cloud.nImages.toLocaleString()} images` + (l.spatial ? ` × ${l.grid[0]}×${l.grid[1]} positions` : "") +
      (l.sampled ? ` · ${storedText(l)}` : "") +
      ` · ${cloud.dtype === "u8" ? "8-bit" : "float16"} · ${app.renderer0().rendererName}`);
  }
  await frameAll();
  if (app.maps.message) app.maps.show(app.maps.message, name);
  app.panels.layerChanged();
}

// "2.1M of 31M positions stored (6.8%)": how much of a sampled layer the probe kept.
function storedText(l) {
  const short = (n) => n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n}`;
  return `${short(l.stored_points)} of ${short(l.total_points)} positions stored (${(100 * l.fraction).toFixed(1)}%)`;
}

// ------------------------------------------------------------------ drawing all panes
function renderAll() { for (const p of app.panes) p.matrix.render(); }

function frameAll() {
  return Promise.all(app.panes.map((p) => p.matrix.frame())).then((d) => d[0]);
}

// A fast preview at the interactive budget now, the full budget once idle.
let refineTimer = null;
function interact() {
  for (const p of app.panes) p.matrix.interactive = true;
  clearTimeout(refineTimer);
  refineTimer = setTimeout(() => {
    if (app.anim && app.currentMix() < 1) { interact(); return; }
    for (const p of app.panes) { p.matrix.interactive = false; p.matrix.overviewDirty = true; }
    renderAll();
  }, REFINE_MS);
}

// Drop the fast preview now: the full budget in every pane (tests and benchmarks).
function settle() {
  clearTimeout(refineTimer);
  if (app.anim && app.currentMix() < 1) app.anim = null;
  for (const p of app.panes) { p.matrix.interactive = false; p.matrix.overviewDirty = true; }
  return frameAll();
}

app.navigated = () => { interact(); renderAll(); };
app.frameAll = frameAll;
app.currentMix = () => (app.anim ? Math.min(1, (performance.now() - app.anim.start) / app.anim.ms) : 1);
app.animationFrame = () => { interact(); renderAll(); };

// Run `change` (a selection change), then draw every pane at the interactive budget and
// time it: JS work, GPU finished, and the next animation frame (the frame is presented).
function highlight(change, t0 = performance.now(), pane = app.panes[0]) {
  change();
  const selected = performance.now();
  interact();
  for (const p of app.panes) {
    if (p.matrix.pending) { cancelAnimationFrame(p.matrix.pending); p.matrix.pending = null; }
    p.matrix.draw();
  }
  for (const p of app.panes) p.renderer.finish();
  const drawn = performance.now();
  const m = pane.matrix;
  const record = {
    selectMs: selected - t0, drawnMs: drawn - t0, presentedMs: null, images: app.rows.length,
    budget: m.drawnBudget, fullBudget: m.fullBudget, drawn: { ...m.drawn }, panes: app.panes.length,
  };
  app.lastHighlight = record;
  return new Promise((resolve) => requestAnimationFrame(() => {
    record.presentedMs = performance.now() - t0;
    resolve(record);
  }));
}

// ------------------------------------------------------------------ selection (brushing)
function modeOf(e) { return !e ? "replace" : e.shiftKey ? "add" : (e.altKey || e.ctrlKey || e.metaKey) ? "remove" : "replace"; }

// `hit` (Uint8Array over `pane`'s rows) -> the selection over the first pane's rows.
function applySelection(pane, hit, mode) {
  const m = app.mask;
  if (mode === "replace") m.fill(0);
  const value = mode === "remove" ? 0 : 1;
  if (!pane.toPrimary) { for (let i = 0; i < m.length; i++) if (hit[i]) m[i] = value; }
  else for (let i = 0; i < hit.length; i++) if (hit[i] && pane.toPrimary[i] >= 0) m[pane.toPrimary[i]] = value;
  app.rows = [];
  for (let i = 0; i < m.length; i++) if (m[i]) app.rows.push(i);
  for (const p of app.panes) {
    if (!p.fromPrimary) { p.mask = m; p.rows = app.rows; }
    else {
      p.mask = new Uint8Array(p.labels.length);
      for (const r of app.rows) if (p.fromPrimary[r] >= 0) p.mask[p.fromPrimary[r]] = 1;
      p.rows = [];
      for (let i = 0; i < p.mask.length; i++) if (p.mask[i]) p.rows.push(i);
    }
    p.renderer.setSelection(p.mask, p.rows);
    p.matrix.overviewDirty = true;
  }
  $("selection-info").textContent = app.rows.length ? `${app.rows.length.toLocaleString()} images selected` : "no selection";
  updateLegendCounts();
  scheduleMaps();
  app.panels.selectionChanged();
}

function selectPaneRows(pane, rows, mode = "replace") {
  const hit = new Uint8Array(pane.labels.length);
  for (const r of rows) hit[r] = 1;
  return highlight(() => applySelection(pane, hit, mode), performance.now(), pane);
}

function selectClass(k, mode = "replace", pane = app.panes[app.focus] || app.panes[0]) {
  const t0 = performance.now(), hit = new Uint8Array(pane.labels.length), labels = pane.labels;
  for (let i = 0; i < labels.length; i++) if (labels[i] === k) hit[i] = 1;
  return highlight(() => applySelection(pane, hit, mode), t0, pane);
}

app.selectPaneRows = selectPaneRows;
app.applySelection = (pane, hit, mode) => highlight(() => applySelection(pane, hit, mode), performance.now(), pane);
app.modeOf = modeOf;

let mapsTimer = null, mapsToken = 0;
function scheduleMaps() {
  clearTimeout(mapsTimer);
  mapsTimer = setTimeout(async () => {
    const token = ++mapsToken, pane = app.panes[app.focus] || app.panes[0], rows = pane.rows;
    if (!rows.length) { app.maps.clear(); $("maps-title").textContent = "Feature maps"; $("maps-hint").hidden = false; return; }
    let message;
    try {
      message = await postBinary(`/api/runs/${pane.rid}/maps?checkpoint=${encodeURIComponent(pane.checkpoint)}`, { rows });
    } catch (err) {  // e.g. a selection above the server's cap: say so where the maps go
      if (token !== mapsToken) return;
      app.maps.clear();
      $("maps-title").textContent = `Feature maps: ${err.message}`;
      return;
    }
    if (token !== mapsToken) return;
    $("maps-hint").hidden = true;
    const who = app.panes.length > 1 ? ` · ${pane.run.name}` : "";
    $("maps-title").textContent = rows.length === 1
      ? `Image #${rows[0]} (class ${pane.run.classes[pane.labels[rows[0]]] ?? "?"})${who}`
      : `Average of ${rows.length.toLocaleString()} images${who}`;
    app.maps.show(message, app.layer);
  }, 120);
}

// ------------------------------------------------------------------ displacement (A/B)
// Lines from each image's position in the other pane (white dot) to its position in this one,
// in the same cell (both normalised per dimension): how far the two models move one image.
const MAX_SEGMENTS = 20_000;
app.drawDisplacement = (matrix, ctx, cells) => {
  if (!app.showDisplacement || app.panes.length < 2) return;
  const pane = matrix.pane, other = app.panes[1 - pane.index];
  const a = other.cloud, b = pane.cloud;
  if (!a || !b || a.dims !== b.dims || a.positions !== b.positions) return;
  const [r0, c0, nr, nc] = cells, P = b.positions;

  let rows = app.rows;
  if (!rows.length) { rows = []; const step = Math.max(1, Math.ceil(app.mask.length / 300)); for (let r = 0; r < app.mask.length; r += step) rows.push(r); }
  const perCell = Math.max(1, Math.floor(MAX_SEGMENTS / Math.max(1, nr * nc)));
  const pairs = [];
  for (const r of rows) {
    const pr = pane.fromPrimary ? pane.fromPrimary[r] : r, orow = other.fromPrimary ? other.fromPrimary[r] : r;
    if (pr < 0 || orow < 0) continue;
    for (let q = 0; q < P && pairs.length < perCell; q++) pairs.push([pr * P + q, orow * P + q, pane.labels[pr]]);
    if (pairs.length >= perCell) break;
  }
  ctx.lineWidth = 1;
  ctx.strokeStyle = "rgba(255, 208, 0, 0.55)";
  ctx.fillStyle = "rgba(255, 255, 255, 0.8)";
  for (let i = r0; i < r0 + nr; i++) {
    for (let j = c0; j < c0 + nc; j++) {
      const [xd, yd] = matrix.cellDims(i, j), diag = xd === yd;
      const fxb = b.coord(xd), fyb = diag ? null : b.coord(yd), fxa = a.coord(xd), fya = diag ? null : a.coord(yd);
      for (const [pb, pa] of pairs) {
        const yb = diag ? 0.5 : fyb(pb), ya = diag ? 0.5 : fya(pa);
        const [x0, y0] = matrix.cellToScreen(i, j, fxa(pa), ya), [x1, y1] = matrix.cellToScreen(i, j, fxb(pb), yb);
        ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
        ctx.fillRect(x0 - 1, y0 - 1, 2, 2);   // where the other run puts the image
      }
    }
  }
};

// ------------------------------------------------------------------ timeline
function snapshotsOf(pane) { return pane.run.checkpoints.map((c) => c.name); }

async function setSnapshot(k, animate = true) {
  const names = snapshotsOf(app.panes[0]);
  k = Math.max(0, Math.min(names.length - 1, k));
  app.step = k;
  $("snapshot").value = k;
  const targets = app.panes.map((p) => { const list = snapshotsOf(p); return list[Math.min(k, list.length - 1)]; });
  const clouds = await Promise.all(app.panes.map((p, i) =>
    p.cloud ? loadCloud(p, app.layer, app.projection, targets[i]) : null));
  await Promise.all(app.panes.map((p, i) => loadLabels(p, targets[i])));
  let moving = false;
  app.panes.forEach((p, i) => {
    p.checkpoint = targets[i];
    p.renderer.setLabels(p.labels);
    p.renderer.setSelection(p.mask, p.rows);
    if (!clouds[i]) return;
    p.cloud = clouds[i];
    moving = p.renderer.setPoints(clouds[i], animate) || moving;
    p.matrix.setCloud(clouds[i], true);
  });
  app.anim = moving ? { start: performance.now(), ms: ANIMATION_MS } : null;
  const step = app.panes[0].run.checkpoints[k].step;
  $("snapshot-info").textContent = `${k + 1} / ${names.length} · step ${step}` +
    (app.panes.length > 1 ? ` · ${app.panes.map((p) => p.checkpoint).join(" | ")}` : "");
  interact();
  renderAll();
  scheduleMaps();
  app.panels.snapshotChanged();
}

let playTimer = null;
function play() {
  if (playTimer) { clearInterval(playTimer); playTimer = null; $("snap-play").textContent = "play"; return; }
  const n = snapshotsOf(app.panes[0]).length;
  if (app.step >= n - 1) setSnapshot(0, false);
  $("snap-play").textContent = "stop";
  playTimer = setInterval(() => {
    if (app.step >= n - 1) { play(); return; }
    setSnapshot(app.step + 1, true);
  }, ANIMATION_MS + 400);
}

function buildTimeline() {
  const run = app.panes[0].run, list = run.checkpoints;
  $("timeline").hidden = list.length < 2;
  $("snapshot").replaceChildren(...list.map((c, k) => new Option(`${c.name} (step ${c.step})`, k)));
  app.step = Math.max(0, list.findIndex((c) => c.name === app.panes[0].checkpoint));
  $("snapshot").value = app.step;
  $("snapshot").onchange = (e) => setSnapshot(+e.target.value);
  $("snap-first").onclick = () => setSnapshot(0);
  $("snap-prev").onclick = () => setSnapshot(app.step - 1);
  $("snap-next").onclick = () => setSnapshot(app.step + 1);
  $("snap-play").onclick = play;
  $("snapshot-info").textContent = `${app.step + 1} / ${list.length}`;
}

// ------------------------------------------------------------------ legend and layers
function buildLegend() {
  const pane = app.panes[0], counts = new Array(pane.run.classes.length).fill(0);
  for (const l of pane.labels) if (l >= 0 && l < counts.length) counts[l]++;
  $("legend").replaceChildren(...pane.run.classes.map((name, k) => {
    const li = document.createElement("li");
    const c = PALETTE[k % PALETTE.length].map((v) => Math.round(v * 255));
    li.innerHTML = `<span class="swatch" style="background: rgb(${c})"></span><span></span><span class="count"></span>`;
    li.children[1].textContent = name;
    li.dataset.k = k;
    li.dataset.total = counts[k];
    li.title = "click: select this class; shift: add; alt: remove";
    li.onclick = (e) => selectClass(k, modeOf(e), app.panes[0]);
    return li;
  }));
  updateLegendCounts();
}

function updateLegendCounts() {
  const pane = app.panes[0], sel = new Array(pane.run.classes.length).fill(0);
  for (const r of app.rows) sel[pane.labels[r]]++;
  for (const li of $("legend").children) {
    const k = +li.dataset.k;
    li.querySelector(".count").textContent = app.rows.length ? `${sel[k]} / ${li.dataset.total}` : li.dataset.total;
  }
}

function buildLayers() {
  const layers = app.panes[0].run.layers;
  $("layers").replaceChildren(...layers.map((l) => {
    const li = document.createElement("li");
    li.dataset.layer = l.name;
    li.innerHTML = "<span></span><small></small>";
    li.children[0].textContent = l.name;
    li.children[1].textContent = l.spatial ? `${l.dims}×${l.grid[0]}×${l.grid[1]}` : `${l.dims}`;
    li.onclick = () => setLayer(l.name);
    return li;
  }));
  $("layer-select").replaceChildren(...layers.map((l) => new Option(l.name, l.name)));
}

// ------------------------------------------------------------------ hover details
function showHover(hit, clientX, clientY, pane) {
  const card = $("hover");
  if (!hit) { card.hidden = true; app.hover = null; return; }
  const { pid, xdim, ydim } = hit, cloud = pane.cloud, P = cloud.positions, row = Math.floor(pid / P);
  const atlas = pane.atlas, scale = Math.max(1, Math.floor(112 / Math.max(atlas.h, atlas.w)));
  const canvas = $("hover-image"), ctx = drawImage(canvas, atlas, row, scale);
  let box = null, where = "";
  const layer = cloud.layer;
  if (layer.spatial && layer.rf_size) {
    const pos = cloud.positionOf(pid), i = Math.floor(pos / layer.grid[1]), j = pos % layer.grid[1];
    box = rfBox(layer, i, j, atlas.h, atlas.w);
    strokeBox(ctx, box, scale);
    where = ` · position (${i}, ${j})`;
  }
  const fmt = (d) => cloud.value(d, cloud.coord(d)(pid)).toPrecision(3);
  $("hover-text").textContent = `#${row} · class ${pane.run.classes[pane.labels[row]] ?? "?"}${where} · ` +
    (xdim === ydim ? `d${xdim} = ${fmt(xdim)}` : `d${xdim} = ${fmt(xdim)}, d${ydim} = ${fmt(ydim)}`);
  const view = $("view").getBoundingClientRect();
  card.hidden = false;
  card.style.left = `${Math.min(clientX - view.left + 14, view.width - 190)}px`;
  card.style.top = `${Math.min(clientY - view.top + 14, view.height - 160)}px`;
  app.hover = { row, pid, box, layer: layer.name, pane: pane.index };
}

// ------------------------------------------------------------------ start
function requestedRuns(count) {
  // ?runs=0,1 picks the runs shown side by side (A/B); default: the first two opened.
  const q = new URLSearchParams(location.search).get("runs");
  const ids = q ? q.split(",").map(Number).filter((i) => i >= 0 && i < count) : [0, 1].filter((i) => i < count);
  return ids.length ? ids.slice(0, 2) : [0];
}

async function start() {
  const { runs } = await getJSON("/api/runs");
  app.runs = runs;
  const ids = requestedRuns(runs.length);
  app.panes = await Promise.all(ids.map((rid, k) => createPane(k, rid)));
  $("run-name").textContent = app.panes.map((p) => `${p.run.name} · ${p.checkpoint}`).join("  vs  ");
  $("ab-controls").hidden = app.panes.length < 2;
  document.body.classList.toggle("ab", app.panes.length > 1);
  linkPanes();
  app.maps = new FeatureMaps($("maps"), {
    onLayer: (name) => setLayer(name),
    onDimension: async (name, d) => {
      app.panels.showChannel(app.panes[app.focus] || app.panes[0], name, d);
      await setLayer(name, "raw");
      app.panes[0].matrix.goToDiagonal(d);
    },
  });
  app.panels = new Panels(app);
  const layers = app.panes[0].run.layers;
  const layerDefault = layers[layers.length - 1].name;
  const [atlas] = await Promise.all([
    loadAtlas(app.panes[0]),
    ...app.panes.map((p) => (hasLayer(p, layerDefault) ? loadCloud(p, layerDefault, "raw", p.checkpoint) : null)),
  ]);
  app.panes[0].atlas = atlas;
  for (const p of app.panes.slice(1)) {
    const same = p.run.data === app.panes[0].run.data && p.fromPrimary.every((r, i) => r === i) && p.indices.length === atlas.n;
    p.atlas = same ? atlas : await loadAtlas(p);
  }
  app.mask = new Uint8Array(app.panes[0].labels.length);
  for (const p of app.panes) {
    p.mask = p.index === 0 ? app.mask : new Uint8Array(p.labels.length);
    p.renderer.setSelection(p.mask, []);
  }
  buildLayers();
  buildLegend();
  buildTimeline();
  bindControls();
  app.panels.build();
  await setLayer(layerDefault);
  app.firstFrameMs = performance.now() - T0;
  hook.readyResolve();
}

function bindControls() {
  $("layer-select").onchange = (e) => setLayer(e.target.value);
  $("projection").onchange = (e) => setLayer(app.layer, e.target.value);
  $("point-size").oninput = () => app.navigated();
  $("opacity").oninput = () => app.navigated();
  const budgets = [250e3, 1e6, 4e6, 16e6, 32e6, 64e6];
  const initial = app.renderer0().software ? 1e6 : 16e6;
  $("budget").replaceChildren(...budgets.map((b) => new Option(`${b / 1e6}M points`, b, b === initial, b === initial)));
  $("budget").onchange = () => { for (const p of app.panes) p.matrix.overviewDirty = true; renderAll(); };
  const setTool = (tool) => {
    for (const p of app.panes) p.matrix.setTool(tool);
    $("tool-pan").classList.toggle("on", tool === "pan");
    $("tool-lasso").classList.toggle("on", tool === "lasso");
  };
  app.setTool = setTool;
  $("tool-pan").onclick = () => setTool("pan");
  $("tool-lasso").onclick = () => setTool("lasso");
  $("displacement").onchange = (e) => { app.showDisplacement = e.target.checked; renderAll(); };
  $("clear-selection").onclick = () => selectPaneRows(app.panes[0], []);
  $("maps-in").onclick = () => app.maps.setZoom(app.maps.zoom + 1);
  $("maps-out").onclick = () => app.maps.setZoom(app.maps.zoom - 1);
  $("maps").addEventListener("wheel", (e) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    app.maps.setZoom(app.maps.zoom + (e.deltaY < 0 ? 1 : -1));
  }, { passive: false });
  for (const id of ["col-start", "row-start", "window-size"]) $(id).onchange = () => app.panes[0].matrix.setWindowFromInputs();
  window.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === "l" || e.key === "L") setTool("lasso");
    if (e.key === "p" || e.key === "P") setTool("pan");
    if (e.key === "Escape") selectPaneRows(app.panes[0], []);
  });
}

// ------------------------------------------------------------------ test and benchmark hook
const hook = {};
hook.ready = new Promise((resolve) => { hook.readyResolve = resolve; });
const paneOf = (k) => app.panes[k] || app.panes[0];
const settled = (promise) => Promise.resolve(promise).then(settle);
Object.assign(hook, {
  app,
  settle,
  setLayer: (name, projection = "raw") => settled(setLayer(name, projection)),
  // the selection as rows of pane `k` (default: the first pane)
  selection: (k = 0) => paneOf(k).rows.slice(),
  selectClass: (k, mode = "replace", pane = 0) => settled(selectClass(k, mode, paneOf(pane))),
  selectRows: (rows, mode = "replace", pane = 0) => settled(selectPaneRows(paneOf(pane), rows, mode)),
  cellToClient: (i, j, tx, ty, pane = 0) => paneOf(pane).matrix.cellToClient(i, j, tx, ty),
  lastLasso: () => app.panes.map((p) => p.matrix.lastLasso).find((l) => l) ?? null,
  hover: () => app.hover,
  view: (pane = 0) => paneOf(pane).matrix.describe(),
  setBudget: (b) => { for (const p of app.panes) p.matrix.budgetOverride = b; return settle(); },
  setWindow: (colStart, rowStart, size) => settled(app.panes[0].matrix.setWindow(colStart, rowStart, size)),
  goToDiagonal: (d) => settled(app.panes[0].matrix.goToDiagonal(d)),
  fit: () => { app.panes[0].matrix.fit(); return settle(); },
  setTool: (tool) => app.setTool(tool),
  timings: () => ({ firstFrameMs: app.firstFrameMs, lastHighlight: app.lastHighlight }),
  benchFrames: (n, pane = 0) => paneOf(pane).matrix.bench(n),
  // timeline: move every pane to snapshot k; resolves once the animation has ended
  setSnapshot: async (k, animate = true) => {
    await setSnapshot(k, animate);
    if (app.anim) await new Promise((r) => setTimeout(r, ANIMATION_MS + 50));
    return settle();
  },
  snapshot: () => ({ step: app.step, checkpoints: app.panes.map((p) => p.checkpoint), mix: app.currentMix() }),
  // what the GPU computes for the first `count` points of cell (i, j): [tx, ty, pid] triples
  drawnPositions: (i, j, count, pane = 0) => {
    const m = paneOf(pane).matrix;
    return Array.from(paneOf(pane).renderer.capture(m.glView(), i, j, count));
  },
  showTab: (name) => app.panels.showTab(name),
  panels: () => app.panels,
  errors: [],
});
window.convlens = hook;
window.addEventListener("error", (e) => hook.errors.push(String(e.message)));
start().catch((err) => { setStatus(`error: ${err.message}`); hook.errors.push(String(err.message)); console.error(err); });

// The training dashboard is served only for runs with a training log: link it when it is.
fetch("api/runs").then((r) => r.json()).then((info) => {
  document.getElementById("dashboard-link").hidden = !info.dashboard;
}).catch(() => {});
