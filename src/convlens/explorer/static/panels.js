// The right-hand panels: the tabs, the method panel of the clicked image (attribution maps
// with a target chooser, nearest neighbours at its pane's layer) and the channel panel of a
// clicked feature map (top images with their projections, a synthesised image). Each renders
// from the state and fetches what it shows; choices are actions.
import { getBinary, getJSON } from "./api.js";
import { selectPaneRows } from "./actions.js";
import { setText } from "./controls.js";
import { drawImage, strokeBox } from "./images.js";
import { modeOf } from "./matrix.js";
import { checkpointOf, runOf } from "./store.js";

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

export class Tabs {
  constructor(store) {
    for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => store.dispatch({ type: "tab", tab: b.dataset.tab });
    store.subscribe((state, prev) => { if (state.tab !== prev.tab) this.render(state); });
    this.render(store.get());
  }
  render(state) {
    for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === state.tab);
    for (const t of document.querySelectorAll("#right .tab")) t.hidden = t.id !== `tab-${state.tab}`;
  }
}

// ---------------------------------------------------------------- one clicked image
export class ImagePanel {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.shown = null;
    this.token = 0;
    $("attr-method").onchange = (e) => store.dispatch({ type: "attr", patch: { method: e.target.value } });
    $("attr-target").onchange = (e) => store.dispatch({ type: "attr", patch: { target: e.target.value } });
    $("attr-layer").onchange = (e) => store.dispatch({ type: "attr", patch: { layer: e.target.value } });
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  render(state) {
    const c = state.clicked;
    $("image-hint").hidden = !!c;
    $("image-panel").hidden = !c;
    if (!c || !state.panes[c.pane]) return;
    const pane = state.panes[c.pane], run = runOf(state, c.pane), labels = this.data.labelsOf(state, c.pane);
    if (!run || !labels || pane.data.status !== "ready") return;
    const ck = checkpointOf(state, c.pane);
    const pred = labels.predictions ? labels.predictions[c.row] : -1;
    setText($("image-title"), `Image #${c.row} · class ${run.classes[labels.labels[c.row]] ?? "?"}` +
      (pred >= 0 ? ` · predicted ${run.classes[pred] ?? pred}` : "") + (state.panes.length > 1 ? ` · ${run.name}` : ""));
    this.fillChoices(state, run);
    $("attr-layer-label").hidden = state.attr.method !== "grad_cam";
    if (state.tab !== "image") return;
    const layer = this.attrLayer(state, run);
    const key = `${pane.rid}|${c.row}|${ck.name}|${state.attr.method}|${state.attr.target}|${layer}|${pane.layer}`;
    if (key === this.shown) return;
    this.shown = key;
    this.loadAttribution(state, c, pane, run, ck, layer);
    this.loadNeighbours(state, c, pane, run, ck);
  }

  attrLayer(state, run) {
    const spatial = run.layers.filter((l) => l.spatial).map((l) => l.name);
    return spatial.includes(state.attr.layer) ? state.attr.layer : spatial[spatial.length - 1];
  }

  fillChoices(state, run) {
    const classify = run.task === "classify";
    const count = classify ? run.classes.length : (this.outputs ?? 0);
    const targets = ["predicted", ...Array.from({ length: count }, (_, i) => `${i}`)];
    const sel = $("attr-target");
    if (sel.options.length !== targets.length) {
      sel.replaceChildren(...targets.map((t) => new Option(t === "predicted" ? t : classify ? `${t}: ${run.classes[+t]}` : `output ${t}`, t)));
    }
    sel.value = targets.includes(state.attr.target) ? state.attr.target : "predicted";
    $("attr-method").value = state.attr.method;
    const layers = run.layers.filter((l) => l.spatial).map((l) => l.name), ls = $("attr-layer");
    if (ls.options.length !== layers.length) ls.replaceChildren(...layers.map((n) => new Option(n, n)));
    ls.value = this.attrLayer(state, run);
  }

  async loadAttribution(state, c, pane, run, ck, layer) {
    const token = ++this.token, method = state.attr.method;
    const extra = method === "grad_cam" ? `&layer=${q(layer)}` : "";
    $("attr-info").textContent = "computing…";
    const url = `/api/runs/${pane.rid}/images/${c.row}/attribution.bin?method=${method}&target=${q(state.attr.target)}${extra}&checkpoint=${q(ck.name)}`;
    try {
      const m = await getBinary(url);
      if (token !== this.token) return;
      const pic = m.arrays.picture, [h, w] = pic.shape, scale = Math.max(1, Math.floor(160 / Math.max(h, w)));
      const atlas = this.data.atlasOf(pane.rid);
      if (atlas) drawImage($("attr-input"), atlas, c.row, scale);
      drawRGB($("attr-map"), pic.data, h, w, scale);
      const scores = m.arrays.scores.data;
      if (run.task !== "classify" && this.outputs !== scores.length) { this.outputs = scores.length; this.fillChoices(this.store.get(), run); }
      const t = m.header.target, names = run.task === "classify" ? run.classes : null;
      $("attr-info").textContent = `${method.replace("_", " ")} of ${names ? `class ${names[t]}` : `output ${t}`}` +
        ` (score ${scores[t].toPrecision(3)})` + (m.header.layer ? ` at ${m.header.layer}` : "");
      this.lastAttribution = { url, header: m.header };
    } catch (err) {
      if (token === this.token) $("attr-info").textContent = `error: ${err.message}`;
    }
  }

  async loadNeighbours(state, c, pane, run, ck) {
    const layer = pane.layer, atlas = this.data.atlasOf(pane.rid);
    setText($("nn-layer"), `at ${layer}`);
    try {
      const body = await getJSON(`/api/runs/${pane.rid}/layers/${q(layer)}/neighbours/${c.row}?k=9&checkpoint=${q(ck.name)}`);
      const labels = this.data.labelsOf(this.store.get(), c.pane);
      const scale = atlas ? Math.max(1, Math.floor(48 / Math.max(atlas.h, atlas.w))) : 1;
      $("neighbours").replaceChildren(...body.rows.map((row, i) => {
        const cv = document.createElement("canvas");
        if (atlas) drawImage(cv, atlas, row, scale);
        cv.title = `#${row} · class ${run.classes[labels ? labels.labels[row] : -1] ?? "?"} · distance ${body.distances[i].toPrecision(3)}; click to select`;
        cv.dataset.row = row;
        cv.onclick = (e) => selectPaneRows(this.store, this.data, c.pane, [row], modeOf(e));
        return cv;
      }));
      this.lastNeighbours = body;
    } catch (err) {
      $("neighbours").textContent = `error: ${err.message}`;
    }
  }
}

// ---------------------------------------------------------------- one clicked channel
export class ChannelPanel {
  constructor(store, data) {
    this.store = store;
    this.data = data;
    this.shown = null;
    this.last = null;
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  render(state) {
    const ch = state.channel;
    $("channel-hint").hidden = !!ch;
    $("channel-panel").hidden = !ch;
    if (!ch || !state.panes[ch.pane]) return;
    const pane = state.panes[ch.pane], ck = checkpointOf(state, ch.pane), run = runOf(state, ch.pane);
    if (!ck || !run || !run.ready || ck.state !== "probed") return;
    const key = `${pane.rid}|${ch.layer}|${ch.c}|${ck.name}|${ck.version}`;
    if (key === this.shown) return;
    this.shown = key;
    this.load(state, ch, pane, run, ck);
  }

  async load(state, ch, pane, run, ck) {
    const key = this.shown;
    setText($("channel-title"), `${ch.layer} · channel ${ch.c}` + (state.panes.length > 1 ? ` · ${run.name}` : ""));
    const base = `/api/runs/${pane.rid}/layers/${q(ch.layer)}/channels/${ch.c}`, ckq = `checkpoint=${q(ck.name)}`;
    $("channel-topk").replaceChildren();
    $("channel-method").textContent = "computing the projections…";
    $("channel-synth").innerHTML = '<span class="hint">computing…</span>';
    try {
      const m = await getBinary(`${base}/topk.bin?${ckq}`);
      if (key !== this.shown) return;
      const rows = m.arrays.rows.data, boxes = m.arrays.boxes.data, pics = m.arrays.pictures;
      const values = m.arrays.values.data, [k, h, w] = pics.shape;
      const scale = Math.max(1, Math.floor(56 / Math.max(h, w))), atlas = this.data.atlasOf(pane.rid);
      const items = [];
      for (let i = 0; i < k; i++) {
        const fig = document.createElement("figure");
        const img = document.createElement("canvas"), proj = document.createElement("canvas");
        if (atlas) {
          const ctx = drawImage(img, atlas, Number(rows[i]), scale);
          const box = [0, 1, 2, 3].map((t) => Number(boxes[4 * i + t]));
          if (box[2] > box[0]) strokeBox(ctx, box, scale);
        }
        drawRGB(proj, pics.data.subarray(i * h * w * 3, (i + 1) * h * w * 3), h, w, scale);
        const cap = document.createElement("figcaption");
        cap.textContent = `#${rows[i]} · ${values[i].toPrecision(3)}`;
        fig.append(img, proj, cap);
        fig.onclick = (e) => selectPaneRows(this.store, this.data, ch.pane, [Number(rows[i])], modeOf(e));
        items.push(fig);
      }
      $("channel-topk").replaceChildren(...items);
      $("channel-method").textContent = m.header.method_note || `${m.header.method} projections`;
      this.last = { header: m.header };
    } catch (err) {
      if (key === this.shown) { $("channel-topk").textContent = `error: ${err.message}`; $("channel-method").textContent = ""; }
    }
    const img = new Image();
    img.onload = () => { if (key === this.shown) $("channel-synth").replaceChildren(img); };
    img.onerror = () => { if (key === this.shown) $("channel-synth").textContent = "synthesis failed"; };
    img.src = `${base}/synthesis.png?scale=4&${ckq}`;
  }
}
