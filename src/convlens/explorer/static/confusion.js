// The confusion matrix of the focused pane's snapshot (deepViz): rows are true classes,
// columns predicted classes. Clicking a cell selects exactly those images everywhere
// (shift adds, alt removes); cells holding selected images are outlined.
import { getJSON } from "./api.js";
import { paneRows, selectConfusion } from "./actions.js";
import { modeOf } from "./matrix.js";
import { checkpointOf, runOf } from "./store.js";

const $ = (id) => document.getElementById(id);

export class Confusion {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.body = null;
    this.shown = null;
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  pane(state) { return Math.min(state.focus, state.panes.length - 1); }

  render(state) {
    if (state.tab !== "confusion" || !state.panes.length) return;
    const k = this.pane(state), run = runOf(state, k), ck = checkpointOf(state, k), root = $("confusion");
    if (!run || !run.ready || !ck) return;
    if (!run.has_confusion) {
      root.textContent = `run ${run.name} has no confusion matrix (task: ${run.task}, no class predictions)`;
      this.shown = null;
      return;
    }
    if (ck.state !== "probed") { root.textContent = `${ck.name} is not probed yet`; this.shown = null; return; }
    const key = `${state.panes[k].rid}|${ck.name}|${ck.version}`;
    if (key !== this.shown) {
      this.shown = key;
      getJSON(`/api/runs/${state.panes[k].rid}/confusion?checkpoint=${encodeURIComponent(ck.name)}`)
        .then((body) => { if (this.shown === key) { this.body = body; this.draw(k, run, body); this.highlight(this.store.get()); } })
        .catch((err) => { if (this.shown === key) root.textContent = `error: ${err.message}`; });
      return;
    }
    this.highlight(state);
  }

  draw(k, run, body) {
    const K = body.classes.length, m = body.matrix;
    let top = 1;
    for (let t = 0; t < K; t++) for (let p = 0; p < K; p++) if (t !== p) top = Math.max(top, m[t][p]);
    const table = document.createElement("table"), head = table.insertRow();
    head.insertCell().textContent = "true \\ pred";
    for (let p = 0; p < K; p++) { const c = head.insertCell(); c.textContent = body.classes[p]; c.className = "head"; }
    let correct = 0, total = 0;
    for (let t = 0; t < K; t++) {
      const row = table.insertRow(), name = row.insertCell();
      name.textContent = body.classes[t];
      name.className = "head";
      for (let p = 0; p < K; p++) {
        const cell = row.insertCell(), n = m[t][p];
        total += n;
        if (t === p) correct += n;
        cell.textContent = n || "";
        cell.dataset.t = t;
        cell.dataset.p = p;
        const a = t === p ? 0.15 + 0.5 * Math.min(1, n / Math.max(1, ...m[t])) : Math.min(1, n / top);
        cell.style.background = t === p ? `rgba(61,111,181,${a})` : `rgba(220,80,60,${0.85 * a})`;
        cell.title = `${n} images of class ${body.classes[t]} predicted ${body.classes[p]}; click to select`;
        cell.onclick = (e) => selectConfusion(this.store, this.data, k, t, p, modeOf(e));
      }
    }
    const info = document.createElement("p");
    info.className = "hint";
    info.textContent = `${run.name} · ${body.checkpoint} · accuracy ${((100 * correct) / Math.max(1, total)).toFixed(1)}% of ${total}`;
    $("confusion").replaceChildren(table, info);
  }

  highlight(state) {
    const k = this.pane(state), labels = this.data.labelsOf(state, k);
    if (!this.body || !labels || !labels.predictions) return;
    const marked = new Set();
    for (const r of paneRows(state, this.data, k)) marked.add(`${labels.labels[r]},${labels.predictions[r]}`);
    for (const td of document.querySelectorAll("#confusion td[data-t]")) td.classList.toggle("selected", marked.has(`${td.dataset.t},${td.dataset.p}`));
  }
}
