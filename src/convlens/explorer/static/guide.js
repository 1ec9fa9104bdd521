// The guide tab: every dimension pair of the focused pane's layer ranked by the structure it
// shows (server side, explorer/ranking.py): class separation (k-NN class purity lift), the
// class that separates best, and scagnostics (clumpy, striated, outlying, linear). A sortable
// list; clicking a pair centres its cell. A 2-D layer also gets a per-class spread table.
import { runOf } from "./store.js";
import { setText } from "./controls.js";

const $ = (id) => document.getElementById(id);
const SHOWN = 150;
const COLUMNS = [
  ["separation", "separation", "k-NN class purity above chance, all classes (0: none, 1: every neighbour of every point is of its class)"],
  ["class_lift", "best class", "the class whose points are most often next to their own class, and its purity lift"],
  ["clumpy", "clumpy", "points in clusters separated by gaps (minimum spanning tree runts)"],
  ["striated", "striated", "points on parallel lines or curves (straight degree-2 vertices of the spanning tree)"],
  ["outlying", "outlying", "share of the spanning tree's length on outlying points"],
  ["linear", "linear", "squared correlation of the two dimensions"],
];
const SPREAD = [["name", "class"], ["count", "images"], ["mean_x", "mean x"], ["mean_y", "mean y"], ["spread", "spread"], ["origin", "|mean|"], ["purity", "k-NN purity"]];

export class Guide {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.drawnKey = null;
    this.last = null;
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  pane(state) { return Math.min(state.focus, state.panes.length - 1); }

  render(state) {
    if (state.tab !== "guide" || !state.panes.length) return;
    const k = this.pane(state), p = state.panes[k], run = runOf(state, k);
    if (p.data.status !== "ready") { setText($("guide-info"), p.data.message || "waiting for the layer…"); $("guide-list").replaceChildren(); this.drawnKey = null; return; }
    const ranking = this.data.ranking(state, k);
    if (!ranking.value) {
      setText($("guide-info"), ranking.error ? `ranking failed: ${ranking.error}` : `ranking every pair of ${p.layer}…`);
      $("guide-list").replaceChildren();
      $("guide-spread").replaceChildren();
      this.drawnKey = null;
      return;
    }
    const h = ranking.value.header;
    const key = `${ranking.key}|${state.rankingSort.key}|${state.rankingSort.desc}`;
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    const cost = h.cost || {};
    setText($("guide-info"), h.pairs.length
      ? `${p.layer}: ${cost.pairs.toLocaleString()} pair${cost.pairs === 1 ? "" : "s"} of ${h.dims} dims screened on ${cost.sampled.toLocaleString()} of ${cost.points.toLocaleString()} points` +
        `, the best ${cost.refined.toLocaleString()} measured on ${cost.detail_points.toLocaleString()} (${cost.seconds} s on the server). Click a pair to go to its cell.`
      : `${p.layer} has ${h.dims} dimension${h.dims === 1 ? "" : "s"}: no pairs to rank`);
    this.renderList(state, k, run, h);
    this.renderSpread(state, run, h);
  }

  sortKey(state, h, table) {
    const key = state.rankingSort.key;
    if (table === "pairs") {
      if (key && !key.startsWith("spread:") && h.measures.includes(key)) return key;
      return h.labelled ? "separation" : "clumpy";
    }
    return key && key.startsWith("spread:") ? key.slice(7) : "spread";
  }

  renderList(state, k, run, h) {
    const columns = COLUMNS.filter(([c]) => h.measures.includes(c)), sortBy = this.sortKey(state, h, "pairs");
    const desc = state.rankingSort.key === sortBy ? state.rankingSort.desc : true;
    const pairs = [...h.pairs].sort((a, b) => (desc ? b[sortBy] - a[sortBy] : a[sortBy] - b[sortBy]) || a.x - b.x || a.y - b.y);
    const table = document.createElement("table"), head = table.insertRow();
    head.insertCell().textContent = "#";
    head.insertCell().textContent = "x, y";
    for (const [c, name, tip] of columns) {
      const cell = head.insertCell();
      cell.textContent = name + (c === sortBy ? (desc ? " ▼" : " ▲") : "");
      cell.title = `${tip}; click to sort`;
      cell.className = "sortable";
      cell.dataset.sort = c;
      cell.onclick = () => this.store.dispatch({ type: "sortRanking", key: c });
    }
    pairs.slice(0, SHOWN).forEach((pair, i) => {
      const row = table.insertRow();
      row.dataset.x = pair.x;
      row.dataset.y = pair.y;
      row.title = `go to the cell of dimension ${pair.x} (x) against ${pair.y} (y)`;
      row.insertCell().textContent = i + 1;
      row.insertCell().textContent = `${pair.x}, ${pair.y}`;
      for (const [c] of columns) {
        const cell = row.insertCell();
        cell.textContent = c === "class_lift" ? `${run.classes[pair.best_class] ?? pair.best_class} ${fmt(pair.class_lift)}` : fmt(pair[c]);
      }
      row.onclick = () => this.store.dispatch({ type: "goto", pane: k, x: pair.x, y: pair.y });
    });
    $("guide-list").replaceChildren(table);
    this.last = { layer: state.panes[k].layer, sortBy, desc, pairs: pairs.slice(0, SHOWN).map((p) => [p.x, p.y]), header: h };
  }

  renderSpread(state, run, h) {
    if (!h.spread) { $("guide-spread").replaceChildren(); return; }
    const sortBy = this.sortKey(state, h, "spread"), desc = state.rankingSort.key === `spread:${sortBy}` ? state.rankingSort.desc : false;
    const rows = h.spread.map((r) => ({ ...r, mean_x: r.mean[0], mean_y: r.mean[1] }));
    rows.sort((a, b) => {
      const d = typeof a[sortBy] === "string" ? a[sortBy].localeCompare(b[sortBy]) : a[sortBy] - b[sortBy];
      return desc ? -d : d;
    });
    const title = document.createElement("h3");
    title.textContent = "Per-class spread";
    const table = document.createElement("table"), head = table.insertRow();
    for (const [c, name] of SPREAD) {
      const cell = head.insertCell();
      cell.textContent = name + (c === sortBy ? (desc ? " ▼" : " ▲") : "");
      cell.className = "sortable";
      cell.onclick = () => this.store.dispatch({ type: "sortRanking", key: `spread:${c}` });
    }
    for (const r of rows) {
      const row = table.insertRow();
      for (const [c] of SPREAD) row.insertCell().textContent = typeof r[c] === "number" && c !== "count" ? fmt(r[c]) : r[c];
    }
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = "spread: root-mean-square distance of a class's points to their mean; |mean|: distance of the mean from the origin; k-NN purity: share of each point's 8 nearest neighbours of its class.";
    $("guide-spread").replaceChildren(title, table, note);
  }
}

function fmt(v) { return v === undefined || v === null ? "" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3); }
