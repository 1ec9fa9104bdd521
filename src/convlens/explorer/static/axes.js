// Axes of the scatter plot matrix: ticks with values on the outer (first visible) row and
// column, ticks and grid lines inside any cell zoomed to a readable size, and a zero line
// wherever zero is inside a dimension's view range. Drawn on the 2-D overlay; what was
// drawn is returned (the test hook reads it).

export const MARGIN_LEFT = 62, MARGIN_TOP = 36;
const LABEL_X = 34, LABEL_Y = 14, READABLE = 160, MAX_RECORD = 400;

// A "nice" step (1, 2 or 5 times a power of ten) giving about `count` intervals over `span`.
export function niceStep(span, count) {
  if (!(span > 0)) return 1;
  const raw = span / Math.max(1, count), mag = 10 ** Math.floor(Math.log10(raw)), n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

// Multiples of the nice step inside [lo, hi].
export function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, count), out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out.length ? out : [lo];
}

export function formatTick(v, step) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(step >= a ? 0 : 1).replace("e+", "e");
  const decimals = Math.max(0, Math.min(4, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

// Draw the axes of the visible cells of `m` (a Matrix) with geometry `G` and cloud `cloud`.
// Returns {ticks: [{axis, dim, value, text, at}], zero: [{axis, dim, cell, at}]}.
export function drawAxes(ctx, m, G, cloud, cells) {
  const [r0, c0, nr, nc] = cells, rec = { ticks: [], zero: [] };
  const record = (list, item) => { if (list.length < MAX_RECORD) list.push(item); };
  const px = G.scale * (1 - 2 * m.pad);   // inner size of a cell in pixels
  ctx.save();
  // zero lines in every visible cell
  if (px >= 6) {
    ctx.strokeStyle = "rgba(255, 255, 255, 0.38)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = r0; i < r0 + nr; i++) {
      for (let j = c0; j < c0 + nc; j++) {
        const [xd, yd] = m.cellDims(G, i, j);
        const tx = zeroT(cloud, xd);
        if (tx !== null) {
          const [x, y0] = m.cellToScreen(G, i, j, tx, 1), [, y1] = m.cellToScreen(G, i, j, tx, 0);
          ctx.moveTo(Math.round(x) + 0.5, y0); ctx.lineTo(Math.round(x) + 0.5, y1);
          record(rec.zero, { axis: "x", dim: xd, cell: [i, j], at: x });
        }
        const ty = xd === yd ? null : zeroT(cloud, yd);
        if (ty !== null) {
          const [x0, y] = m.cellToScreen(G, i, j, 0, ty), [x1] = m.cellToScreen(G, i, j, 1, ty);
          ctx.moveTo(x0, Math.round(y) + 0.5); ctx.lineTo(x1, Math.round(y) + 0.5);
          record(rec.zero, { axis: "y", dim: yd, cell: [i, j], at: y });
        }
      }
    }
    ctx.stroke();
  }
  // grid lines and values inside cells zoomed to a readable size
  if (px >= READABLE) {
    ctx.font = "10px system-ui, sans-serif";
    for (let i = r0; i < r0 + nr; i++) {
      for (let j = c0; j < c0 + nc; j++) {
        const [xd, yd] = m.cellDims(G, i, j);
        insideTicks(ctx, m, G, cloud, i, j, xd, xd === yd ? null : yd, px, rec, record, [i === r0, j === c0]);
      }
    }
  }
  ctx.restore();
  return rec;
}

// Tick marks and values of the first visible row (x, in the top margin) and column
// (y, in the left margin); call after the margins are painted.
export function drawMarginTicks(ctx, m, G, cloud, cells, rec) {
  const [r0, c0, nr, nc] = cells, px = G.scale * (1 - 2 * m.pad);
  const record = (item) => { if (rec.ticks.length < MAX_RECORD) rec.ticks.push(item); };
  ctx.save();
  ctx.font = "10px system-ui, sans-serif";
  ctx.fillStyle = "#b9bec6";
  ctx.strokeStyle = "#7d848d";
  ctx.lineWidth = 1;
  ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  if (px >= 14) {
    for (let j = c0; j < c0 + nc; j++) {
      const [xd] = m.cellDims(G, r0, j), [lo, hi] = cloud.viewRange(xd);
      const values = ticks(lo, hi, Math.max(2, Math.floor(px / LABEL_X)));
      const step = values.length > 1 ? values[1] - values[0] : niceStep(hi - lo, 1);
      let right = -Infinity;
      for (const v of values) {
        const [x] = m.cellToScreen(G, r0, j, cloud.toT(xd, v), 0);
        if (x < MARGIN_LEFT || x > G.w) continue;
        ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, MARGIN_TOP - 5); ctx.lineTo(Math.round(x) + 0.5, MARGIN_TOP); ctx.stroke();
        const text = formatTick(v, step), width = ctx.measureText(text).width;
        if (x - width / 2 < right + 4) continue;
        ctx.fillText(text, x, MARGIN_TOP - 12);
        right = x + width / 2;
        record({ axis: "x", dim: xd, value: v, text, at: x });
      }
    }
  }
  ctx.textAlign = "right";
  if (px >= 14) {
    for (let i = r0; i < r0 + nr; i++) {
      const [, yd] = m.cellDims(G, i, c0);
      if (G.single && G.dims === 1) continue;   // a 1-D layer: y is the jitter
      const [lo, hi] = cloud.viewRange(yd);
      const values = ticks(lo, hi, Math.max(1, Math.floor(px / LABEL_Y / 3)));
      const step = values.length > 1 ? values[1] - values[0] : niceStep(hi - lo, 1);
      let top = Infinity;
      for (const v of values) {
        const [, y] = m.cellToScreen(G, i, c0, 0, cloud.toT(yd, v));
        if (y < MARGIN_TOP || y > G.h) continue;
        ctx.beginPath(); ctx.moveTo(MARGIN_LEFT - 5, Math.round(y) + 0.5); ctx.lineTo(MARGIN_LEFT, Math.round(y) + 0.5); ctx.stroke();
        if (y + 6 > top) continue;
        const text = formatTick(v, step);
        ctx.fillText(text, MARGIN_LEFT - 7, y);
        top = y - 6;
        record({ axis: "y", dim: yd, value: v, text, at: y });
      }
    }
  }
  ctx.restore();
}

function zeroT(cloud, d) {
  const [lo, hi] = cloud.viewRange(d);
  return lo < 0 && hi > 0 ? cloud.toT(d, 0) : null;
}

// Grid lines at the tick values of a big cell, and their values along its bottom and left
// edges (not where the margins already label this cell: `labelled` = [x, y]).
function insideTicks(ctx, m, G, cloud, i, j, xd, yd, px, rec, record, labelled) {
  ctx.strokeStyle = "rgba(255, 255, 255, 0.09)";
  ctx.fillStyle = "rgba(220, 224, 230, 0.75)";
  const [xlo, xhi] = cloud.viewRange(xd), xs = ticks(xlo, xhi, Math.floor(px / 70));
  const xstep = xs.length > 1 ? xs[1] - xs[0] : 1;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  for (const v of xs) {
    const t = cloud.toT(xd, v), [x, yTop] = m.cellToScreen(G, i, j, t, 1), [, yBottom] = m.cellToScreen(G, i, j, t, 0);
    ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, yTop); ctx.lineTo(Math.round(x) + 0.5, yBottom); ctx.stroke();
    if (!labelled[0] && x > MARGIN_LEFT && x < G.w && yBottom > MARGIN_TOP && yBottom < G.h) {
      const text = formatTick(v, xstep);
      ctx.fillText(text, x, yBottom - 2);
      record(rec.ticks, { axis: "x", dim: xd, value: v, text, at: x, cell: [i, j] });
    }
  }
  if (yd === null) return;
  const [ylo, yhi] = cloud.viewRange(yd), ys = ticks(ylo, yhi, Math.floor(px / 50));
  const ystep = ys.length > 1 ? ys[1] - ys[0] : 1;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  for (const v of ys) {
    const t = cloud.toT(yd, v), [xLeft, y] = m.cellToScreen(G, i, j, 0, t), [xRight] = m.cellToScreen(G, i, j, 1, t);
    ctx.beginPath(); ctx.moveTo(xLeft, Math.round(y) + 0.5); ctx.lineTo(xRight, Math.round(y) + 0.5); ctx.stroke();
    if (!labelled[1] && xLeft > MARGIN_LEFT && xLeft < G.w && y > MARGIN_TOP && y < G.h) {
      const text = formatTick(v, ystep);
      ctx.fillText(text, xLeft + 3, y);
      record(rec.ticks, { axis: "y", dim: yd, value: v, text, at: y, cell: [i, j] });
    }
  }
}
