// The Paint widget: draw a digit; the kernel reads and explains it; show prediction, bars,
// the heatmap of the digit being explained and the ten small per-digit maps.

// Readings while a stroke is drawn, at most this often. The kernel cannot drop a reading once
// it has started, so the one after pointer-up waits for any in flight: keeping the kernel idle
// most of the time keeps that wait short (measured: p50 113 ms back to back, ~80 ms spaced).
const LIVE_GAP_MS = 150;

/** The widget's elements. */
function paintLayout() {
  const canvas = makeCanvas("mp-canvas");
  const clear = h("button", "mp-button", "Clear");
  const undo = h("button", "mp-button", "Undo");
  for (const b of [clear, undo]) b.type = "button";
  const prediction = h("div", "mp-prediction");
  const meta = h("div", "mp-meta", "Draw a digit");
  const error = h("div", "mp-error");
  const heat = makeCanvas("mp-heatmap");
  const title = h("div", "mp-title");
  const maps = Array.from({ length: 10 }, () => makeCanvas("mp-small"));
  const strip = h("div", "mp-maps");
  maps.forEach((map, d) => {
    map.dataset.digit = String(d);
    strip.append(h("button", "mp-map", map, h("span", "mp-label", `${d}`)));
  });
  return { canvas, clear, undo, prediction, meta, error, heat, title, maps, strip };
}

export default {
  async render({ model, el }) {
    const { PaintCanvas, heatmap } = await loadWeb();
    ensureTheme();
    const ui = paintLayout();
    let reading = null; // the reading on show
    let chosen = null; // the digit explained, null = the prediction
    const explain = (d) => {
      chosen = d;
      show();
    };
    const bars = makeBars(explain);
    const legend = makeLegend(heatmap);
    [...ui.strip.children].forEach((b, d) => b.addEventListener("click", () => explain(d)));
    const root = h(
      "div",
      "mlpaint-nb mlpaint-paint",
      h("div", "mp-col", ui.canvas, h("div", "mp-tools", ui.clear, ui.undo)),
      h("div", "mp-col", ui.prediction, ui.meta, bars.node, ui.error),
      h("div", "mp-col", ui.title, ui.heat, legend.node, ui.strip),
    );
    root.dataset.state = "idle";
    el.append(root);
    const paint = new PaintCanvas(ui.canvas);

    function show() {
      const r = reading;
      const target = r ? (chosen ?? r.prediction) : -1;
      bars.update(r && r.probabilities, r ? r.prediction : -1, target);
      ui.prediction.textContent = r ? String(r.prediction) : "";
      root.dataset.prediction = r ? String(r.prediction) : "";
      const sure = r && pct(r.probabilities[r.prediction]);
      const verdict = r && r.is_digit === false ? "that doesn\u2019t look like a digit \u00b7 " : "";
      ui.meta.textContent = r
        ? `${verdict}${sure} sure \u00b7 uncertainty ${r.uncertainty.toFixed(2)} \u00b7 ${r.model}`
        : "Draw a digit";
      root.dataset.isDigit = r ? String(r.is_digit !== false) : "";
      if (!r) {
        heatmap.drawBlank(ui.heat);
        ui.maps.forEach((m) => heatmap.drawBlank(m));
        ui.title.textContent = "";
        legend.update(0);
        return;
      }
      const seen = typed(Uint8Array, r.seen);
      const maps = mapsOf(r);
      const scale = heatmap.maxAbs(maps[target]);
      heatmap.drawHeatmap(ui.heat, maps[target], seen, scale);
      legend.update(scale);
      ui.title.textContent = `Why ${target}: green pushes toward it, red away`;
      maps.forEach((values, d) => {
        heatmap.drawHeatmap(ui.maps[d], values, seen);
        ui.maps[d].parentElement.classList.toggle("chosen", d === target);
      });
    }

    // One drawing in the kernel at a time; the newest waits and replaces any older waiting one.
    let seq = Math.max(model.get("drawing").seq || 0, model.get("result").seq || 0);
    let inflight = 0;
    let waiting = false;
    let finalWanted = false; // the next drawing sent is a finished one (after a pointer-up)
    let finalSeq = Infinity;
    let shownSeq = seq;
    let lastSentAt = -Infinity;
    const live = () => {
      if (performance.now() - lastSentAt >= LIVE_GAP_MS) send(false);
    };
    const send = (final) => {
      finalWanted ||= final;
      if (inflight) {
        waiting = true;
        return;
      }
      waiting = false;
      inflight = ++seq;
      lastSentAt = performance.now();
      if (finalWanted) [finalSeq, finalWanted] = [seq, false];
      root.dataset.state = "busy";
      model.set("drawing", { seq, image: paint.isEmpty() ? "" : paint.toDataURL(140) });
      model.save_changes();
    };
    const received = () => {
      const r = model.get("result");
      if (r.seq === inflight) inflight = 0;
      if (r.seq > shownSeq) {
        shownSeq = r.seq;
        reading = r.prediction === undefined ? null : r;
        if (!reading) chosen = null;
        ui.error.textContent = r.error || "";
        show();
        if (r.seq >= finalSeq) {
          root.dataset.heatmapPaintedAt = String(performance.now());
          root.dataset.state = r.error ? "error" : reading ? "ready" : "idle";
        }
      }
      if (!inflight && (waiting || finalWanted)) send(false);
    };
    model.on("change:result", received);
    paint.addEventListener("strokestart", () => {
      finalSeq = Infinity; // a new drawing: only answers sent after its pointer-up are final
    });
    paint.addEventListener("strokemove", live);
    paint.addEventListener("strokeend", () => {
      root.dataset.pointerUpAt = String(performance.now());
      send(true);
    });
    paint.addEventListener("change", () => {
      chosen = null;
      send(true);
    });
    ui.clear.addEventListener("click", () => paint.clear());
    ui.undo.addEventListener("click", () => paint.undo());
    show();
    return () => model.off("change:result", received);
  },
};
