// Shared by the notebook widgets. WEB_MODULES (set just above by mlpaint.notebook.widgets)
// holds the paint page's own modules from web/, each after the modules it imports.

const RELATIVE_IMPORT = /\b(from|import)(\s*)(["'])\.\/([\w.-]+\.js)\3/g;
let webLoaded = null;

/**
 * Link and import the web/ modules: each becomes a blob: URL module, with its "./x.js"
 * imports pointed at the blob URLs made before it. anywidget loads this very module the same
 * way, so this needs nothing a widget does not already need (no server route, no build step).
 */
function loadWeb() {
  webLoaded ||= (async () => {
    const urls = {};
    for (const [name, text] of Object.entries(WEB_MODULES)) {
      const linked = text.replace(RELATIVE_IMPORT, (_, kw, gap, q, dep) => {
        if (!urls[dep]) throw new Error(`mlpaint: web/${name} imports ${dep}, not bundled`);
        return `${kw}${gap}${q}${urls[dep]}${q}`;
      });
      urls[name] = URL.createObjectURL(new Blob([linked], { type: "text/javascript" }));
    }
    const [canvas, heatmap] = await Promise.all([
      import(urls["canvas.js"]),
      import(urls["heatmap.js"]),
    ]);
    return { PaintCanvas: canvas.PaintCanvas, heatmap };
  })();
  return webLoaded;
}

/** heatmap.js reads the page's --paper and --ink; Jupyter has neither, so give the defaults. */
function ensureTheme() {
  const root = document.documentElement;
  const style = getComputedStyle(root);
  if (!style.getPropertyValue("--paper").trim()) root.style.setProperty("--paper", "#ffffff");
  if (!style.getPropertyValue("--ink").trim()) root.style.setProperty("--ink", "#15171c");
}

/** A new element with a class and children. */
function h(tag, className = "", ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

/** A copy of a binary trait (ipywidgets gives a DataView) as a typed array. */
function typed(Kind, value) {
  const view = value instanceof DataView ? value : new DataView(value.buffer ?? value);
  return new Kind(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

/** The ten SHAP maps of a reading, one Float32Array of 784 per digit. */
function mapsOf(reading) {
  const all = typed(Float32Array, reading.explanations);
  return Array.from({ length: 10 }, (_, d) => all.subarray(d * 784, (d + 1) * 784));
}

const pct = (p) => `${(100 * p).toFixed(1)}%`;

/** Ten probability bars; clicking one calls onPick(digit). */
function makeBars(onPick) {
  const node = h("div", "mp-bars");
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const fill = h("span", "mp-fill");
    const bar = h("button", "mp-bar", h("span", "mp-track", fill), h("span", "mp-label", `${d}`));
    bar.type = "button";
    bar.dataset.digit = String(d);
    bar.dataset.probability = "0";
    if (onPick) bar.addEventListener("click", () => onPick(d));
    node.append(bar);
    bars.push({ bar, fill });
  }
  const update = (probabilities, prediction, chosen) => {
    bars.forEach(({ bar, fill }, d) => {
      const p = probabilities ? probabilities[d] : 0;
      bar.dataset.probability = String(p);
      bar.title = `${d}: ${pct(p)}`;
      fill.style.height = `${Math.max(0.5, 100 * p)}%`;
      bar.classList.toggle("top", d === prediction);
      bar.classList.toggle("chosen", d === chosen);
    });
  };
  update(null, -1, -1);
  return { node, update };
}

/** The symmetric colour legend of a heatmap: red -max, paper 0, green +max. */
function makeLegend(heatmap) {
  const low = h("span", "", "\u2212max");
  const high = h("span", "", "+max");
  const bar = h("span", "mp-gradient");
  const node = h("div", "mp-legend", low, bar, high);
  const update = (scale) => {
    bar.style.background = heatmap.legendGradient();
    low.textContent = scale ? `\u2212${scale.toPrecision(2)}` : "\u2212max";
    high.textContent = scale ? `+${scale.toPrecision(2)}` : "+max";
  };
  update(0);
  return { node, update };
}

/** A canvas with a class (its size comes from the stylesheet). */
function makeCanvas(className) {
  const canvas = h("canvas", className);
  canvas.width = 28;
  canvas.height = 28;
  return canvas;
}
