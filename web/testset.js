// The "test set" panel: fetch a stored example of the test fold, show how the model does on it.

import { $ } from "./dom.js";
import { drawPixels } from "./heatmap.js";

/** Parse the offset field: a whole number >= 0, or "random" (also when left empty). */
export function parseOffset(text) {
  const t = String(text).trim().toLowerCase();
  if (t === "" || t === "random") return "random";
  if (/^\d+$/.test(t)) return Number(t);
  return null;
}

export class TestSetPanel {
  /** onLoad({label, offset}) fetches and shows an example; onCopy(pixels) puts it on the canvas. */
  constructor({ onLoad, onCopy }) {
    this.onLoad = onLoad;
    this.onCopy = onCopy;
    this.example = null;
    const digit = $("testset-digit");
    for (let d = 0; d < 10; d++) digit.append(new Option(String(d), String(d)));
    $("testset-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.load();
    });
    $("testset-prev").addEventListener("click", () => this.step(-1));
    $("testset-next").addEventListener("click", () => this.step(1));
    $("testset-random").addEventListener("click", () => {
      $("testset-offset").value = "random";
      this.load();
    });
    $("testset-copy").addEventListener("click", () => {
      if (this.example) this.onCopy(this.example.pixels);
    });
  }

  /** Load the example the fields describe. */
  load() {
    const offset = parseOffset($("testset-offset").value);
    if (offset === null) {
      this.showMessage('The example must be a number (0, 1, 2, \u2026) or "random".', true);
      $("testset-offset").focus();
      return;
    }
    this.showMessage("Loading\u2026");
    this.onLoad({ label: Number($("testset-digit").value), offset });
  }

  // Previous/next example of the same digit, wrapping around the fold.
  step(delta) {
    const ex = this.example;
    const current = parseOffset($("testset-offset").value);
    const base = typeof current === "number" ? current : ex ? ex.offset : 0;
    const count = ex && ex.label === Number($("testset-digit").value) ? ex.count : null;
    let next = base + delta;
    if (count) next = (next + count) % count;
    $("testset-offset").value = String(Math.max(0, next));
    this.load();
  }

  /** Show a loaded example and the model's output on it. */
  show(example, output) {
    this.example = example;
    $("testset-offset").value = String(example.offset);
    $("testset-digit").value = String(example.label);
    $("testset-label").textContent = String(example.label);
    const right = output.prediction === example.label;
    const pred = $("testset-prediction");
    pred.textContent = `${output.prediction} ${right ? "\u2713 right" : "\u2717 wrong"}`;
    pred.className = right ? "good" : "bad";
    const count = example.count ? ` of ${example.count}` : "";
    $("testset-where").textContent =
      `Example ${example.offset}${count} \u00b7 id ${example.id}` +
      (example.source ? ` \u00b7 ${example.source}` : "");
    drawPixels($("testset-seen"), example.pixels);
    $("testset-copy").disabled = false;
    $("testset-info").hidden = false;
    this.showMessage("");
  }

  /** A line under the form: progress, or an error in words. */
  showMessage(text, isError = false) {
    const line = $("testset-status");
    line.textContent = text;
    line.classList.toggle("error-text", isError);
    line.setAttribute("role", isError ? "alert" : "status");
  }

  repaint() {
    if (this.example) drawPixels($("testset-seen"), this.example.pixels);
  }
}
