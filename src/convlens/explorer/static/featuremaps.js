// The coordinated feature-map panel: every layer's response for one image, or the average
// response of a selection (seed 004, section 3.3, Fig. 4). Fully connected layers are grids of
// one-pixel images. Clicking a layer name makes it active; clicking a map jumps to its
// dimension's diagonal cell.

export class FeatureMaps {
  constructor(root, { onLayer, onDimension }) {
    this.root = root;
    this.onLayer = onLayer;
    this.onDimension = onDimension;
    this.zoom = 2;
    this.message = null;
    this.active = null;
  }

  setZoom(z) { this.zoom = Math.max(1, Math.min(16, z)); this.render(); }

  show(message, active) { this.message = message; this.active = active; this.render(); }

  clear() { this.message = null; this.root.replaceChildren(); }

  render() {
    if (!this.message) return;
    const { header, arrays } = this.message;
    const out = [];
    for (const layer of header.layers) {
      const a = arrays[layer.name];
      const [C, H, W] = a.shape;
      const name = document.createElement("span");
      name.className = "layer-name" + (layer.name === this.active ? " active" : "");
      name.textContent = `${layer.name}  (${C}${H > 1 || W > 1 ? ` × ${H}×${W}` : ""})`;
      name.dataset.layer = layer.name;
      if (layer.name !== "input") name.onclick = () => this.onLayer(layer.name);
      out.push(name, this.layerCanvas(layer, a, C, H, W));
    }
    this.root.replaceChildren(...out);
  }

  layerCanvas(layer, a, C, H, W) {
    const isInput = layer.name === "input";
    const flat = H === 1 && W === 1;
    const z = flat ? Math.max(4, this.zoom * 3) : this.zoom * (H < 8 ? 4 : H < 16 ? 2 : 1);
    const gap = flat ? 1 : 2;
    const tiles = isInput && C === 3 ? 1 : C;
    const cols = flat ? Math.ceil(Math.sqrt(C * 2)) : Math.max(1, Math.min(tiles, Math.floor(340 / (W * z + gap)) || 1));
    const rows = Math.ceil(tiles / cols);
    const canvas = document.createElement("canvas");
    canvas.width = cols * (W * z + gap);
    canvas.height = rows * (H * z + gap);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#0d0e10";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const span = layer.hi - layer.lo || 1;
    const half = (bits) => halfToFloat(bits);
    const img = ctx.createImageData(W, H);
    for (let t = 0; t < tiles; t++) {
      for (let p = 0; p < H * W; p++) {
        for (let k = 0; k < 3; k++) {
          const ch = isInput && C === 3 ? k : t;
          const v = (half(a.data[ch * H * W + p]) - layer.lo) / span;
          img.data[4 * p + k] = Math.max(0, Math.min(255, Math.round(v * 255)));
        }
        img.data[4 * p + 3] = 255;
      }
      const tmp = new OffscreenCanvas(W, H);
      tmp.getContext("2d").putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, (t % cols) * (W * z + gap), Math.floor(t / cols) * (H * z + gap), W * z, H * z);
    }
    canvas.title = isInput ? "average input" : `${layer.name}: click a map to see its dimension`;
    if (!isInput) {
      canvas.onclick = (e) => {
        const r = canvas.getBoundingClientRect();
        const x = ((e.clientX - r.left) * canvas.width) / r.width, y = ((e.clientY - r.top) * canvas.height) / r.height;
        const t = Math.floor(y / (H * z + gap)) * cols + Math.floor(x / (W * z + gap));
        if (t >= 0 && t < C) this.onDimension(layer.name, t);
      };
      canvas.onmousemove = (e) => {
        const r = canvas.getBoundingClientRect();
        const x = ((e.clientX - r.left) * canvas.width) / r.width, y = ((e.clientY - r.top) * canvas.height) / r.height;
        const t = Math.floor(y / (H * z + gap)) * cols + Math.floor(x / (W * z + gap));
        // a layer beyond float16's range travels divided by layer.scale
        if (t >= 0 && t < C) canvas.title = `${layer.name} dimension ${t}` + (flat ? `: ${(half(a.data[t]) * (layer.scale ?? 1)).toPrecision(3)}` : "");
      };
    }
    return canvas;
  }
}

const F16 = new Float32Array(1), U32 = new Uint32Array(F16.buffer);
function halfToFloat(h) {
  const s = (h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return (s ? -1 : 1) * m * 2 ** -24;
  if (e === 31) return m ? NaN : (s ? -Infinity : Infinity);
  U32[0] = s | ((e + 112) << 23) | (m << 13);
  return F16[0];
}
