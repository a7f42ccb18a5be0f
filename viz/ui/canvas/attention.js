// The attention page's layer slider, heatmap and head view, drawn on canvases in the browser.
//
// The heatmap and the head view hold every layer of the open head, so a step of the layer
// slider repaints them here, in a few milliseconds, instead of waiting for a rerun of the
// page and Plotly's redraw of two figures. The step is then reported to the server (a
// trigger), which updates the rest of the page and the share link.
//
// Three components share one page-wide state (`window.__vizAttention`): the slider owns the
// layer, the heatmap decodes the weights and owns them, the head view draws from them. Text
// from the user (tokens) is only ever set as textContent or drawn with fillText: never HTML.

const S = (window.__vizAttention ||= { layer: null, seq: null, sent: null, listeners: new Set(), sets: new Map() });
const FONT = "12px 'Source Sans Pro', 'Noto Sans', 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', sans-serif";
const SMALL = "10px 'Source Sans Pro', 'Noto Sans', 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', sans-serif";
const FOCUS = "#ff7f0e";
const BOUNDARY = "#d62728";
const KEEP_SETS = 4;

function bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
const floats = (b64) => new Float32Array(bytes(b64).buffer);
const uint16s = (b64) => new Uint16Array(bytes(b64).buffer);

function setLayer(layer, now = false) {
  if (layer === S.layer) return;
  S.layer = layer;
  for (const fn of S.listeners) fn(now);
}

// A redraw when data arrives waits for the next frame, so that the several messages of one
// run (slider, heatmap, model view, head view) paint each canvas once; a step of the slider
// draws at once.
function later(root, draw) {
  if (root.__vizPending) return;
  root.__vizPending = true;
  requestAnimationFrame(() => {
    root.__vizPending = false;
    draw(root);
  });
}

function listen(root, fn) {
  if (root.__vizListener) S.listeners.delete(root.__vizListener);
  root.__vizListener = fn;
  S.listeners.add(fn);
}

function canvasFor(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

function textColour(el) {
  return getComputedStyle(el).color || "#31333f";
}

function tip(root, event, lines) {
  const box = root.querySelector(".viz-tip");
  if (!lines) {
    box.hidden = true;
    return;
  }
  box.textContent = lines.join("\n");
  box.hidden = false;
  const r = root.getBoundingClientRect();
  let x = event.clientX - r.left + 14;
  let y = event.clientY - r.top + 14;
  if (x + box.offsetWidth > r.width) x = Math.max(0, event.clientX - r.left - box.offsetWidth - 14);
  box.style.left = `${x}px`;
  box.style.top = `${y}px`;
}

function thinned(n, most) {
  const step = Math.max(1, Math.ceil(n / most));
  const out = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

function cut(label, width = 20) {
  return label.length <= width ? label : label.slice(0, width - 1) + "…";
}

function fmt(v) {
  if (v === 0) return "0";
  return Math.abs(v) >= 0.01 ? v.toFixed(3).replace(/\.?0+$/, "") : v.toPrecision(2);
}

function download(root, canvas, name) {
  // the chart on the page's background colour (the canvas itself is see-through)
  const out = document.createElement("canvas");
  out.width = canvas.width;
  out.height = canvas.height;
  const ctx = out.getContext("2d");
  ctx.fillStyle = getComputedStyle(document.body).backgroundColor || "#fff";
  if (ctx.fillStyle === "rgba(0, 0, 0, 0)") ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(canvas, 0, 0);
  const a = document.createElement("a");
  a.href = out.toDataURL("image/png");
  a.download = `${name}.png`;
  a.click();
}

// ------------------------------------------------------------------ a chart's frame
// The title, PNG button, canvas and tooltip every chart has, built once per element;
// `extra` (HTML of ours, never user text) goes between the title and the canvas. On every
// call: the new data, the trigger, the button's words, and a redraw when the layer moves.
// Returns the canvas when the frame is new, for the caller to attach its own events.
function frame(root, data, setTriggerValue, draw, extra = "") {
  let built = null;
  if (!root.__vizBuilt) {
    root.innerHTML = `<div class="viz-head"><div class="viz-title"></div>
      <button class="viz-png" type="button"></button></div>${extra}
      <canvas class="viz-canvas"></canvas><div class="viz-tip" hidden></div>`;
    root.__vizBuilt = true;
    built = root.querySelector("canvas");
    root.querySelector(".viz-png").addEventListener("click", () =>
      download(root, built, root.__vizData.download));
    new ResizeObserver(() => later(root, draw)).observe(root);
  }
  root.__vizSetTrigger = setTriggerValue;
  root.__vizData = data;
  const button = root.querySelector(".viz-png");
  button.textContent = data.png_label;
  button.title = data.png_help;
  listen(root, (now) => (now ? draw(root) : later(root, draw)));
  return built;
}

// ------------------------------------------------------------------ the layer slider
function slider(root, data, setTriggerValue) {
  if (!root.__vizBuilt) {
    root.innerHTML = `<div class="viz-slider"><label class="viz-label"></label>
      <div class="viz-track"><input type="range" step="1" class="viz-range">
      <output class="viz-value"></output></div></div>`;
    root.__vizBuilt = true;
    const input = root.querySelector("input");
    input.addEventListener("input", () => {
      shown(root, input);
      setLayer(Number(input.value), true);
    });
    input.addEventListener("change", () => {
      S.sent = Number(input.value);
      root.__vizSetTrigger("layer", S.sent);
    });
  }
  root.__vizSetTrigger = setTriggerValue;
  const input = root.querySelector("input");
  const id = `viz-layer-${data.key}`;
  input.id = id;
  input.min = 1;
  input.max = data.layers;
  input.setAttribute("aria-label", data.label);
  const label = root.querySelector("label");
  label.textContent = data.label;
  label.htmlFor = id;
  // The server's layer wins when the server changed it (a thumbnail, an address, a new
  // text: a new `seq`); a run the slider itself started only confirms what is shown.
  let layer = S.layer;
  if (S.layer === null || data.seq !== S.seq) layer = data.layer;
  else if (S.sent !== null && data.layer === S.sent) S.sent = null;
  else if (S.sent === null) layer = data.layer;
  S.seq = data.seq;
  layer = Math.min(Math.max(1, layer), data.layers);
  input.value = layer;
  shown(root, input);
  setLayer(layer);
}

// the value above the thumb, and the track filled up to it
function shown(root, input) {
  root.querySelector("output").textContent = input.value;
  const span = Number(input.max) - Number(input.min);
  const at = span > 0 ? (Number(input.value) - Number(input.min)) / span : 0;
  root.querySelector(".viz-track").style.setProperty("--viz-at", String(at));
}

// ------------------------------------------------------------------ the heatmap
function decodeSet(data) {
  let set = S.sets.get(data.id);
  if (set) return set;
  set = { values: null, images: null, ready: false };
  if (data.values) {
    set.values = data.values.map(floats);
    set.ready = true;
  } else {
    let left = data.png.length;
    set.images = data.png.map((uri) => {
      const img = new Image();
      img.onload = () => {
        if (--left === 0) {
          set.ready = true;
          for (const fn of S.listeners) fn();
        }
      };
      img.src = uri;
      return img;
    });
  }
  S.sets.set(data.id, set);
  while (S.sets.size > KEEP_SETS) S.sets.delete(S.sets.keys().next().value);
  return set;
}

function shadeImage(values, R, C, scale, palette) {
  const image = new ImageData(C, R);
  const px = image.data;
  for (let i = 0; i < R; i++) {
    let top = scale.zmax;
    if (scale.kind === "row") {
      top = 0;
      for (let j = 0; j < C; j++) top = Math.max(top, values[i * C + j]);
    }
    top = Math.max(top, 1e-12);
    for (let j = 0; j < C; j++) {
      const s = Math.round(Math.min(Math.max(values[i * C + j] / top, 0), 1) * 255);
      const o = (i * C + j) * 4;
      px[o] = palette[s * 3];
      px[o + 1] = palette[s * 3 + 1];
      px[o + 2] = palette[s * 3 + 2];
      px[o + 3] = 255;
    }
  }
  const off = document.createElement("canvas");
  off.width = C;
  off.height = R;
  off.getContext("2d").putImageData(image, 0, 0);
  return off;
}

function heatmap(root, data, setTriggerValue) {
  const canvas = frame(root, data, setTriggerValue, drawHeatmap);
  if (canvas) {
    canvas.addEventListener("mousemove", (e) => hoverHeatmap(root, e));
    canvas.addEventListener("mouseleave", (e) => tip(root, e, null));
  }
  root.__vizPalette ||= bytes(data.palette);
  if (root.__vizId !== data.id) root.__vizCache = new Map();
  root.__vizId = data.id;
  const fresh = !S.sets.has(data.id);
  decodeSet(data);
  if (fresh) for (const fn of S.listeners) fn(false); // a head view may wait for these values
  else later(root, drawHeatmap);
}

function heatmapGeometry(root, data) {
  const ctx = root.querySelector("canvas").getContext("2d");
  ctx.font = SMALL;
  const rows = thinned(data.rows.length, data.y_ticks);
  const cols = thinned(data.cols.length, data.x_ticks);
  const widest = (labels, idx) => Math.max(0, ...idx.map((i) => ctx.measureText(cut(labels[i])).width));
  const left = widest(data.rows, rows) + 34;
  const bottom = widest(data.cols, cols) * Math.sin(Math.PI / 3) + 34;
  const width = Math.max(240, root.clientWidth);
  const height = data.height;
  const right = 78;
  const plot = { x: left, y: 6, w: Math.max(40, width - left - right), h: Math.max(40, height - bottom - 6) };
  return { width, height, plot, rows, cols };
}

function drawHeatmap(root) {
  const data = root.__vizData;
  const set = data && S.sets.get(data.id);
  if (!set || S.layer === null || !set.ready) return;
  const layer = Math.min(S.layer, data.titles.length) - 1;
  const R = data.rows.length;
  const C = data.cols.length;
  const canvas = root.querySelector("canvas");
  const g = heatmapGeometry(root, data);
  root.__vizGeometry = g;
  root.dataset.plot = JSON.stringify(g.plot);
  const ctx = canvasFor(canvas, g.width, g.height);
  const ink = textColour(root);
  const scale = data.scales[layer];
  let cells = set.images ? set.images[layer] : root.__vizCache.get(layer);
  if (!cells) {
    cells = shadeImage(set.values[layer], R, C, scale, root.__vizPalette);
    root.__vizCache.set(layer, cells);
  }
  const { plot } = g;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cells, plot.x, plot.y, plot.w, plot.h);
  const cw = plot.w / C;
  const ch = plot.h / R;
  // a pair's second sentence, and the token in focus
  ctx.save();
  ctx.strokeStyle = BOUNDARY;
  ctx.lineWidth = 1.5;
  ctx.setLineDash([3, 3]);
  const [rowB, colB] = data.boundary;
  if (colB !== null && colB > 0 && colB < C) {
    ctx.beginPath();
    ctx.moveTo(plot.x + colB * cw, plot.y);
    ctx.lineTo(plot.x + colB * cw, plot.y + plot.h);
    ctx.stroke();
  }
  if (rowB !== null && rowB > 0 && rowB < R) {
    ctx.beginPath();
    ctx.moveTo(plot.x, plot.y + rowB * ch);
    ctx.lineTo(plot.x + plot.w, plot.y + rowB * ch);
    ctx.stroke();
  }
  ctx.restore();
  if (data.focus !== null && data.focus >= 0 && data.focus < R) {
    ctx.strokeStyle = FOCUS;
    ctx.lineWidth = 2;
    ctx.strokeRect(plot.x - 1, plot.y + data.focus * ch, plot.w + 2, ch);
  }
  // tick labels: every k-th token when there are too many to read
  ctx.fillStyle = ink;
  ctx.font = SMALL;
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  for (const i of g.rows) ctx.fillText(cut(data.rows[i]), plot.x - 4, plot.y + (i + 0.5) * ch);
  for (const j of g.cols) {
    ctx.save();
    ctx.translate(plot.x + (j + 0.5) * cw, plot.y + plot.h + 4);
    ctx.rotate(-Math.PI / 3);
    ctx.fillText(cut(data.cols[j]), 0, 0);
    ctx.restore();
  }
  // axis titles
  ctx.font = FONT;
  ctx.textAlign = "center";
  ctx.fillText(data.axes[0], plot.x + plot.w / 2, g.height - 8);
  ctx.save();
  ctx.translate(10, plot.y + plot.h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(data.axes[1], 0, 0);
  ctx.restore();
  drawColourBar(ctx, root.__vizPalette, scale, plot, ink);
  describe(root, data.titles[layer], [data.rows, data.cols]);
  root.dataset.layer = String(layer + 1);
  root.dataset.painted = String((Number(root.dataset.painted) || 0) + 1);
}

function describe(root, title, labelLists) {
  // the title, and the canvas's fallback content: what it shows, as text
  root.querySelector(".viz-title").textContent = title;
  const canvas = root.querySelector("canvas");
  const text = `${title}. ${labelLists.map((l) => l.join(", ")).join(" | ")}`;
  if (canvas.textContent !== text) canvas.textContent = text;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", title);
}

function drawColourBar(ctx, palette, scale, plot, ink) {
  const x = plot.x + plot.w + 12;
  const w = 12;
  for (let s = 0; s < 256; s++) {
    ctx.fillStyle = `rgb(${palette[s * 3]},${palette[s * 3 + 1]},${palette[s * 3 + 2]})`;
    const y0 = plot.y + plot.h * (1 - (s + 1) / 256);
    ctx.fillRect(x, y0, w, plot.h / 256 + 0.6);
  }
  ctx.fillStyle = ink;
  ctx.font = SMALL;
  ctx.textAlign = "left";
  for (let q = 0; q <= 4; q++) {
    const y = plot.y + plot.h * (1 - q / 4);
    const text = scale.kind === "row" ? `${q * 25}%` : fmt((scale.zmax * q) / 4);
    ctx.fillText(text, x + w + 3, y);
  }
  ctx.save();
  ctx.translate(x + w + 44, plot.y + plot.h / 2);
  ctx.rotate(Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillText(cut(scale.bar, 60), 0, 0);
  ctx.restore();
}

function hoverHeatmap(root, e) {
  const data = root.__vizData;
  const g = root.__vizGeometry;
  const set = data && S.sets.get(data.id);
  if (!g || !set) return;
  const r = e.target.getBoundingClientRect();
  const x = e.clientX - r.left - g.plot.x;
  const y = e.clientY - r.top - g.plot.y;
  const R = data.rows.length;
  const C = data.cols.length;
  const i = Math.floor((y / g.plot.h) * R);
  const j = Math.floor((x / g.plot.w) * C);
  if (i < 0 || j < 0 || i >= R || j >= C) return tip(root, e, null);
  const lines = [`${data.words.query} ${data.rows[i]}`, `${data.words.key} ${data.cols[j]}`];
  if (set.values) lines.push(`${data.words.value} ${set.values[S.layer - 1][i * C + j].toFixed(6)}`);
  tip(root, e, lines);
}

// ------------------------------------------------------------------ the head view
const BINS = [[0.0, 0.1, 0.15], [0.1, 0.3, 0.35], [0.3, 0.6, 0.6], [0.6, 1.01, 0.95]];

function scaleTop(values, normalise) {
  // lengths and shares (not raw weights) are drawn against the layer's largest, for 0..1 opacity
  if (!normalise) return 1;
  let top = 1e-9;
  for (let n = 0; n < values.length; n++) top = Math.max(top, values[n]);
  return top;
}

function headLines(data, layer) {
  // [{h, q, k, w}] of the layer: every head's (sent sparse) or the heatmap's own matrix
  if (data.lines) {
    const l = data.lines[layer];
    if (!l.decoded) l.decoded = { h: bytes(l.h), q: uint16s(l.q), k: uint16s(l.k), w: floats(l.w) };
    return l.decoded;
  }
  const set = S.sets.get(data.source);
  if (!set || !set.values) return null;
  const m = set.values[layer];
  const top = scaleTop(m, data.normalise);
  const C = data.right.length;
  const floor = data.focus === null ? data.threshold : data.threshold / 5;
  const h = [], q = [], k = [], w = [];
  for (let n = 0; n < m.length; n++) {
    const v = m[n] / top;
    const i = Math.floor(n / C);
    if (v >= floor && (data.focus === null || i === data.focus || v >= data.threshold)) {
      h.push(0); q.push(i); k.push(n % C); w.push(v);
    }
  }
  return { h, q, k, w };
}

function heads(root, data, setTriggerValue) {
  const canvas = frame(root, data, setTriggerValue, drawHeads, `<div class="viz-legend"></div>`);
  if (canvas) {
    root.__vizHidden = new Set();
    canvas.addEventListener("mousemove", (e) => hoverHeads(root, e));
    canvas.addEventListener("mouseleave", (e) => {
      root.__vizHover = null;
      tip(root, e, null);
      drawHeads(root);
    });
    canvas.addEventListener("click", (e) => {
      const at = tokenAt(root, e);
      if (at && at.side === 0) root.__vizSetTrigger("focus", root.__vizData.left_positions[at.index]);
    });
  }
  const legend = root.querySelector(".viz-legend");
  legend.replaceChildren();
  (data.head_names || []).forEach((name, h) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "viz-chip";
    b.style.setProperty("--chip", data.colours[h]);
    b.textContent = name;
    b.title = data.legend_help;
    b.classList.toggle("off", root.__vizHidden.has(h));
    b.addEventListener("click", () => {
      root.__vizHidden.has(h) ? root.__vizHidden.delete(h) : root.__vizHidden.add(h);
      b.classList.toggle("off", root.__vizHidden.has(h));
      drawHeads(root);
    });
    legend.appendChild(b);
  });
  later(root, drawHeads);
}

function headsGeometry(root, data) {
  const ctx = root.querySelector("canvas").getContext("2d");
  ctx.font = FONT;
  const widest = (labels) => Math.max(0, ...labels.map((l) => ctx.measureText(l).width));
  const left = widest(data.left) + 18;
  const right = widest(data.right) + 18;
  const width = Math.max(300, root.clientWidth);
  const n = Math.max(data.left.length, data.right.length);
  const height = Math.max(260, 18 * n + 20);
  const y = (count, i) => 10 + (count > 1 ? (i * (height - 20)) / (count - 1) : 0);
  return { width, height, x0: left, x1: width - right, y };
}

function drawHeads(root) {
  const data = root.__vizData;
  if (!data || S.layer === null) return;
  const layer = Math.min(S.layer, data.titles.length) - 1;
  const lines = headLines(data, layer);
  if (!lines) return;
  const g = headsGeometry(root, data);
  root.__vizGeometry = g;
  const canvas = root.querySelector("canvas");
  const ctx = canvasFor(canvas, g.width, g.height);
  const R = data.left.length;
  const C = data.right.length;
  const K = data.head_names ? data.head_names.length : 1;
  const hover = root.__vizHover;
  const focus = hover ? null : data.focus;
  // a token in focus or under the pointer keeps only its own lines
  const keep = (n) => {
    if (root.__vizHidden.has(lines.h[n])) return false;
    if (hover) return hover.side === 0 ? lines.q[n] === hover.index : lines.k[n] === hover.index;
    if (focus !== null) return lines.q[n] === focus;
    return lines.w[n] >= data.threshold;
  };
  let chosen = [];
  for (let n = 0; n < lines.w.length; n++) if (keep(n)) chosen.push(n);
  if (chosen.length > data.max_lines) chosen = chosen.sort((a, b) => lines.w[b] - lines.w[a]).slice(0, data.max_lines);
  for (const [low, high, opacity] of BINS) {
    for (let h = 0; h < K; h++) {
      const fan = K > 1 ? ((h - (K - 1) / 2) * 0.6 * 18) / K : 0;
      ctx.beginPath();
      let any = false;
      for (const n of chosen) {
        const w = lines.w[n];
        if (lines.h[n] !== h || w < low || w >= high) continue;
        ctx.moveTo(g.x0 + 6, g.y(R, lines.q[n]));
        ctx.lineTo(g.x1 - 6, g.y(C, lines.k[n]) + fan);
        any = true;
      }
      if (!any) continue;
      ctx.globalAlpha = opacity;
      ctx.strokeStyle = K > 1 ? data.colours[h] : "#1f77b4";
      ctx.lineWidth = 1 + 3 * low;
      ctx.stroke();
    }
  }
  ctx.globalAlpha = 1;
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  const ink = textColour(root);
  const dim = focus !== null || (hover && hover.side === 0) ? "#bbb" : ink;
  for (let i = 0; i < R; i++) {
    const on = i === focus || (hover && hover.side === 0 && hover.index === i);
    ctx.fillStyle = on ? FOCUS : dim;
    ctx.beginPath();
    ctx.arc(g.x0 + 3, g.y(R, i), on ? 5 : 3, 0, 2 * Math.PI);
    ctx.fill();
    ctx.textAlign = "right";
    ctx.fillText(data.left[i], g.x0 - 6, g.y(R, i));
  }
  for (let j = 0; j < C; j++) {
    const on = hover && hover.side === 1 && hover.index === j;
    ctx.fillStyle = on ? FOCUS : ink;
    ctx.beginPath();
    ctx.arc(g.x1 - 3, g.y(C, j), on ? 5 : 3, 0, 2 * Math.PI);
    ctx.fill();
    ctx.textAlign = "left";
    ctx.fillText(data.right[j], g.x1 + 6, g.y(C, j));
  }
  describe(root, data.titles[layer], [data.left, data.right]);
  root.dataset.layer = String(layer + 1);
  root.dataset.lines = String(chosen.length);
  // where the tokens sit, in CSS pixels of the canvas: for tests and tools that point at them
  root.dataset.tokens = JSON.stringify({ x: [g.x0 + 3, g.x1 - 3], left: R, right: C,
    top: g.y(R, 0), bottom: g.y(R, Math.max(R - 1, 0)) });
  root.dataset.painted = String((Number(root.dataset.painted) || 0) + 1);
}

function tokenAt(root, e) {
  const g = root.__vizGeometry;
  const data = root.__vizData;
  if (!g) return null;
  const r = e.target.getBoundingClientRect();
  const x = e.clientX - r.left;
  const y = e.clientY - r.top;
  const side = x < (g.x0 + g.x1) / 2 ? 0 : 1;
  if (x > g.x0 + 40 && x < g.x1 - 40) return null;
  const count = side === 0 ? data.left.length : data.right.length;
  const step = count > 1 ? (g.height - 20) / (count - 1) : 1;
  const index = Math.round((y - 10) / step);
  if (index < 0 || index >= count || Math.abs(g.y(count, index) - y) > Math.max(6, step / 2)) return null;
  return { side, index };
}

function strongestOf(data, layer, at) {
  // a token's lines, whatever their weight when the heatmap's matrix is at hand (one head)
  const set = S.sets.get(data.source);
  if (data.lines || !set || !set.values) {
    const lines = headLines(data, layer);
    const out = { h: [], q: [], k: [], w: [] };
    for (let n = 0; n < lines.w.length; n++) {
      if ((at.side === 0 ? lines.q[n] : lines.k[n]) !== at.index) continue;
      out.h.push(lines.h[n]); out.q.push(lines.q[n]); out.k.push(lines.k[n]); out.w.push(lines.w[n]);
    }
    return out;
  }
  const m = set.values[layer];
  const C = data.right.length;
  const R = data.left.length;
  const top = scaleTop(m, data.normalise);
  const out = { h: [], q: [], k: [], w: [] };
  const count = at.side === 0 ? C : R;
  for (let o = 0; o < count; o++) {
    const [q, k] = at.side === 0 ? [at.index, o] : [o, at.index];
    out.h.push(0); out.q.push(q); out.k.push(k); out.w.push(m[q * C + k] / top);
  }
  return out;
}

function hoverHeads(root, e) {
  const data = root.__vizData;
  const at = tokenAt(root, e);
  const same = at && root.__vizHover && at.side === root.__vizHover.side && at.index === root.__vizHover.index;
  if (!same) {
    root.__vizHover = at;
    drawHeads(root);
  }
  if (!at) return tip(root, e, null);
  const lines = strongestOf(data, S.layer - 1, at);
  const mine = [...lines.w.keys()];
  mine.sort((a, b) => lines.w[b] - lines.w[a]);
  const names = at.side === 0 ? data.right : data.left;
  const arrow = at.side === 0 ? "→" : "←";
  const text = [(at.side === 0 ? data.left : data.right)[at.index]];
  for (const n of mine.slice(0, data.links)) {
    const head = data.head_names ? `${data.head_names[lines.h[n]]} ` : "";
    const other = at.side === 0 ? lines.k[n] : lines.q[n];
    text.push(`${head}${arrow} ${names[other]} ${lines.w[n].toFixed(3)}`);
  }
  if (at.side === 0) text.push(data.click_help);
  tip(root, e, text);
}

// ------------------------------------------------------------------ the model view
function grid(root, data, setTriggerValue) {
  const canvas = frame(root, data, setTriggerValue, drawGrid);
  if (canvas) {
    canvas.addEventListener("mousemove", (e) => {
      const at = thumbAt(root, e);
      canvas.style.cursor = at ? "pointer" : "default";
      const d = root.__vizData;
      tip(root, e, at && [`${d.words.layer} ${at.layer}, ${d.words.head} ${at.head}`, d.click_help]);
    });
    canvas.addEventListener("mouseleave", (e) => tip(root, e, null));
    canvas.addEventListener("click", (e) => {
      const at = thumbAt(root, e);
      if (!at) return;
      setLayer(at.layer); // the slider, the heatmap and the head view follow when the run ends
      root.__vizSetTrigger("open", [at.layer, at.head]);
    });
  }
  if (root.__vizSrc !== data.png) {
    root.__vizSrc = data.png;
    root.__vizImage = null;
    const img = new Image();
    img.onload = () => {
      root.__vizImage = img;
      later(root, drawGrid);
    };
    img.src = data.png;
  }
  later(root, drawGrid);
}

function gridGeometry(root, data) {
  const width = Math.max(200, root.clientWidth);
  const left = 34;
  const top = 22;
  const cell = (width - left - 4) / data.heads;
  const height = top + cell * data.layers + 4;
  return { width, height, left, top, cell };
}

function drawGrid(root) {
  const data = root.__vizData;
  if (!data || !root.__vizImage) return;
  const g = gridGeometry(root, data);
  root.__vizGeometry = g;
  root.dataset.cells = JSON.stringify({ x: g.left, y: g.top, cell: g.cell });
  const ctx = canvasFor(root.querySelector("canvas"), g.width, g.height);
  ctx.imageSmoothingEnabled = false;
  // the image ends with a thumbnail, not a gap: it spans (n - 1 + fill) cells a side
  ctx.drawImage(root.__vizImage, g.left, g.top, g.cell * (data.heads - 1 + data.fill),
    g.cell * (data.layers - 1 + data.fill));
  const ink = textColour(root);
  ctx.fillStyle = ink;
  ctx.font = data.heads > 8 ? SMALL : FONT;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  data.head_labels.forEach((name, h) => ctx.fillText(name, g.left + (h + 0.45) * g.cell, g.top - 10));
  ctx.font = FONT;
  ctx.textAlign = "right";
  data.layer_labels.forEach((name, l) => ctx.fillText(name, g.left - 6, g.top + (l + 0.45) * g.cell));
  // the head open in the heatmap: its layer follows the slider at once
  const layer = Math.min(S.layer ?? 1, data.layers);
  if (data.open_head !== null) {
    ctx.strokeStyle = BOUNDARY;
    ctx.lineWidth = 2;
    ctx.strokeRect(g.left + data.open_head * g.cell - 1.5, g.top + (layer - 1) * g.cell - 1.5,
      g.cell * data.fill + 3, g.cell * data.fill + 3);
  }
  describe(root, data.title, [data.layer_labels, data.head_labels]);
  root.dataset.layer = String(layer);
  root.dataset.painted = String((Number(root.dataset.painted) || 0) + 1);
}

function thumbAt(root, e) {
  const g = root.__vizGeometry;
  const data = root.__vizData;
  if (!g) return null;
  const r = e.target.getBoundingClientRect();
  const h = Math.floor((e.clientX - r.left - g.left) / g.cell);
  const l = Math.floor((e.clientY - r.top - g.top) / g.cell);
  if (h < 0 || l < 0 || h >= data.heads || l >= data.layers) return null;
  return { layer: l + 1, head: h + 1 };
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".viz-root") || parentElement.appendChild(
    Object.assign(document.createElement("div"), { className: "viz-root" }));
  root.dataset.kind = data.kind;
  root.classList.toggle("viz-chart", data.kind !== "slider");
  if (data.kind === "slider") slider(root, data, setTriggerValue);
  else if (data.kind === "heatmap") heatmap(root, data, setTriggerValue);
  else if (data.kind === "grid") grid(root, data, setTriggerValue);
  else heads(root, data, setTriggerValue);
  return () => {
    if (root.__vizListener) S.listeners.delete(root.__vizListener);
  };
}
