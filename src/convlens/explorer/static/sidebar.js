// The left column: the layer list (click: show that layer in every pane) and the class
// legend (click: select the class; shift adds, alt removes), with selected counts.
import { selectClass } from "./actions.js";
import { PALETTE } from "./gl.js";
import { modeOf } from "./matrix.js";
import { runOf } from "./store.js";
import { setText } from "./controls.js";

const $ = (id) => document.getElementById(id);

export class Sidebar {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.layersKey = null;
    this.legendKey = null;
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  render(state) {
    if (!state.panes.length) return;
    const k = Math.min(state.focus, state.panes.length - 1), run = runOf(state, k);
    const layers = run && run.layers ? run.layers : [];
    const key = `${state.panes[k].rid}|${layers.map((l) => l.name).join(",")}`;
    if (key !== this.layersKey) {
      this.layersKey = key;
      $("layers").replaceChildren(...layers.map((l) => {
        const li = document.createElement("li");
        li.dataset.layer = l.name;
        li.innerHTML = "<span></span><small></small>";
        li.children[0].textContent = l.name;
        li.children[1].textContent = l.spatial ? `${l.dims}×${l.grid[0]}×${l.grid[1]}` : `${l.dims}`;
        li.title = "show this layer in every pane";
        li.onclick = () => this.store.dispatch({ type: "layer", layer: l.name });
        return li;
      }));
    }
    for (const li of $("layers").children) li.classList.toggle("active", li.dataset.layer === state.panes[k].layer);
    this.renderLegend(state);
  }

  renderLegend(state) {
    const first = runOf(state, 0), labels = this.data.labelsOf(state, 0);
    if (!first || !first.classes) return;
    const key = `${state.panes[0].rid}|${first.classes.join(",")}|${labels ? labels.labels.length : 0}`;
    if (key !== this.legendKey) {
      this.legendKey = key;
      this.totals = new Array(first.classes.length).fill(0);
      if (labels) for (const l of labels.labels) if (l >= 0 && l < this.totals.length) this.totals[l]++;
      $("legend").replaceChildren(...first.classes.map((name, c) => {
        const li = document.createElement("li");
        const rgb = PALETTE[c % PALETTE.length].map((v) => Math.round(v * 255));
        li.innerHTML = `<span class="swatch" style="background: rgb(${rgb})"></span><span></span><span class="count"></span>`;
        li.children[1].textContent = name;
        li.dataset.k = c;
        li.title = "click: select this class; shift: add; alt: remove";
        li.onclick = (e) => selectClass(this.store, this.data, 0, c, modeOf(e));
        return li;
      }));
    }
    const n = state.selection.rows.length, sel = new Array(first.classes.length).fill(0);
    if (labels) for (const r of state.selection.rows) if (labels.labels[r] >= 0) sel[labels.labels[r]]++;
    for (const li of $("legend").children) {
      const c = +li.dataset.k;
      setText(li.querySelector(".count"), n ? `${sel[c]} / ${this.totals[c]}` : `${this.totals[c]}`);
    }
  }
}
