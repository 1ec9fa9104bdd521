// The geometry of a pane's matrix, from the state alone (the pane's size is state too), so
// that the matrix and the overview agree on what is in view.
import { MARGIN_LEFT, MARGIN_TOP } from "./axes.js";
import { dimsOf } from "./store.js";

// {dims, single, g, w, h, fit, scale, zoom, cx, cy, colStart, rowStart} of pane k: g is the
// window's size in cells, (cx, cy) the view centre in cells, scale the pixels per cell.
export function paneGeometry(state, k) {
  const p = state.panes[k], dims = dimsOf(state, k), single = dims <= 2;
  const g = single ? 1 : Math.max(1, Math.min(p.nav.windowSize, dims));
  const { w, h } = p.size || { w: 800, h: 600 };
  const fit = Math.max(1e-3, Math.min((w - MARGIN_LEFT - 8) / g, (h - MARGIN_TOP - 8) / g));
  return {
    dims, single, g, w, h, fit, scale: fit * p.nav.zoom, zoom: p.nav.zoom,
    cx: p.nav.cx * g, cy: p.nav.cy * g, colStart: single ? 0 : p.nav.colStart, rowStart: single ? 0 : p.nav.rowStart,
  };
}

// The part of the window in view, in window cells: [x0, y0, x1, y1].
export function viewport(G) {
  const ox = MARGIN_LEFT + (G.w - MARGIN_LEFT) / 2, oy = MARGIN_TOP + (G.h - MARGIN_TOP) / 2;
  const world = (sx, sy) => [(sx - ox) / G.scale + G.cx, (sy - oy) / G.scale + G.cy];
  const [x0, y0] = world(MARGIN_LEFT, MARGIN_TOP), [x1, y1] = world(G.w, G.h);
  return [x0, y0, x1, y1];
}
