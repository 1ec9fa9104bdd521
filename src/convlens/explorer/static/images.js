// Drawing dataset images (from the one-time pixel atlas) and receptive-field boxes.

// Box on the input of feature-map position (i, j) of a spatial layer (contract C1):
// centre c = offset + i * stride, rows [c - (size - 1) / 2, ...) of `size` rows, clipped.
export function rfBox(layer, i, j, height, width) {
  const [sh, sw] = layer.rf_size, [th, tw] = layer.rf_stride, [oh, ow] = layer.rf_offset;
  const y0 = oh + i * th - (sh - 1) / 2, x0 = ow + j * tw - (sw - 1) / 2;
  return [Math.max(0, y0), Math.max(0, x0), Math.min(height, y0 + sh), Math.min(width, x0 + sw)];
}

// Put image `row` of the atlas ({pixels, n, h, w, c}) on `canvas`, enlarged `scale` times.
export function drawImage(canvas, atlas, row, scale) {
  const { h, w, c, pixels } = atlas;
  canvas.width = w * scale;
  canvas.height = h * scale;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h), base = row * h * w * c;
  if (atlas.loaded !== undefined && row >= atlas.loaded) {   // its atlas page has not arrived yet
    ctx.fillStyle = "#333"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    return ctx;
  }
  for (let p = 0; p < h * w; p++) {
    const r = pixels[base + p * c], g = c === 3 ? pixels[base + p * c + 1] : r, b = c === 3 ? pixels[base + p * c + 2] : r;
    img.data[4 * p] = r; img.data[4 * p + 1] = g; img.data[4 * p + 2] = b; img.data[4 * p + 3] = 255;
  }
  const tmp = new OffscreenCanvas(w, h);
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, w * scale, h * scale);
  return ctx;
}

export function strokeBox(ctx, box, scale, colour = "#ffd000") {
  const [y0, x0, y1, x1] = box;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.strokeRect(x0 * scale + 1, y0 * scale + 1, (x1 - x0) * scale - 2, (y1 - y0) * scale - 2);
}
