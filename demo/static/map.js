// The demo's interactive map: a canvas in Web Mercator, drawn from vector outlines the app
// serves itself (demo/basemap.py); no tile server, CDN or web font. Run by gr.HTML's js_on_load,
// which passes `element`, `props` (props.value: the JSON the app sends, see demo/map_view.py),
// `trigger` (events for the app), `server` (the app's Python functions) and `watch`.
//
// Pan by dragging or with the arrow keys, zoom with the wheel, +/- keys, double-click or the
// buttons; a click on a pin (or an explored photo's point) selects its photo ('select'), a click
// elsewhere picks the place ('pick'). The root element's data-* attributes say what is drawn,
// for tests and scripts.

const root = element.querySelector('.jg-map');
const canvas = root.querySelector('canvas');
const ctx = canvas.getContext('2d');
const legend = root.querySelector('.jg-legend');
const MAX_LAT = 85.0511;
const DETAIL_SPAN_DEG = 30;  // narrower views draw the ~1 km outlines
const MIN_SCALE_FACTOR = 0.9;  // the whole world, a little smaller than the canvas
const MAX_SCALE = 2e6;  // pixels per world width: a few hundred metres per pixel
const COLOURS = {
  ocean: '#cfe3f3', land: '#efebde', coast: '#54687a', border: '#9a8f99', grid: '#bacede',
  pin: '#1f77b4', selected: '#d62728', alternative: '#ff7f0e', truth: '#2ca02c',
  gallery: '#9467bd', pick: '#1f77b4', result: '#9467bd', coarse: '#d62728',
};

const mx = lon => (lon + 180) / 360;
const my = lat => {
  const s = Math.sin(Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI / 180);
  return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
};
const lonOf = x => x * 360 - 180;
const latOf = y => 360 / Math.PI * Math.atan(Math.exp((0.5 - y) * 2 * Math.PI)) - 90;

const state = {
  view: { x: 0.5, y: 0.5, scale: 0 },  // centre in world units (0..1), pixels per world unit
  data: { pins: [] },
  viewId: null,
  layers: {},  // resolution -> projected outlines, or 'loading'
  hits: [],  // [x, y, index] of the pins drawn, for clicks
  explore: null,  // an explored results file's points, decoded (see demo/explore.py)
  width: 0, height: 0,
};

function decode(b64, Type) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Type(bytes.buffer);
}

function project(raw) {
  // Outlines to world units once, with each line's box (x0, y0, x1, y1) for culling.
  const coords = decode(raw.coords, Float32Array);
  const boxes = decode(raw.boxes, Float32Array);
  const xy = new Float32Array(coords.length);
  for (let i = 0; i < coords.length; i += 2) {
    xy[i] = mx(coords[i]);
    xy[i + 1] = my(coords[i + 1]);
  }
  const n = boxes.length / 4;
  const box = new Float32Array(boxes.length);
  for (let k = 0; k < n; k++) {
    box[4 * k] = mx(boxes[4 * k]);
    box[4 * k + 1] = my(boxes[4 * k + 3]);
    box[4 * k + 2] = mx(boxes[4 * k + 2]);
    box[4 * k + 3] = my(boxes[4 * k + 1]);
  }
  return { xy, starts: decode(raw.starts, Int32Array), levels: decode(raw.levels, Uint8Array),
           box, n };
}

async function loadLayer(resolution) {
  if (state.layers[resolution]) return;
  state.layers[resolution] = 'loading';
  try {
    const raw = await server.basemap_layer(resolution);
    if (raw.note) root.dataset.note = raw.note;
    state.layers[resolution] = raw.coast ? { coast: project(raw.coast),
                                             borders: project(raw.borders) } : 'missing';
  } catch (e) {
    console.error('jaxgeo map: outlines not loaded', e);
    state.layers[resolution] = null;  // tried again on the next draw
    return;
  }
  draw();
}

function resize() {
  const rect = canvas.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  state.width = Math.max(1, rect.width);
  state.height = Math.max(1, rect.height);
  canvas.width = Math.round(state.width * ratio);
  canvas.height = Math.round(state.height * ratio);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  if (!state.view.scale) fitWorld();
  clampView();
}

function minScale() { return MIN_SCALE_FACTOR * Math.min(state.width, state.height * 1.6); }

function clampView() {
  const v = state.view;
  v.scale = Math.max(minScale(), Math.min(MAX_SCALE, v.scale));
  const halfW = state.width / 2 / v.scale, halfH = state.height / 2 / v.scale;
  v.x = halfW >= 0.5 ? 0.5 : Math.max(halfW, Math.min(1 - halfW, v.x));
  v.y = halfH >= 0.5 ? 0.5 : Math.max(halfH, Math.min(1 - halfH, v.y));
}

function fitWorld() { state.view = { x: 0.5, y: 0.5, scale: minScale() }; }

function fitBounds(south, west, north, east) {
  const x0 = mx(west), x1 = mx(east), y0 = my(north), y1 = my(south);
  const pad = 0.8;
  state.view = { x: (x0 + x1) / 2, y: (y0 + y1) / 2,
                 scale: Math.min(pad * state.width / Math.max(x1 - x0, 1e-9),
                                 pad * state.height / Math.max(y1 - y0, 1e-9)) };
  clampView();
}

const toScreen = (x, y) => [(x - state.view.x) * state.view.scale + state.width / 2,
                            (y - state.view.y) * state.view.scale + state.height / 2];
const fromScreen = (sx, sy) => [(sx - state.width / 2) / state.view.scale + state.view.x,
                                (sy - state.height / 2) / state.view.scale + state.view.y];
const screenOf = (lat, lon) => toScreen(mx(lon), my(lat));

function visibleBox() {
  const [x0, y0] = fromScreen(0, 0), [x1, y1] = fromScreen(state.width, state.height);
  return [x0, y0, x1, y1];
}

// Skia (Chrome's canvas) fills paths wrongly once coordinates pass about 32k pixels, which a
// continent's outline does when zoomed to a city: such lines are clipped to a guard band first.
const GUARD = 2000, SAFE = 16000;

function clipPolygon(pts, x0, y0, x1, y1) {
  // Sutherland-Hodgman against the box: the part of the polygon inside it, still closed.
  const edges = [[p => p[0] >= x0, (a, b) => cut(a, b, 0, x0)],
                 [p => p[0] <= x1, (a, b) => cut(a, b, 0, x1)],
                 [p => p[1] >= y0, (a, b) => cut(a, b, 1, y0)],
                 [p => p[1] <= y1, (a, b) => cut(a, b, 1, y1)]];
  function cut(a, b, axis, v) {
    const t = (v - a[axis]) / (b[axis] - a[axis]);
    return [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
  }
  for (const [inside, intersect] of edges) {
    const out = [];
    for (let i = 0; i < pts.length; i++) {
      const cur = pts[i], prev = pts[(i + pts.length - 1) % pts.length];
      if (inside(cur)) {
        if (!inside(prev)) out.push(intersect(prev, cur));
        out.push(cur);
      } else if (inside(prev)) {
        out.push(intersect(prev, cur));
      }
    }
    pts = out;
    if (!pts.length) break;
  }
  return pts;
}

function clipSegment(a, b, x0, y0, x1, y1) {
  // Liang-Barsky: the part of segment a-b inside the box, or null.
  let t0 = 0, t1 = 1;
  const dx = b[0] - a[0], dy = b[1] - a[1];
  for (const [p, q] of [[-dx, a[0] - x0], [dx, x1 - a[0]], [-dy, a[1] - y0], [dy, y1 - a[1]]]) {
    if (p === 0) { if (q < 0) return null; continue; }
    const t = q / p;
    if (p < 0) { if (t > t1) return null; if (t > t0) t0 = t; }
    else { if (t < t0) return null; if (t < t1) t1 = t; }
  }
  return [[a[0] + t0 * dx, a[1] + t0 * dy], [a[0] + t1 * dx, a[1] + t1 * dy]];
}

function tracePaths(layer, keep, view, closed = true) {
  // One path of every visible line whose level passes `keep`; points closer than half a pixel
  // to the last one kept are skipped (the world view has 90k points).
  const { xy, starts, levels, box, n } = layer;
  const s = state.view.scale, cx = state.view.x, cy = state.view.y;
  const hw = state.width / 2, hh = state.height / 2;
  const gx0 = -GUARD, gy0 = -GUARD, gx1 = state.width + GUARD, gy1 = state.height + GUARD;
  ctx.beginPath();
  for (let k = 0; k < n; k++) {
    if (!keep(levels[k])) continue;
    if (box[4 * k + 2] < view[0] || box[4 * k] > view[2] || box[4 * k + 3] < view[1]
        || box[4 * k + 1] > view[3]) continue;
    const far = (box[4 * k] - cx) * s + hw < -SAFE || (box[4 * k + 2] - cx) * s + hw > SAFE
      || (box[4 * k + 1] - cy) * s + hh < -SAFE || (box[4 * k + 3] - cy) * s + hh > SAFE;
    const pts = [];
    let lastX = NaN, lastY = NaN;
    for (let i = starts[k]; i < starts[k + 1]; i++) {
      const px = (xy[2 * i] - cx) * s + hw, py = (xy[2 * i + 1] - cy) * s + hh;
      if (Math.abs(px - lastX) + Math.abs(py - lastY) < 0.5 && i !== starts[k + 1] - 1) continue;
      if (!far) {
        if (i === starts[k]) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      } else {
        pts.push([px, py]);
      }
      lastX = px; lastY = py;
    }
    if (!far) {
      continue;
    } else if (closed) {
      clipPolygon(pts, gx0, gy0, gx1, gy1).forEach(([x, y], i) => (
        i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    } else {
      let end = null;
      for (let i = 1; i < pts.length; i++) {
        const seg = clipSegment(pts[i - 1], pts[i], gx0, gy0, gx1, gy1);
        if (!seg) { end = null; continue; }
        if (!end || end[0] !== seg[0][0] || end[1] !== seg[0][1]) ctx.moveTo(...seg[0]);
        ctx.lineTo(...seg[1]);
        end = seg[1];
      }
    }
  }
}

function drawBasemap(view) {
  const spanDeg = (view[2] - view[0]) * 360;
  const wanted = spanDeg < DETAIL_SPAN_DEG ? 'i' : 'l';
  if (!state.layers[wanted]) loadLayer(wanted);
  let resolution = wanted;
  if (typeof state.layers[wanted] !== 'object' || !state.layers[wanted]) {
    resolution = wanted === 'i' && typeof state.layers.l === 'object' && state.layers.l ? 'l' : '';
  }
  root.dataset.layer = resolution;
  if (!resolution) return;
  const { coast, borders } = state.layers[resolution];
  // Land, then lakes in it, then islands in the lakes, then ponds on them.
  ctx.fillStyle = COLOURS.land;
  tracePaths(coast, l => l === 1 || l >= 5, view);
  ctx.fill('evenodd');
  ctx.fillStyle = COLOURS.ocean;
  tracePaths(coast, l => l === 2, view);
  ctx.fill();
  ctx.fillStyle = COLOURS.land;
  tracePaths(coast, l => l === 3, view);
  ctx.fill();
  ctx.fillStyle = COLOURS.ocean;
  tracePaths(coast, l => l === 4, view);
  ctx.fill();
  ctx.strokeStyle = COLOURS.coast;
  ctx.lineWidth = 0.7;
  tracePaths(coast, l => l <= 4, view);  // not Antarctica's edges along the map's bottom
  ctx.stroke();
  ctx.strokeStyle = COLOURS.border;
  ctx.setLineDash([4, 3]);
  tracePaths(borders, () => true, view, false);
  ctx.stroke();
  ctx.setLineDash([]);
}

function drawGrid(view) {
  const spanDeg = (view[2] - view[0]) * 360;
  const step = [60, 30, 10, 5, 2, 1, 0.5, 0.1].find(s => spanDeg / s <= 12) || 0.1;
  ctx.strokeStyle = COLOURS.grid;
  ctx.lineWidth = 0.5;
  ctx.beginPath();
  for (let lon = Math.ceil(lonOf(view[0]) / step) * step; lon <= lonOf(view[2]); lon += step) {
    const [x] = toScreen(mx(lon), 0);
    ctx.moveTo(x, 0); ctx.lineTo(x, state.height);
  }
  for (let lat = Math.ceil(latOf(view[3]) / step) * step; lat <= latOf(view[1]); lat += step) {
    const [, y] = toScreen(0, my(lat));
    ctx.moveTo(0, y); ctx.lineTo(state.width, y);
  }
  ctx.stroke();
}

function heatColour(t) {
  // Pale yellow (unlikely) to deep red (the model's best cells).
  const r = 255, g = Math.round(230 - 200 * t), b = Math.round(120 - 100 * t);
  return `rgba(${r},${g},${b},${0.12 + 0.33 * t})`;
}

function polygon(ring) {
  // A cell or box, clipped to the guard band (a cell of 1,000 km is huge at a city's zoom).
  const pts = clipPolygon(ring.map(([lat, lon]) => screenOf(lat, lon)), -GUARD, -GUARD,
                          state.width + GUARD, state.height + GUARD);
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
}

function dot(lat, lon, r, fill, stroke = '#fff', width = 1.5) {
  const [x, y] = screenOf(lat, lon);
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.lineWidth = width;
  ctx.strokeStyle = stroke;
  ctx.stroke();
  marker(x, y, r + width / 2);
  return [x, y];
}

// Labels are placed after everything else is drawn, each at the first of a few candidate spots
// that is on the canvas and clear of every marker, of the map's buttons and legend, and of the
// labels placed before it: a distance label drawn at the middle of a short line sat under the
// marker at its end ('1,133 km' read '133 km') and ran into the pin's name. A label with no
// free spot is shortened with an ellipsis, then left out (the inspector says it in words).
const LABEL_FONT = '12px sans-serif';
const LABEL_H = 16;  // a label's box: a 12px line, its white halo and a pixel to spare
const LABEL_PAD = 3;
const LABEL_MAX_W = 170;  // px; a 40-character file name is ~250 px
const GAP = 3;  // between a marker and its label
const scene = { markers: [], lines: [], labels: [] };

function marker(x, y, r) {
  // What labels keep clear of: a drawn marker's box, its white edge included.
  const m = r + 1;
  scene.markers.push([x - m, y - m, x + m, y + m]);
}

const overlaps = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

function aroundPoint(x, y, r) {
  // A label's spots around a marker of radius r: beside it first, then above and below, then
  // the same a line further out (for pins close together).
  return (w, h) => {
    const spots = [];
    for (const d of [r + GAP, r + GAP + h]) {
      spots.push([x + d, y - h / 2], [x - d - w, y - h / 2], [x + r / 2, y - d - h],
                 [x + r / 2, y + d], [x - w / 2, y - d - h], [x - w / 2, y + d],
                 [x - r / 2 - w, y - d - h], [x - r / 2 - w, y + d]);
    }
    return spots;
  };
}

function alongLine(ax, ay, bx, by) {
  // A line's label spots: beside the line (never across it), at the middle of its part in view
  // first, pushed further out when the markers at its ends are in the way.
  const seen = clipSegment([ax, ay], [bx, by], 0, 0, state.width, state.height);
  if (!seen) return () => [];
  [[ax, ay], [bx, by]] = seen;
  const len = Math.hypot(bx - ax, by - ay);
  let nx = len ? -(by - ay) / len : 0, ny = len ? (bx - ax) / len : -1;
  if (ny > 0) { nx = -nx; ny = -ny; }  // above the line first
  return (w, h) => {
    const clear = Math.abs(nx) * w / 2 + Math.abs(ny) * h / 2 + GAP;
    const spots = [];
    for (const extra of [0, 12, 28, 48]) {
      for (const f of [0.5, 0.35, 0.65, 0.2, 0.8]) {
        for (const side of [1, -1]) {
          const cx = ax + f * (bx - ax) + side * nx * (clear + extra);
          const cy = ay + f * (by - ay) + side * ny * (clear + extra);
          spots.push([cx - w / 2, cy - h / 2]);
        }
      }
    }
    return spots;
  };
}

function label(text, spots, priority, backdrop = false) {
  scene.labels.push({ text, spots, priority, backdrop, order: scene.labels.length });
}

function ellipsize(text, maxWidth) {
  if (ctx.measureText(text).width <= maxWidth) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {  // the longest start of the text that fits with its ellipsis
    const mid = Math.ceil((lo + hi) / 2);
    if (ctx.measureText(text.slice(0, mid) + '\u2026').width <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return lo ? text.slice(0, lo) + '\u2026' : '';
}

function chromeBoxes() {
  // The buttons, legend and attribution over the canvas, in canvas pixels.
  const origin = canvas.getBoundingClientRect();
  return [...root.querySelectorAll('.jg-controls, .jg-legend, .jg-attrib')]
    .filter(e => e.textContent.trim() || e.children.length)
    .map(e => e.getBoundingClientRect())
    .filter(r => r.width && r.height)
    .map(r => [r.left - origin.left, r.top - origin.top, r.right - origin.left,
               r.bottom - origin.top]);
}

function spotFor(item, placed, blocked) {
  const limit = Math.min(LABEL_MAX_W, state.width * 0.45);
  let tried = null;
  for (const maxWidth of [limit, limit * 0.6, limit * 0.35]) {
    const text = ellipsize(item.text, maxWidth - 2 * LABEL_PAD);
    if (!text || text === tried) continue;
    tried = text;
    const w = ctx.measureText(text).width + 2 * LABEL_PAD, h = LABEL_H;
    const spots = item.spots(w, h);
    for (const crossing of [false, true]) {  // across a line only when nothing else is free
      for (const [x0, y0] of spots) {
        const box = [x0, y0, x0 + w, y0 + h];
        if (box[0] < 0 || box[1] < 0 || box[2] > state.width || box[3] > state.height) continue;
        if (placed.some(p => overlaps(p.box, box)) || blocked.some(b => overlaps(b, box))) {
          continue;
        }
        if (!crossing && scene.lines.some(([ax, ay, bx, by]) => clipSegment(
          [ax, ay], [bx, by], ...box))) continue;
        return { text, box, backdrop: item.backdrop };
      }
    }
  }
  return null;
}

function drawLabels() {
  ctx.font = LABEL_FONT;
  const blocked = [...scene.markers, ...chromeBoxes()];
  const placed = [];
  const queue = [...scene.labels].sort((a, b) => a.priority - b.priority || a.order - b.order);
  for (const item of queue) {
    const spot = spotFor(item, placed, blocked);
    if (spot) placed.push(spot);
  }
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  for (const { text, box, backdrop } of placed) {
    const [x0, y0, x1, y1] = box;
    if (backdrop) {
      ctx.fillStyle = 'rgba(255,255,255,0.85)';
      ctx.fillRect(x0, y0 + 1, x1 - x0, y1 - y0 - 2);
    }
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'rgba(255,255,255,0.9)';
    ctx.strokeText(text, x0 + LABEL_PAD, (y0 + y1) / 2);
    ctx.fillStyle = '#222';
    ctx.fillText(text, x0 + LABEL_PAD, (y0 + y1) / 2);
  }
  ctx.textBaseline = 'alphabetic';
  // What was drawn where, for tests and scripts: labels [text, x0, y0, x1, y1] and the boxes
  // of the markers in view.
  root.dataset.labels = JSON.stringify(placed.map(({ text, box }) => [
    text, ...box.map(v => Math.round(v * 10) / 10)]));
  root.dataset.markers = JSON.stringify(scene.markers
    .filter(m => m[2] > 0 && m[3] > 0 && m[0] < state.width && m[1] < state.height)
    .slice(0, 400).map(m => m.map(v => Math.round(v * 10) / 10)));
}

function drawFocus(focus) {
  // The selected photo: its heat map, alternatives, gallery photos and true place.
  let heat = 0;
  const cells = focus.cells || [];
  const top = cells.reduce((m, c) => Math.max(m, c.p), 0) || 1;
  for (const cell of cells) {
    polygon(cell.ring);
    // A cell far larger than the view says nothing at this zoom: it fades, the map shows.
    const xs = cell.ring.map(([lat, lon]) => screenOf(lat, lon)[0]);
    const across = Math.max(...xs) - Math.min(...xs);
    ctx.globalAlpha = Math.max(0.25, Math.min(1, 2 * state.width / Math.max(across, 1)));
    ctx.fillStyle = heatColour(Math.sqrt(cell.p / top));
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = 'rgba(180,60,20,0.35)';
    ctx.lineWidth = 0.5;
    ctx.stroke();
    heat++;
  }
  root.dataset.heatCells = String(heat);
  if (focus.box) {
    const [s, w, n, e] = focus.box;
    polygon([[n, w], [n, e], [s, e], [s, w]]);
    ctx.fillStyle = 'rgba(214,39,40,0.18)';
    ctx.fill();
    ctx.strokeStyle = COLOURS.coarse;
    ctx.lineWidth = 2;
    ctx.stroke();
  }
  for (const [lat, lon] of focus.gallery || []) dot(lat, lon, 3, COLOURS.gallery);
  (focus.alternatives || []).forEach(([lat, lon], i) => {
    const [x, y] = dot(lat, lon, 6, COLOURS.alternative);
    label(String(i + 2), aroundPoint(x, y, 7), 3);
  });
  if (focus.truth && focus.answer) {
    const [ax, ay] = screenOf(...focus.answer), [tx, ty] = screenOf(...focus.truth);
    ctx.beginPath();
    ctx.moveTo(ax, ay); ctx.lineTo(tx, ty);
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = '#333';
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.setLineDash([]);
    scene.lines.push([ax, ay, tx, ty]);
    if (focus.error_km != null) {
      label(`${focus.error_km < 10 ? focus.error_km.toFixed(1) : Math.round(focus.error_km)
               .toLocaleString('en')} km`, alongLine(ax, ay, tx, ty), 1, true);
    }
  }
  if (focus.marker && focus.answer) dot(focus.answer[0], focus.answer[1], 7, COLOURS.selected,
                                        '#fff', 2.5);
  if (focus.truth) {
    const [x, y] = screenOf(...focus.truth);
    ctx.beginPath();
    ctx.moveTo(x, y - 8); ctx.lineTo(x + 8, y); ctx.lineTo(x, y + 8); ctx.lineTo(x - 8, y);
    ctx.closePath();
    ctx.fillStyle = COLOURS.truth;
    ctx.fill();
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1.5;
    ctx.stroke();
    marker(x, y, 9);
    label(focus.truthLabel || 'GPS', aroundPoint(x, y, 9), 2);
  }
}

function drawPins(data) {
  state.hits = [];
  const selected = data.selected;
  let drawn = 0;
  const order = [...data.pins].sort((a, b) => (a.i === selected) - (b.i === selected));
  for (const pin of order) {
    if (pin.box) {  // a coarse answer: its box, never a point
      const [s, w, n, e] = pin.box;
      if (pin.i !== selected) {
        polygon([[n, w], [n, e], [s, e], [s, w]]);
        ctx.strokeStyle = 'rgba(31,119,180,0.8)';
        ctx.lineWidth = 1;
        ctx.stroke();
      }
      const [x, y] = screenOf((s + n) / 2, (w + e) / 2);
      state.hits.push([x, y, pin.i]);
      drawn++;
      continue;
    }
    const isSelected = pin.i === selected;
    const [x, y] = dot(pin.lat, pin.lon, isSelected ? 8 : 5,
                       isSelected ? COLOURS.selected : COLOURS.pin, '#fff', isSelected ? 2.5 : 1.5);
    if (isSelected && pin.label) label(pin.label, aroundPoint(x, y, 9.5), 0);
    state.hits.push([x, y, pin.i]);
    drawn++;
  }
  root.dataset.pins = String(drawn);
  root.dataset.hits = JSON.stringify(state.hits.map(([x, y, i]) => [Math.round(x), Math.round(y),
                                                                     i]));
}

function decodeExplore(raw) {
  // The shown photos of a results file, projected once: world x/y of answer and truth.
  const n = raw.n, lat = decode(raw.lat, Float32Array), lon = decode(raw.lon, Float32Array);
  const tlat = decode(raw.tlat, Float32Array), tlon = decode(raw.tlon, Float32Array);
  const x = new Float64Array(n), y = new Float64Array(n);
  const tx = new Float64Array(n), ty = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = mx(lon[i]); y[i] = my(lat[i]);
    tx[i] = Number.isNaN(tlat[i]) ? NaN : mx(tlon[i]);
    ty[i] = Number.isNaN(tlat[i]) ? NaN : my(tlat[i]);
  }
  return { n, x, y, tx, ty, row: decode(raw.row, Int32Array), cls: decode(raw.cls, Uint8Array),
           colours: raw.colours, lineLimit: raw.lineLimit };
}

function drawExplore(e) {
  // Every shown photo as a small square in its error's colour, one path per colour; lines to
  // the true places only when few enough points are in view.
  const s = state.view.scale, cx = state.view.x, cy = state.view.y;
  const hw = state.width / 2, hh = state.height / 2;
  const sx = new Float32Array(e.n), sy = new Float32Array(e.n);
  let inView = 0;
  for (let i = 0; i < e.n; i++) {
    sx[i] = (e.x[i] - cx) * s + hw;
    sy[i] = (e.y[i] - cy) * s + hh;
    if (sx[i] >= 0 && sy[i] >= 0 && sx[i] <= state.width && sy[i] <= state.height) inView++;
  }
  let lines = 0;
  if (inView <= e.lineLimit) {
    ctx.beginPath();
    for (let i = 0; i < e.n; i++) {
      if (Number.isNaN(e.tx[i])) continue;
      const tx = (e.tx[i] - cx) * s + hw, ty = (e.ty[i] - cy) * s + hh;
      if (Math.max(sx[i], tx) < 0 || Math.min(sx[i], tx) > state.width
          || Math.max(sy[i], ty) < 0 || Math.min(sy[i], ty) > state.height) continue;
      const seg = clipSegment([sx[i], sy[i]], [tx, ty], -GUARD, -GUARD, state.width + GUARD,
                              state.height + GUARD);
      if (!seg) continue;
      ctx.moveTo(...seg[0]); ctx.lineTo(...seg[1]);
      lines++;
    }
    ctx.strokeStyle = 'rgba(60,60,60,0.22)';
    ctx.lineWidth = 0.8;
    ctx.stroke();
  }
  const size = e.n > 20000 ? 2 : e.n > 2000 ? 3 : 5, half = size / 2;
  for (let c = e.colours.length - 1; c >= 0; c--) {  // the best answers drawn last, on top
    ctx.beginPath();
    for (let i = 0; i < e.n; i++) {
      if (e.cls[i] !== c || sx[i] < -size || sy[i] < -size || sx[i] > state.width + size
          || sy[i] > state.height + size) continue;
      ctx.rect(sx[i] - half, sy[i] - half, size, size);
    }
    ctx.fillStyle = e.colours[c];
    ctx.fill();
  }
  state.exploreScreen = { sx, sy };
  root.dataset.points = String(inView);
  root.dataset.lines = String(lines);
  const sample = [];  // a few points in view, [x, y, row], for tests and scripts
  for (let i = 0; i < e.n && sample.length < 20; i++) {
    if (sx[i] >= 0 && sy[i] >= 0 && sx[i] <= state.width && sy[i] <= state.height) {
      sample.push([Math.round(sx[i]), Math.round(sy[i]), e.row[i]]);
    }
  }
  root.dataset.sample = JSON.stringify(sample);
}

function nearestExplored(px, py, radius) {
  // The row of the explored point nearest to (px, py) within `radius` pixels, or null.
  const e = state.explore, scr = state.exploreScreen;
  if (!e || !scr) return null;
  let best = null, bestD = radius * radius;
  for (let i = 0; i < e.n; i++) {
    const d = (scr.sx[i] - px) ** 2 + (scr.sy[i] - py) ** 2;
    if (d <= bestD) { best = e.row[i]; bestD = d; }
  }
  return best;
}

function drawSearch(data) {
  for (const [lat, lon] of data.results || []) dot(lat, lon, 5, COLOURS.result);
  if (data.pick) {
    const [x, y] = dot(data.pick[0], data.pick[1], 7, COLOURS.pick, '#fff', 2.5);
    label('here', aroundPoint(x, y, 8.5), 0);
  }
}

function draw() {
  if (!state.width) return;
  const started = performance.now();
  const view = visibleBox();
  ctx.fillStyle = COLOURS.ocean;
  ctx.fillRect(0, 0, state.width, state.height);
  drawGrid(view);
  drawBasemap(view);
  const data = state.data;
  root.dataset.heatCells = '0';
  scene.markers = []; scene.lines = []; scene.labels = [];
  if (state.explore) drawExplore(state.explore);
  if (data.focus) drawFocus(data.focus);
  drawPins(data);
  drawSearch(data);
  const spanDeg = (view[2] - view[0]) * 360;
  root.dataset.span = spanDeg.toFixed(4);
  root.dataset.centre = `${latOf(state.view.y).toFixed(4)},${lonOf(state.view.x).toFixed(4)}`;
  root.dataset.view = [latOf(view[3]), lonOf(view[0]), latOf(view[1]), lonOf(view[2])]
    .map(v => v.toFixed(4)).join(',');  // south, west, north, east
  root.dataset.selected = data.selected == null ? '' : String(data.selected);
  legend.textContent = root.dataset.note || data.legend || '';
  drawLabels();  // last: on top of everything, and clear of the legend just set
  root.dataset.drawMs = (performance.now() - started).toFixed(1);
}

let frame = 0;
function redraw() {
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
}

function update() {
  try {
    state.data = props.value ? JSON.parse(props.value) : { pins: [] };
  } catch (e) {
    console.error('jaxgeo map: bad value', e);
    state.data = { pins: [] };
  }
  state.data.pins = state.data.pins || [];
  if (state.data.explore) {
    // Decoded again only when the points change (a new selection keeps them).
    const key = state.data.explore.key;
    if (key !== state.exploreKey) {
      state.explore = decodeExplore(state.data.explore);
      state.exploreKey = key;
    }
  } else {
    state.explore = null;
    state.exploreKey = null;
    root.dataset.points = '0';
  }
  const v = state.data.view;
  if (v && v.id !== state.viewId) {
    state.viewId = v.id;
    if (v.bounds) fitBounds(...v.bounds); else fitWorld();
  } else if (state.data.selected != null && state.data.selected !== state.shown) {
    // A newly selected photo whose pin is off the view: centre on it, keeping the zoom.
    const pin = state.data.pins.find(p => p.i === state.data.selected);
    if (pin && state.width) {
      const lat = pin.box ? (pin.box[0] + pin.box[2]) / 2 : pin.lat;
      const lon = pin.box ? (pin.box[1] + pin.box[3]) / 2 : pin.lon;
      const [x, y] = screenOf(lat, lon);
      if (x < 0 || y < 0 || x > state.width || y > state.height) {
        state.view.x = mx(lon);
        state.view.y = my(lat);
        clampView();
      }
    }
  }
  if (state.data.selected != null && state.data.selected !== state.shown && !state.explore) {
    window.dispatchEvent(new CustomEvent('jaxgeo-select',
                                         { detail: { index: state.data.selected } }));
  }
  state.shown = state.data.selected;
  redraw();
}

function zoomAt(factor, sx = state.width / 2, sy = state.height / 2) {
  const [wx, wy] = fromScreen(sx, sy);
  state.view.scale *= factor;
  clampView();
  const [nx, ny] = fromScreen(sx, sy);  // keep the point under the cursor in place
  state.view.x += wx - nx;
  state.view.y += wy - ny;
  clampView();
  redraw();
}

function panBy(dx, dy) {
  state.view.x -= dx / state.view.scale;
  state.view.y -= dy / state.view.scale;
  clampView();
  redraw();
}

let drag = null;
canvas.addEventListener('pointerdown', e => {
  drag = { x: e.clientX, y: e.clientY, moved: 0 };
  canvas.setPointerCapture(e.pointerId);
});
canvas.addEventListener('pointermove', e => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  drag.moved += Math.abs(dx) + Math.abs(dy);
  drag.x = e.clientX; drag.y = e.clientY;
  panBy(dx, dy);
});
canvas.addEventListener('pointerup', e => {
  const click = drag && drag.moved < 5;
  drag = null;
  if (!click) return;
  const rect = canvas.getBoundingClientRect();
  const sx = e.clientX - rect.left, sy = e.clientY - rect.top;
  let best = null, bestD = 12 * 12;
  for (const [x, y, i] of state.hits) {
    const d = (x - sx) ** 2 + (y - sy) ** 2;
    if (d <= bestD) { best = i; bestD = d; }
  }
  if (best === null) best = nearestExplored(sx, sy, 8);
  if (best !== null) {
    if (!state.explore) {  // the library follows its own map's pins
      window.dispatchEvent(new CustomEvent('jaxgeo-select', { detail: { index: best } }));
    }
    trigger('select', { index: best });
  } else {
    const [wx, wy] = fromScreen(sx, sy);
    trigger('pick', { lat: latOf(wy), lon: ((lonOf(wx) + 540) % 360) - 180 });
  }
});
canvas.addEventListener('wheel', e => {
  e.preventDefault();
  const rect = canvas.getBoundingClientRect();
  zoomAt(Math.exp(-e.deltaY * 0.002), e.clientX - rect.left, e.clientY - rect.top);
}, { passive: false });
canvas.addEventListener('dblclick', e => {
  const rect = canvas.getBoundingClientRect();
  zoomAt(2, e.clientX - rect.left, e.clientY - rect.top);
});
root.addEventListener('keydown', e => {
  const step = 80;
  const keys = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step],
                 ArrowDown: [0, -step] };
  if (keys[e.key]) panBy(...keys[e.key]);
  else if (e.key === '+' || e.key === '=') zoomAt(2);
  else if (e.key === '-') zoomAt(0.5);
  else return;
  e.preventDefault();
});
root.querySelector('.jg-zoom-in').addEventListener('click', () => zoomAt(2));
root.querySelector('.jg-zoom-out').addEventListener('click', () => zoomAt(0.5));
root.querySelector('.jg-fit').addEventListener('click', () => {
  if (state.data.home) fitBounds(...state.data.home); else fitWorld();
  redraw();
});
new ResizeObserver(() => { resize(); draw(); }).observe(canvas);
watch('value', update);
resize();
update();
