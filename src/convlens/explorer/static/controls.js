// The header bar and the window controls: every control shows the state and dispatches an
// action when the user changes it (an input's own event value is the user's input, never a
// place state is read back from).
import { checkpointOf, dimsOf, gridOf, layerOf, runOf } from "./store.js";
import { Overview } from "./overview.js";

const $ = (id) => document.getElementById(id);
export const BUDGETS = [250e3, 1e6, 4e6, 16e6, 32e6, 64e6];

export class Controls {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    const d = (action) => store.dispatch(action);
    $("layer-select").onchange = (e) => d({ type: "layer", layer: e.target.value });
    $("projection").onchange = (e) => d({ type: "projection", projection: e.target.value });
    $("point-size").oninput = (e) => d({ type: "set", key: "pointSize", value: +e.target.value });
    $("opacity").oninput = (e) => d({ type: "set", key: "opacity", value: +e.target.value });
    $("budget").replaceChildren(...BUDGETS.map((b) => new Option(`${b / 1e6}M points`, b)));
    $("budget").onchange = (e) => d({ type: "set", key: "budget", value: +e.target.value });
    $("tool-pan").onclick = () => d({ type: "set", key: "tool", value: "pan" });
    $("tool-lasso").onclick = () => d({ type: "set", key: "tool", value: "lasso" });
    $("shared-scale").onchange = (e) => d({ type: "set", key: "sharedScale", value: e.target.checked });
    $("displacement").onchange = (e) => d({ type: "set", key: "displacement", value: e.target.checked });
    $("link-views").onchange = (e) => d({ type: "set", key: "linked", value: e.target.checked });
    $("overview-mode").onchange = (e) => d({ type: "set", key: "overview", value: e.target.value });
    $("clear-selection").onclick = () => d({ type: "select", rows: [], mode: "replace" });
    const windowInput = () => {
      const s = store.get();
      d({ type: "window", pane: s.focus, colStart: +$("col-start").value, rowStart: +$("row-start").value, windowSize: +$("window-size").value });
    };
    for (const id of ["col-start", "row-start", "window-size"]) $(id).onchange = windowInput;
    window.addEventListener("keydown", (e) => {
      if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
      if (e.key === "l" || e.key === "L") d({ type: "set", key: "tool", value: "lasso" });
      if (e.key === "p" || e.key === "P") d({ type: "set", key: "tool", value: "pan" });
      if (e.key === "Escape") d({ type: "select", rows: [], mode: "replace" });
    });
    this.overview = new Overview($("overview"), $("overview-info"), store, data);
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  render(state) {
    if (!state.panes.length) return;
    const ab = state.panes.length > 1, k = Math.min(state.focus, state.panes.length - 1);
    document.body.classList.toggle("ab", ab);
    $("ab-controls").hidden = !ab;
    setText($("run-name"), state.panes.map((p, i) => {
      const run = runOf(state, i), ck = checkpointOf(state, i);
      return `${run ? run.name : "?"}${ck ? ` · ${ck.name}` : ""}`;
    }).join("  vs  "));
    const run = runOf(state, 0), names = run && run.layers ? run.layers.map((l) => l.name) : [];
    const sel = $("layer-select");
    if (sel.options.length !== names.length || [...sel.options].some((o, i) => o.value !== names[i])) {
      sel.replaceChildren(...names.map((n) => new Option(n, n)));
    }
    const p = state.panes[k];
    if (p.layer && names.includes(p.layer)) sel.value = p.layer;
    $("projection").value = p.projection;
    $("point-size").value = state.view.pointSize;
    $("opacity").value = state.view.opacity;
    $("budget").value = state.view.budget;
    $("tool-pan").classList.toggle("on", state.view.tool === "pan");
    $("tool-lasso").classList.toggle("on", state.view.tool === "lasso");
    for (const o of document.querySelectorAll(".overlay")) o.classList.toggle("lasso", state.view.tool === "lasso");
    $("shared-scale").checked = state.view.sharedScale;
    $("displacement").checked = state.view.displacement;
    $("link-views").checked = state.view.linked;
    $("overview-mode").value = state.view.overview;
    const n = state.selection.rows.length;
    setText($("selection-info"), n ? `${n.toLocaleString()} images selected` : "no selection");
    // window controls of the focused pane
    const dims = dimsOf(state, k), g = gridOf(state, k);
    $("col-start").value = p.nav.colStart;
    $("row-start").value = p.nav.rowStart;
    $("window-size").value = p.nav.windowSize;
    setText($("window-info"), !dims ? "" : dims <= 2 ? `${dims}-D: one scatter plot`
      : `showing dims ${p.nav.colStart}–${p.nav.colStart + g - 1} (x) × ${p.nav.rowStart}–${p.nav.rowStart + g - 1} (y) of ${dims}`);
    // the caption: what the focused pane shows
    const layer = layerOf(state, k), cloud = this.data.cloudOf(state, k);
    let caption = p.data.status === "ready" && layer && cloud
      ? `${ab ? `${"AB"[k]}: ` : ""}${p.layer}: ${cloud.dims} ${p.projection === "pca" ? "PCA components" : "dimensions"}` +
        ` · ${cloud.nImages.toLocaleString()} images` + (layer.spatial ? ` × ${layer.grid[0]}×${layer.grid[1]} positions` : "") +
        (layer.sampled ? ` · ${storedText(layer)}` : "") +
        ` · ${cloud.dtype === "u8" ? "8-bit" : "float16"} · ${state.view.renderer || ""}`
      : p.data.message || "loading…";
    if (state.notice) caption = `${state.notice.text} · ${caption}`;
    setText($("status"), caption);
    $("status").classList.toggle("error", !!state.notice && state.notice.kind === "error");
  }
}

export function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

// "2.1M of 31M positions stored (6.8%)": how much of a sampled layer the probe kept.
export function storedText(layer) {
  const short = (n) => n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n}`;
  return `${short(layer.stored_points)} of ${short(layer.total_points)} positions stored ` +
    `(${(100 * layer.fraction).toFixed(1)}%)`;
}
