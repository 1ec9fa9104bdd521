// The right-hand panels: tabs, and the method panels for one clicked image (attribution
// maps with a target chooser, nearest neighbours at the active layer) and for one clicked
// channel (top images with deconvnet projections, a synthesised image).
import { getBinary, getJSON } from "./api.js";
import { Confusion } from "./confusion.js";
import { drawImage, strokeBox } from "./images.js";
import { CrossPlot } from "./plot.js";
import { Weights } from "./weights.js";

const $ = (id) => document.getElementById(id);
const q = (s) => encodeURIComponent(s);

// uint8 (H, W, 3) array -> canvas, enlarged `scale` times.
export function drawRGB(canvas, data, h, w, scale) {
  canvas.width = w * scale;
  canvas.height = h * scale;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  for (let p = 0; p < h * w; p++) {
    img.data[4 * p] = data[3 * p]; img.data[4 * p + 1] = data[3 * p + 1]; img.data[4 * p + 2] = data[3 * p + 2];
    img.data[4 * p + 3] = 255;
  }
  const tmp = new OffscreenCanvas(w, h);
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, w * scale, h * scale);
  return ctx;
}

export class Panels {
  constructor(app) {
    this.app = app;
    this.tab = "maps";
    this.confusion = new Confusion(app);
    this.plot = new CrossPlot(app);
    this.weights = new Weights(app);
    this.attrToken = 0;
    this.channel = null;
  }

  get pane() { return this.app.panes[this.app.focus] || this.app.panes[0]; }

  build() {
    for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => this.showTab(b.dataset.tab);
    for (const id of ["attr-method", "attr-target", "attr-layer"]) $(id).onchange = () => this.loadAttribution();
    this.confusion.build();
    this.plot.build();
    this.weights.build();
  }

  showTab(name) {
    this.tab = name;
    for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === name);
    for (const t of document.querySelectorAll("#right .tab")) t.hidden = t.id !== `tab-${name}`;
    if (name === "confusion") this.confusion.render();
    if (name === "plot") this.plot.load();
    if (name === "weights") this.weights.load();
    if (name === "image" && this.app.clicked) this.imageClicked();
  }

  layerChanged() {
    if (this.tab === "image" && this.app.clicked) this.loadNeighbours();
    this.weights.layerChanged();
  }

  selectionChanged() {
    this.confusion.highlight();
    this.plot.draw();
  }

  snapshotChanged() {
    this.confusion.render();
    if (this.tab === "plot") this.plot.load();
    if (this.tab === "image" && this.app.clicked) this.imageClicked();
    if (this.channel) this.showChannel(this.channel.pane, this.channel.layer, this.channel.c);
    this.weights.snapshotChanged();
  }

  // ---------------------------------------------------------------- one clicked image
  imageClicked() {
    const clicked = this.app.clicked;
    if (!clicked) return;
    const pane = this.app.panes[clicked.pane];
    $("image-hint").hidden = true;
    $("image-panel").hidden = false;
    const pred = pane.predictions ? pane.predictions[clicked.row] : -1;
    $("image-title").textContent = `Image #${clicked.row} · class ${pane.run.classes[pane.labels[clicked.row]] ?? "?"}` +
      (pred >= 0 ? ` · predicted ${pane.run.classes[pred] ?? pred}` : "") + (this.app.panes.length > 1 ? ` · ${pane.run.name}` : "");
    this.fillTargets(pane);
    if (this.tab !== "image") return;
    this.loadAttribution();
    this.loadNeighbours();
  }

  fillTargets(pane) {
    const sel = $("attr-target"), keep = sel.value;
    const k = pane.run.task === "classify" ? pane.run.classes.length : (pane.outputs ?? 0);
    const names = pane.run.task === "classify" ? pane.run.classes : [];
    const options = [new Option("predicted", "predicted")];
    const count = k || (sel.dataset.outputs ? +sel.dataset.outputs : 0);
    for (let i = 0; i < count; i++) options.push(new Option(names[i] !== undefined ? `${i}: ${names[i]}` : `output ${i}`, `${i}`));
    sel.replaceChildren(...options);
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    const layers = pane.run.layers.filter((l) => l.spatial).map((l) => l.name);
    const ls = $("attr-layer"), keepLayer = ls.value;
    ls.replaceChildren(...layers.map((n) => new Option(n, n)));
    ls.value = layers.includes(keepLayer) ? keepLayer : layers[layers.length - 1];
  }

  async loadAttribution() {
    const clicked = this.app.clicked;
    if (!clicked) return;
    const pane = this.app.panes[clicked.pane], token = ++this.attrToken;
    const method = $("attr-method").value, target = $("attr-target").value || "predicted";
    $("attr-layer-label").hidden = method !== "grad_cam";
    const layer = method === "grad_cam" ? `&layer=${q($("attr-layer").value)}` : "";
    $("attr-info").textContent = "computing…";
    const url = `/api/runs/${pane.rid}/images/${clicked.row}/attribution.bin?method=${method}&target=${q(target)}` +
      `${layer}&checkpoint=${q(pane.checkpoint)}`;
    try {
      const m = await getBinary(url);
      if (token !== this.attrToken) return;
      const pic = m.arrays.picture, [h, w] = pic.shape, scale = Math.max(1, Math.floor(160 / Math.max(h, w)));
      drawImage($("attr-input"), pane.atlas, clicked.row, scale);
      drawRGB($("attr-map"), pic.data, h, w, scale);
      const scores = m.arrays.scores.data;
      if (!$("attr-target").dataset.outputs) {
        $("attr-target").dataset.outputs = scores.length;
        if (pane.run.task !== "classify") this.fillTargets(pane);
      }
      const names = pane.run.task === "classify" ? pane.run.classes : null;
      const t = m.header.target;
      $("attr-info").textContent = `${method.replace("_", " ")} of ${names ? `class ${names[t]}` : `output ${t}`}` +
        ` (score ${scores[t].toPrecision(3)})` + (m.header.layer ? ` at ${m.header.layer}` : "");
      this.lastAttribution = { url, header: m.header };
    } catch (err) {
      if (token === this.attrToken) $("attr-info").textContent = `error: ${err.message}`;
    }
  }

  async loadNeighbours() {
    const clicked = this.app.clicked;
    if (!clicked || !this.app.layer) return;
    const pane = this.app.panes[clicked.pane], layer = this.app.layer;
    $("nn-layer").textContent = `at ${layer}`;
    const body = await getJSON(`/api/runs/${pane.rid}/layers/${q(layer)}/neighbours/${clicked.row}?k=9&checkpoint=${q(pane.checkpoint)}`);
    const scale = Math.max(1, Math.floor(48 / Math.max(pane.atlas.h, pane.atlas.w)));
    $("neighbours").replaceChildren(...body.rows.map((row, k) => {
      const c = document.createElement("canvas");
      drawImage(c, pane.atlas, row, scale);
      c.title = `#${row} · class ${pane.run.classes[pane.labels[row]] ?? "?"} · distance ${body.distances[k].toPrecision(3)}; click to select`;
      c.dataset.row = row;
      c.onclick = (e) => this.app.selectPaneRows(pane, [row], this.app.modeOf(e));
      return c;
    }));
    this.lastNeighbours = body;
  }

  // ---------------------------------------------------------------- one clicked channel
  async showChannel(pane, layer, c) {
    this.channel = { pane, layer, c };
    $("channel-hint").hidden = true;
    $("channel-panel").hidden = false;
    $("channel-title").textContent = `${layer} · channel ${c}` + (this.app.panes.length > 1 ? ` · ${pane.run.name}` : "");
    const base = `/api/runs/${pane.rid}/layers/${q(layer)}/channels/${c}`, ck = `checkpoint=${q(pane.checkpoint)}`;
    $("channel-topk").replaceChildren();
    $("channel-synth").innerHTML = '<span class="hint">computing…</span>';
    try {
      const m = await getBinary(`${base}/topk.bin?${ck}`);
      const rows = m.arrays.rows.data, boxes = m.arrays.boxes.data, pics = m.arrays.pictures;
      const values = m.arrays.values.data, [k, h, w] = pics.shape;
      const scale = Math.max(1, Math.floor(56 / Math.max(h, w)));
      const items = [];
      for (let i = 0; i < k; i++) {
        const fig = document.createElement("figure");
        const img = document.createElement("canvas"), proj = document.createElement("canvas");
        const ctx = drawImage(img, pane.atlas, Number(rows[i]), scale);
        const box = [0, 1, 2, 3].map((t) => Number(boxes[4 * i + t]));
        if (box[2] > box[0]) strokeBox(ctx, box, scale);
        drawRGB(proj, pics.data.subarray(i * h * w * 3, (i + 1) * h * w * 3), h, w, scale);
        const cap = document.createElement("figcaption");
        cap.textContent = `#${rows[i]} · ${values[i].toPrecision(3)}`;
        fig.append(img, proj, cap);
        fig.onclick = (e) => this.app.selectPaneRows(pane, [Number(rows[i])], this.app.modeOf(e));
        items.push(fig);
      }
      $("channel-topk").replaceChildren(...items);
    } catch (err) {
      $("channel-topk").textContent = `error: ${err.message}`;
    }
    const img = new Image();
    img.onload = () => $("channel-synth").replaceChildren(img);
    img.onerror = () => { $("channel-synth").textContent = "synthesis failed"; };
    img.src = `${base}/synthesis.png?scale=4&${ck}`;
  }
}
