// The coordinated feature-map panel (seed 004 §3.3, Fig. 4): every layer's response for one
// image, or the average response of the selection, in the focused pane's run. Fully
// connected layers are grids of tiles (at least MIN_TILE px, the one under the mouse
// outlined). Clicking a layer name shows that layer; clicking a map goes to its channel.
import { postBinary } from "./api.js";
import { goToDimension, paneRows, showLayer } from "./actions.js";
import { checkpointOf, runOf } from "./store.js";
import { setText } from "./controls.js";
import { HALF_TO_FLOAT } from "./api.js";

const $ = (id) => document.getElementById(id);
const MIN_TILE = 10;

export class FeatureMaps {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.root = $("maps");
    this.message = null;
    this.token = 0;
    this.timer = null;
    this.want = null;
    this.drawnKey = null;
    $("maps-in").onclick = () => store.dispatch({ type: "mapsZoom", zoom: store.get().mapsZoom + 1 });
    $("maps-out").onclick = () => store.dispatch({ type: "mapsZoom", zoom: store.get().mapsZoom - 1 });
    this.root.addEventListener("wheel", (e) => {
      if (!e.ctrlKey) return;
      e.preventDefault();
      store.dispatch({ type: "mapsZoom", zoom: store.get().mapsZoom + (e.deltaY < 0 ? 1 : -1) });
    }, { passive: false });
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.update(state); });
  }

  pane(state) { return Math.min(state.focus, state.panes.length - 1); }

  update(state) {
    const k = this.pane(state), p = state.panes[k], ck = checkpointOf(state, k);
    const ready = p.data.status === "ready" && ck;
    const rows = ready ? paneRows(state, this.data, k) : [];
    const want = ready && rows.length ? `${p.rid}|${ck.name}|${ck.version}|${state.selection.version}|${k}` : null;
    if (want !== this.want) {
      this.want = want;
      clearTimeout(this.timer);
      const token = ++this.token;
      if (!want) { this.message = null; this.root.replaceChildren(); setText($("maps-title"), "Feature maps"); $("maps-hint").hidden = false; this.drawnKey = null; return; }
      this.timer = setTimeout(async () => {
        try {
          const message = await postBinary(`/api/runs/${p.rid}/maps?checkpoint=${encodeURIComponent(ck.name)}`, { rows: Array.from(rows) });
          if (token !== this.token) return;
          const run = runOf(state, k), labels = this.data.labelsOf(state, k);
          const who = state.panes.length > 1 ? ` · ${run.name}` : "";
          this.title = rows.length === 1
            ? `Image #${rows[0]} (class ${run.classes[labels ? labels.labels[rows[0]] : -1] ?? "?"})${who}`
            : `Average of ${rows.length.toLocaleString()} images${who}`;
          this.message = message;
          this.pane_ = k;
          this.render(this.store.get());
        } catch (err) {
          if (token === this.token) { this.message = null; this.root.textContent = `error: ${err.message}`; }
        }
      }, 120);
      return;
    }
    this.render(state);
  }

  render(state) {
    if (!this.message) return;
    const k = this.pane_ ?? 0, active = state.panes[k] ? state.panes[k].layer : null;
    const key = `${this.token}|${state.mapsZoom}|${active}`;
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    $("maps-hint").hidden = true;
    setText($("maps-title"), this.title);
    const { header, arrays } = this.message, out = [];
    for (const layer of header.layers) {
      const a = arrays[layer.name], [C, H, W] = a.shape;
      const name = document.createElement("span");
      name.className = "layer-name" + (layer.name === active ? " active" : "");
      name.textContent = `${layer.name}  (${C}${H > 1 || W > 1 ? ` × ${H}×${W}` : ""})`;
      name.dataset.layer = layer.name;
      if (layer.name !== "input") name.onclick = () => showLayer(this.store, k, layer.name);
      out.push(name, this.layerCanvas(layer, a, C, H, W, state.mapsZoom, k));
    }
    this.root.replaceChildren(...out);
  }

  layerCanvas(layer, a, C, H, W, zoom, k) {
    const isInput = layer.name === "input", flat = H === 1 && W === 1;
    const z = flat ? Math.max(MIN_TILE, zoom * 4) : zoom * (H < 8 ? 4 : H < 16 ? 2 : 1);
    const gap = flat ? 2 : 2, tiles = isInput && C === 3 ? 1 : C;
    const cols = flat ? Math.max(1, Math.min(tiles, Math.floor(340 / (z + gap)))) : Math.max(1, Math.min(tiles, Math.floor(340 / (W * z + gap)) || 1));
    const rows = Math.ceil(tiles / cols), tw = W * z + gap, th = H * z + gap;
    const canvas = document.createElement("canvas");
    canvas.width = cols * tw;
    canvas.height = rows * th;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#0d0e10";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const span = layer.hi - layer.lo || 1, img = ctx.createImageData(W, H);
    for (let t = 0; t < tiles; t++) {
      for (let p = 0; p < H * W; p++) {
        for (let c = 0; c < 3; c++) {
          const ch = isInput && C === 3 ? c : t;
          const v = (HALF_TO_FLOAT[a.data[ch * H * W + p]] - layer.lo) / span;
          img.data[4 * p + c] = Math.max(0, Math.min(255, Math.round(v * 255)));
        }
        img.data[4 * p + 3] = 255;
      }
      const tmp = new OffscreenCanvas(W, H);
      tmp.getContext("2d").putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, (t % cols) * tw, Math.floor(t / cols) * th, W * z, H * z);
    }
    canvas.title = isInput ? "average input" : `${layer.name}: click a map to see its dimension`;
    if (isInput) return canvas;
    const base = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const tileAt = (e) => {
      const r = canvas.getBoundingClientRect();
      const x = ((e.clientX - r.left) * canvas.width) / r.width, y = ((e.clientY - r.top) * canvas.height) / r.height;
      const col = Math.floor(x / tw), row = Math.floor(y / th), t = row * cols + col;
      return col < cols && t >= 0 && t < C ? t : -1;
    };
    canvas.dataset.tile = `${tw}x${th}x${cols}`;
    canvas.onclick = (e) => { const t = tileAt(e); if (t >= 0) goToDimension(this.store, k, layer.name, t); };
    canvas.onmousemove = (e) => {
      const t = tileAt(e);
      ctx.putImageData(base, 0, 0);
      if (t < 0) return;
      ctx.strokeStyle = "#ffd000";
      ctx.lineWidth = 1;
      ctx.strokeRect((t % cols) * tw + 0.5, Math.floor(t / cols) * th + 0.5, W * z - 1, H * z - 1);
      // a layer beyond float16's range travels divided by layer.scale
      canvas.title = `${layer.name} dimension ${t}` + (flat ? `: ${(HALF_TO_FLOAT[a.data[t]] * (layer.scale ?? 1)).toPrecision(3)}` : "") + " (click: go to it)";
    };
    canvas.onmouseleave = () => ctx.putImageData(base, 0, 0);
    return canvas;
  }
}
