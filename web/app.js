// Entry point: wires the canvas, the request runner, the result views and the panels.

import { explain, getDigit, getDigitById, isNetworkError, score } from "./api.js";
import { PaintCanvas } from "./canvas.js";
import { $ } from "./dom.js";
import { themeColor } from "./heatmap.js";
import { LatestRunner } from "./live.js";
import { ModelPanel } from "./modelpanel.js";
import { ResultsView, verdictOf } from "./results.js";
import { SqlPanel } from "./sql.js";
import * as status from "./status.js";
import { TestSetPanel } from "./testset.js";

// Live strokes use the explainer (heatmaps follow the pen) while it answers this fast;
// a slower server gets the plain scorer while drawing and the explainer on pointer-up.
const LIVE_EXPLAIN_MAX_MS = 250;

/** Hooks for tests and benchmarks: performance.now() stamps and the last output shown. */
const hooks = {
  lastResult: null, // the last scorer/explainer output shown
  heatmapPaintedAt: 0, // when the heatmap of a finished drawing (or test example) was painted
  pointerUpAt: 0, // when the last stroke ended
  lastKind: null, // "live" | "final" | "test": what produced lastResult
  lastCached: false, // true when a final answer reused the last live answer (same image)
};
window.mlpaint = hooks;

let source = null; // what the results show: {kind: "canvas"} or {kind: "test", example}
let explainMs = 0; // moving average of explainer latency
let lastExplained = null; // {key, output}: the newest drawing already explained in full

const paint = new PaintCanvas($("paint"));
const results = new ResultsView({ onSelect: selectDigit });
const models = new ModelPanel({ onChange: rescore, onError: reportQuietly });
const testset = new TestSetPanel({ onLoad: loadExample, onCopy: copyToCanvas });
new SqlPanel({ onError: reportQuietly });
const runner = new LatestRunner({ onResult, onError, onBusyChange });

async function timedExplain(input, signal) {
  const t0 = performance.now();
  const output = await explain(input, { model: models.chosen(), allLabels: true, signal });
  const dt = performance.now() - t0;
  explainMs = explainMs ? 0.7 * explainMs + 0.3 * dt : dt;
  return output;
}

/**
 * A request for the drawing as it is when the request is sent (not when asked for). Jobs
 * resolve to {output, example?, cached?} or {empty: true}.
 */
function canvasJob(final) {
  return {
    kind: final ? "final" : "live",
    urgent: final,
    start: async (signal) => {
      if (paint.isEmpty()) return { empty: true };
      const input = { image: paint.toDataURL(140) };
      const key = `${models.chosen() || ""}|${input.image}`;
      // The last live answer may already cover the finished drawing: no need to ask again.
      if (lastExplained && lastExplained.key === key) {
        return { output: lastExplained.output, cached: true };
      }
      if (!final && explainMs > LIVE_EXPLAIN_MAX_MS) {
        return { output: await score(input, { model: models.chosen(), signal }) };
      }
      const output = await timedExplain(input, signal);
      lastExplained = { key, output };
      return { output };
    },
  };
}

// A stored example arrives with the model's explained answer: one request, no explainer call.
// fetchExample(signal) resolves to a stored digit with its `output` (see getDigit).
function exampleJob(fetchExample) {
  return {
    kind: "test",
    urgent: true,
    start: async (signal) => {
      const example = await fetchExample(signal);
      // No model yet: the digit comes without an answer; say so in the panel.
      if (!example.output) throw new Error("No model is trained yet: train one, then reload.");
      return { example, output: example.output };
    },
  };
}

function loadExample({ label, offset }) {
  const fetchExample = (signal) => getDigit({ label, offset, model: models.chosen(), signal });
  runner.submit(exampleJob(fetchExample));
}

// The example on show, answered again (another model): it keeps its place in the fold.
function reloadExample(example) {
  runner.submit(
    exampleJob(async (signal) => {
      const fresh = await getDigitById(example.id, { model: models.chosen(), signal });
      return { ...example, output: fresh.output };
    }),
  );
}

function copyToCanvas(pixels) {
  paint.setImage(pixels);
  $("paint").focus();
}

/** Score again whatever is on show (after a model change or a reconnect). */
function rescore() {
  lastExplained = null;
  if (source?.kind === "test") reloadExample(source.example);
  else if (!paint.isEmpty()) runner.submit(canvasJob(true));
}

function selectDigit(d) {
  if (!results.output) return;
  results.select(d === results.output.prediction ? null : d);
  if (!results.output.explanations) rescore(); // a live scorer answer: fetch the explanations
}

function sourceText() {
  if (source?.kind !== "test") return "your drawing";
  const ex = source.example;
  return `test #${ex.id} \u00b7 true label ${ex.label}`;
}

function onResult(result, { kind }) {
  if (result.empty) {
    showEmpty();
    return;
  }
  const { output, example } = result;
  source = example ? { kind: "test", example } : { kind: "canvas" };
  if (example) testset.show(example, output);
  hooks.lastResult = output;
  hooks.lastKind = kind;
  hooks.lastCached = Boolean(result.cached);
  status.markOnline();
  const painted = results.show(output);
  // The bench measures pointer-up -> heatmap: only stamp heatmaps of a complete drawing.
  if (painted && kind !== "live") hooks.heatmapPaintedAt = performance.now();
  $("source").textContent = sourceText();
  if (kind !== "live") {
    status.announce(announcement(output));
  }
  status.setState(runner.busy() ? "busy" : "ready");
}

/** What a screen reader hears: the digit, or that the model is not sure, or not a digit. */
function announcement(output) {
  const { verdict, plausible } = verdictOf(output);
  const digits = plausible.map(([d]) => d).join(" or ");
  if (verdict === "not-digit") return "That doesn\u2019t look like a digit.";
  if (verdict === "unsure") return `Not sure: maybe ${digits}.`;
  return `Prediction ${output.prediction}, ${Math.round(100 * output.confidence)}% confident.`;
}

function onError(err, { kind }) {
  if (kind === "test" && !isNetworkError(err)) {
    testset.showMessage(err.message, true);
    status.setState(results.output ? "ready" : "idle");
    return;
  }
  status.reportError(err, reconnect);
  status.setState("error");
}

function onBusyChange(busy) {
  status.setBusy(busy);
  if (busy) status.setState("busy");
}

// Panel failures stay in their panels, except "server unreachable", which is page-wide.
function reportQuietly(err) {
  if (isNetworkError(err)) status.reportError(err, reconnect);
}

function showEmpty() {
  runner.cancel();
  source = null;
  lastExplained = null;
  results.clear();
  $("source").textContent = "";
  status.setState("idle");
}

async function boot() {
  try {
    const any = await models.loadRegistry();
    if (!any) status.showError("No model is trained yet: train one, then reload this page.");
  } catch (err) {
    status.reportError(err, reconnect);
    if (!isNetworkError(err)) status.setState("error");
  }
}

async function reconnect() {
  await boot();
  rescore();
}

function updatePrompt() {
  $("paint-wrap").classList.toggle("has-ink", !paint.isEmpty());
}

paint.addEventListener("strokestart", () => {
  updatePrompt();
  runner.submit(canvasJob(false));
});
paint.addEventListener("strokemove", () => runner.submit(canvasJob(false)));
paint.addEventListener("strokeend", () => {
  hooks.pointerUpAt = performance.now();
  runner.submit(canvasJob(true));
});
paint.addEventListener("change", () => {
  updatePrompt();
  if (paint.isEmpty()) {
    showEmpty();
    status.announce("Canvas cleared.");
  } else {
    runner.submit(canvasJob(true));
  }
});

$("clear").addEventListener("click", () => paint.clear());
$("undo").addEventListener("click", () => paint.undo());

function isTyping(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
  );
}

document.addEventListener("keydown", (e) => {
  if (isTyping(e.target) || e.altKey) return;
  const key = e.key.toLowerCase();
  const mod = e.ctrlKey || e.metaKey;
  if ((key === "escape" || key === "c") && !mod) {
    e.preventDefault();
    paint.clear();
  } else if ((mod && key === "z" && !e.shiftKey) || (key === "u" && !mod)) {
    e.preventDefault();
    paint.undo();
  }
});

function repaintAll() {
  paint.setInk(`rgb(${themeColor("--ink").join(",")})`);
  results.repaint();
  testset.repaint();
}

let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(repaintAll, 100);
});
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", repaintAll);

status.setState("idle");
repaintAll();
boot();
