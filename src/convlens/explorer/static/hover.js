// Details on demand: the card under the mouse with the hovered image (from the pixel atlas),
// the receptive-field box of the hovered position, and the point's values.
import { drawImage, rfBox, strokeBox } from "./images.js";
import { layerOf, runOf } from "./store.js";

const $ = (id) => document.getElementById(id);

export class HoverCard {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.last = null;
    store.subscribe((state, prev, action) => {
      if (action.type === "hover" || (state.hover && action.type === "layer")) this.render(state);
    });
  }

  render(state) {
    const card = $("hover"), h = state.hover;
    const cloud = h ? this.data.cloudOf(state, h.pane) : null, atlas = h ? this.data.atlasOf(state.panes[h.pane].rid) : null;
    if (!h || !cloud || !atlas) { card.hidden = true; this.last = null; return; }
    const run = runOf(state, h.pane), labels = this.data.labelsOf(state, h.pane), layer = layerOf(state, h.pane);
    const P = cloud.positions, row = Math.floor(h.pid / P);
    const scale = Math.max(1, Math.floor(112 / Math.max(atlas.h, atlas.w)));
    const ctx = drawImage($("hover-image"), atlas, row, scale);
    let box = null, where = "";
    if (layer && layer.spatial && layer.rf_size) {
      // a layer stored as a sample says where each point sits; otherwise pid % P
      const pos = cloud.positionOf(h.pid), i = Math.floor(pos / layer.grid[1]), j = pos % layer.grid[1];
      box = rfBox(layer, i, j, atlas.h, atlas.w);
      strokeBox(ctx, box, scale);
      where = ` · position (${i}, ${j})`;
    }
    const fmt = (d) => cloud.valueAt(d, h.pid).toPrecision(3);
    const label = labels ? labels.labels[row] : -1;
    $("hover-text").textContent = `#${row} · class ${run.classes[label] ?? "?"}${where} · ` +
      (h.xdim === h.ydim ? `d${h.xdim} = ${fmt(h.xdim)}` : `d${h.xdim} = ${fmt(h.xdim)}, d${h.ydim} = ${fmt(h.ydim)}`);
    const view = $("view").getBoundingClientRect();
    card.hidden = false;
    card.style.left = `${Math.min(h.clientX - view.left + 14, view.width - 190)}px`;
    card.style.top = `${Math.min(h.clientY - view.top + 14, view.height - 160)}px`;
    this.last = { row, pid: h.pid, box, layer: state.panes[h.pane].layer, pane: h.pane };
  }
}
