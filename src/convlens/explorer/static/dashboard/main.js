// The training dashboard: wires the legend, controls, curves, distributions, heatmaps
// and the live poll. window.dashboard exposes state for tests and benchmarks.

import { getJSON } from "./api.js";
import { Curves } from "./curves.js";
import { Distributions } from "./distributions.js";
import { Heatmaps } from "./heatmaps.js";

const PALETTE = ["#4e9bea", "#f0625d", "#5cc46c", "#f0a63c", "#b084e8", "#4cc9c0", "#e87cc0", "#c8c060"];
const POLL_MS = 1000;

const debug = {
  firstFrameMs: null, errors: [], drawn: {}, drawLog: [], polls: 0, distributions: null, heatmaps: null,
};
window.dashboard = debug;

const state = {
  runs: [],
  smooth: 0.6,
  hidden: new Set(),
  ignoreOutliers: true,
  logLoss: false,
  color: (rid) => PALETTE[rid % PALETTE.length],
  markDrawn(rid, tag, step) {
    const key = `${rid}|${tag}`;
    if (debug.drawn[key] === undefined || step > debug.drawn[key]) {
      debug.drawn[key] = step;
      debug.drawLog.push([rid, tag, step, Date.now()]);
      if (debug.drawLog.length > 2000) debug.drawLog.splice(0, 1000);
    }
  },
  markDistributions(runs, msgs) { debug.distributions = { runs: runs.map((r) => r.id), headers: msgs.map((m) => m && m.header), at: Date.now() }; },
  markHeatmaps(runs, msgs, scales) { debug.heatmaps = { runs: runs.map((r) => r.id), headers: msgs.map((m) => m.header || m), scales, at: Date.now() }; },
};

const $ = (id) => document.getElementById(id);

function report(err) {
  const text = err && err.message ? err.message : String(err);
  debug.errors.push(text);
  const box = $("db-errors");
  box.textContent = text;
  box.style.display = "block";
}

const curves = new Curves($("db-curves"), state);
const dists = new Distributions($("db-dists"), state);
const heat = new Heatmaps($("db-heatmaps"), state);

function describe(run) {
  const t = run.training || {};
  const parts = [];
  if (t.lr !== undefined) parts.push(`lr ${t.lr}`);
  if (t.optimizer) parts.push(t.optimizer);
  if (run.model) parts.push(run.model);
  parts.push(run.last_step === null ? "no steps yet" : `step ${run.last_step}`);
  return parts.join(" · ");
}

function renderLegend() {
  const ul = $("db-legend");
  ul.replaceChildren();
  for (const run of state.runs) {
    const li = document.createElement("li");
    li.dataset.run = run.id;
    li.className = state.hidden.has(run.id) ? "off" : "";
    const live = run.writing ? `<span class="live" title="training is writing this run">● live</span>` : `<span class="muted">${run.status || ""}</span>`;
    li.innerHTML = `<span class="swatch" style="background:${state.color(run.id)}"></span><b>${run.label}</b> <span class="muted">${describe(run)}</span> ${live}`;
    li.title = "click to show or hide this run";
    li.onclick = () => {
      if (state.hidden.has(run.id)) state.hidden.delete(run.id); else state.hidden.add(run.id);
      renderLegend(); curves.drawAll(); dists.load().catch(report); heat.load().catch(report);
    };
    ul.appendChild(li);
  }
}

function fillSelect(select, values, preferred) {
  const current = select.value;
  const have = [...select.options].map((o) => o.value);
  if (have.length === values.length && have.every((v, i) => v === values[i])) return current;
  select.replaceChildren(...values.map((v) => new Option(v, v)));
  const pick = values.includes(current) ? current : preferred.find((p) => values.includes(p)) || values[0];
  if (pick !== undefined) select.value = pick;
  return select.value;
}

function refreshParamLists() {
  const params = dists.params();
  const weights = params.filter((p) => p.endsWith(".weight"));
  dists.param = fillSelect($("db-param"), params, ["conv2.weight", ...weights]) || null;
  heat.param = fillSelect($("db-heat-param"), weights.length ? weights : params, ["conv1.weight", ...weights]) || null;
}

function bindControls() {
  let timer = null;
  $("db-smooth").addEventListener("input", (ev) => {
    state.smooth = Number(ev.target.value);
    $("db-smooth-value").textContent = state.smooth.toFixed(2);
    clearTimeout(timer);
    timer = setTimeout(() => curves.loadAll().catch(report), 120);
  });
  $("db-log").addEventListener("change", (ev) => { state.logLoss = ev.target.checked; curves.drawAll(); });
  $("db-outliers").addEventListener("change", (ev) => { state.ignoreOutliers = ev.target.checked; curves.drawAll(); });
  $("db-param").addEventListener("change", (ev) => { dists.param = ev.target.value; dists.load().catch(report); });
  $("db-kind").addEventListener("change", (ev) => { dists.kind = ev.target.value; dists.load().catch(report); });
  $("db-view").addEventListener("change", (ev) => { dists.view = ev.target.value; dists.load().catch(report); });
  $("db-overlay").addEventListener("change", (ev) => { dists.overlay = ev.target.checked; dists.load().catch(report); });
  $("db-heat-param").addEventListener("change", (ev) => { heat.param = ev.target.value; heat.load().catch(report); });
  $("db-shared").addEventListener("change", (ev) => { heat.shared = ev.target.checked; heat.load().catch(report); });
}

async function poll() {
  try {
    if ($("db-live").checked) {
      const { runs } = await getJSON("runs");
      debug.polls += 1;
      const old = new Map(state.runs.map((r) => [r.id, r]));
      state.runs = runs;
      renderLegend();
      refreshParamLists();
      await Promise.all(runs.map((r) => curves.update(r)));
      const histMoved = runs.some((r) => (old.get(r.id) || {}).hist_step !== r.hist_step);
      const cpsMoved = runs.some((r) => ((old.get(r.id) || {}).checkpoints || []).length !== r.checkpoints.length);
      if (histMoved) await dists.load();
      if (cpsMoved) await heat.load();
      $("db-status").textContent = runs.some((r) => r.writing) ? "following live runs" : "";
    }
  } catch (err) {
    report(err);
  }
  setTimeout(poll, POLL_MS);
}

async function start() {
  bindControls();
  const { runs } = await getJSON("runs");
  state.runs = runs;
  renderLegend();
  refreshParamLists();
  await curves.loadAll();
  debug.firstFrameMs = performance.now();
  await Promise.all([dists.load(), heat.load()]);
  debug.ready = true;
  setTimeout(poll, POLL_MS);
}

start().catch(report);
