// The confusion matrix of the focused pane's snapshot (deepViz): rows are true classes,
// columns predicted classes. Clicking a cell selects exactly those images everywhere
// (shift adds, alt removes); cells holding selected images are outlined.
import { getJSON } from "./api.js";

const $ = (id) => document.getElementById(id);

export class Confusion {
  constructor(app) { this.app = app; this.body = null; }

  get pane() { return this.app.panes[this.app.focus] || this.app.panes[0]; }

  build() {}

  async render() {
    const pane = this.pane, root = $("confusion");
    if (!pane.run.has_confusion) {
      root.textContent = `run ${pane.run.name} has no confusion matrix (task: ${pane.run.task}, no class predictions)`;
      return;
    }
    const body = await getJSON(`/api/runs/${pane.rid}/confusion?checkpoint=${encodeURIComponent(pane.checkpoint)}`);
    this.body = body;
    const K = body.classes.length, m = body.matrix;
    let top = 1;
    for (let t = 0; t < K; t++) for (let p = 0; p < K; p++) if (t !== p) top = Math.max(top, m[t][p]);
    const table = document.createElement("table");
    const head = table.insertRow();
    head.insertCell().textContent = "true \\ pred";
    for (let p = 0; p < K; p++) { const c = head.insertCell(); c.textContent = body.classes[p]; c.className = "head"; }
    let correct = 0, total = 0;
    for (let t = 0; t < K; t++) {
      const row = table.insertRow();
      const name = row.insertCell();
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
        cell.onclick = (e) => this.select(t, p, this.app.modeOf(e));
      }
    }
    const info = document.createElement("p");
    info.className = "hint";
    info.textContent = `${pane.run.name} · ${body.checkpoint} · accuracy ${((100 * correct) / Math.max(1, total)).toFixed(1)}% of ${total}`;
    root.replaceChildren(table, info);
    this.highlight();
  }

  // Select the images of true class t predicted as p (in the focused pane's rows).
  select(t, p, mode = "replace") {
    const pane = this.pane, labels = pane.labels, pred = pane.predictions;
    const hit = new Uint8Array(labels.length);
    for (let i = 0; i < labels.length; i++) if (labels[i] === t && pred[i] === p) hit[i] = 1;
    return this.app.applySelection(pane, hit, mode);
  }

  highlight() {
    const pane = this.pane;
    if (!this.body || !pane.predictions) return;
    const marked = new Set();
    for (const r of pane.rows) marked.add(`${pane.labels[r]},${pane.predictions[r]}`);
    for (const td of document.querySelectorAll("#confusion td[data-t]")) {
      td.classList.toggle("selected", marked.has(`${td.dataset.t},${td.dataset.p}`));
    }
  }
}
