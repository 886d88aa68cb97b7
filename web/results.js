// The result views: big prediction, probability bars, explanation heatmap, identity, strip.

import { $, el } from "./dom.js";
import { drawBlank, drawHeatmap, drawPixels, legendGradient, maxAbs, sum } from "./heatmap.js";

const pct = (p) => `${(100 * p).toFixed(1)}%`;
// A digit is plausible when it holds at least this share of the probability; with two or more
// plausible digits the page says "not sure" instead of showing one big digit.
export const PLAUSIBLE = 0.15;

/** The verdict the page shows: "digit", "unsure" or "not-digit", and the plausible digits. */
export function verdictOf(o) {
  const plausible = o.probabilities
    .map((p, d) => [d, p])
    .filter(([, p]) => p >= PLAUSIBLE)
    .sort((a, b) => b[1] - a[1]);
  if (o.is_digit === false) return { verdict: "not-digit", plausible };
  return { verdict: plausible.length > 1 ? "unsure" : "digit", plausible };
}

const listed = (plausible) =>
  plausible.map(([d, p]) => `${d} (${Math.round(100 * p)}%)`).join(" or ");
const num = (x) => x.toFixed(4); // ASCII minus: scripts parse #identity

/** Renders a scorer/explainer output into the page; knows nothing about requests. */
export class ResultsView {
  constructor({ onSelect }) {
    this.onSelect = onSelect; // called with a digit when its bar or map is chosen
    this.output = null;
    this.selected = null; // the digit being explained, null = the prediction
    this.buildBars();
    this.buildStrip();
    this.clear();
  }

  buildBars() {
    const box = $("bars");
    this.bars = [];
    for (let d = 0; d < 10; d++) {
      const fill = el("span", { className: "bar-fill" });
      const value = el("span", { className: "bar-value" });
      const bar = el(
        "button",
        { type: "button", className: "bar", dataset: { digit: String(d), probability: "0" } },
        value,
        el("span", { className: "bar-track" }, fill),
        el("span", { className: "bar-digit" }, String(d)),
      );
      bar.addEventListener("click", () => this.onSelect(d));
      box.append(bar);
      this.bars.push({ bar, fill, value });
    }
  }

  buildStrip() {
    const box = $("heatmaps");
    this.maps = [];
    for (let d = 0; d < 10; d++) {
      const canvas = el("canvas", { dataset: { digit: String(d) }, "aria-hidden": "true" });
      const button = el(
        "button",
        { type: "button", className: "map", "aria-label": `Explain digit ${d}` },
        canvas,
        el("span", { className: "map-digit" }, String(d)),
      );
      button.addEventListener("click", () => this.onSelect(d));
      box.append(button);
      this.maps.push({ button, canvas });
    }
  }

  /** Back to the empty state: no prediction, empty maps. */
  clear() {
    this.output = null;
    this.selected = null;
    $("prediction").textContent = "";
    $("confidence").textContent = "";
    $("runner-up").textContent = "";
    delete document.body.dataset.verdict;
    $("identity").textContent = "";
    for (const key of ["bias", "sum", "score", "label"]) delete $("identity").dataset[key];
    $("explain-label").textContent = "";
    $("legend-scale").textContent = "max |v|";
    $("legend-min").textContent = "\u2212max";
    $("legend-max").textContent = "+max";
    $("legend-for").textContent = "green: pushes toward the digit";
    $("legend-against").textContent = "red: pushes away from it";
    $("legend-bar").style.background = legendGradient();
    document.body.classList.add("empty");
    this.bars.forEach(({ bar, fill, value }, d) => {
      bar.dataset.probability = "0";
      bar.className = "bar";
      bar.title = `Digit ${d}`;
      bar.setAttribute("aria-label", `Digit ${d}: no score yet`);
      bar.setAttribute("aria-pressed", "false");
      fill.style.height = "0%";
      value.textContent = "";
    });
    drawBlank($("heatmap"));
    drawPixels($("seen"), null);
    this.maps.forEach(({ button, canvas }) => {
      button.classList.remove("top", "chosen", "stale");
      drawBlank(canvas);
    });
    $("heatmap").classList.remove("stale");
  }

  /** Show an output; the explanation parts only when the output carries them. */
  show(output) {
    this.output = output;
    document.body.classList.remove("empty");
    this.showPrediction(output);
    this.showBars(output);
    drawPixels($("seen"), output.pixels);
    return this.showExplanation();
  }

  /** Explain another digit (null = the prediction); false if the output lacks its values. */
  select(digit) {
    this.selected = digit;
    if (!this.output) return false;
    this.showBars(this.output);
    return this.showExplanation();
  }

  /** The digit whose explanation is (or should be) on show. */
  target() {
    if (!this.output) return this.selected;
    return this.selected ?? this.output.prediction;
  }

  showPrediction(o) {
    const { verdict, plausible } = verdictOf(o);
    document.body.dataset.verdict = verdict;
    const doubt = typeof o.uncertainty === "number" ? `uncertainty ${o.uncertainty.toFixed(2)}` : "";
    $("confidence").title = doubt;
    const r = o.runner_up;
    if (verdict === "not-digit") {
      $("prediction").textContent = "?";
      $("confidence").textContent = "that doesn\u2019t look like a digit";
      const closest = plausible.length ? listed(plausible) : `${o.prediction}`;
      $("runner-up").textContent = `closest: ${closest}${doubt ? ` \u00b7 ${doubt}` : ""}`;
    } else if (verdict === "unsure") {
      $("prediction").textContent = plausible.map(([d]) => d).join("/");
      $("confidence").textContent = "not sure";
      $("runner-up").textContent = `maybe ${listed(plausible)}`;
    } else {
      $("prediction").textContent = String(o.prediction);
      $("confidence").textContent = `${pct(o.confidence)} confident`;
      $("runner-up").textContent =
        r === undefined || r === null ? "" : `runner-up ${r} \u00b7 ${pct(o.probabilities[r])}`;
    }
  }

  showBars(o) {
    const target = this.target();
    this.bars.forEach(({ bar, fill, value }, d) => {
      const p = o.probabilities[d];
      const s = o.scores ? o.scores[d] : null;
      bar.dataset.probability = String(p);
      fill.style.height = `${Math.max(0.5, 100 * p)}%`;
      value.textContent = p >= 0.005 ? `${Math.round(100 * p)}` : "";
      const raw = s === null ? "" : `, raw score ${s.toFixed(4)}`;
      bar.title = `Digit ${d}: probability ${p.toFixed(4)}${raw}`;
      bar.setAttribute("aria-label", `Digit ${d}: ${pct(p)}. Show its explanation.`);
      bar.setAttribute("aria-pressed", String(d === target));
      bar.classList.toggle("top", d === o.prediction);
      bar.classList.toggle("second", d === o.runner_up);
      bar.classList.toggle("chosen", d === target);
    });
  }

  // Values for one digit from the output: all ten when all_labels was asked, else just one.
  valuesFor(d) {
    const o = this.output;
    if (o.explanations && o.biases) {
      return { values: o.explanations[d], bias: o.biases[d], score: o.scores[d] };
    }
    if (o.explanation && o.label === d) {
      return { values: o.explanation, bias: o.bias, score: o.score ?? o.scores?.[d] };
    }
    return null;
  }

  /** Paint the main heatmap, identity and strip; returns whether fresh values were painted. */
  showExplanation() {
    const o = this.output;
    const d = this.target();
    this.showStrip(o, d);
    const v = this.valuesFor(d);
    $("heatmap").classList.toggle("stale", !v);
    if (!v) return false;
    const scale = maxAbs(v.values);
    drawHeatmap($("heatmap"), v.values, o.pixels, scale);
    const s = sum(v.values);
    const exact = Math.abs(v.bias + s - v.score) <= 1e-3 * Math.max(1, Math.abs(v.score));
    $("identity").textContent =
      `bias ${num(v.bias)} + sum of pixels ${num(s)} ` +
      `${exact ? "=" : "\u2248"} score ${num(v.score)}`;
    const identity = $("identity");
    identity.title = exact ? "" : "The parts do not add up exactly: a server-side rounding?";
    Object.assign(identity.dataset, { bias: v.bias, sum: s, score: v.score, label: d });
    $("explain-label").textContent = d === o.prediction ? `${d} (the prediction)` : String(d);
    $("legend-for").textContent = `green: pushes toward ${d}`;
    $("legend-against").textContent = `red: pushes away from ${d}`;
    $("legend-scale").textContent = scale.toPrecision(2);
    $("legend-min").textContent = `\u2212${scale.toPrecision(2)}`;
    $("legend-max").textContent = `+${scale.toPrecision(2)}`;
    $("legend-bar").style.background = legendGradient();
    return true;
  }

  showStrip(o, target) {
    const fresh = Boolean(o.explanations);
    this.maps.forEach(({ button, canvas }, d) => {
      button.classList.toggle("top", d === o.prediction);
      button.classList.toggle("chosen", d === target);
      button.classList.toggle("stale", !fresh);
      button.setAttribute("aria-pressed", String(d === target));
      if (!fresh) return;
      const values = o.explanations[d];
      drawHeatmap(canvas, values, o.pixels);
      const top = maxAbs(values).toPrecision(2);
      button.title = `Digit ${d}: score ${o.scores[d].toFixed(3)}, max |SHAP| ${top}`;
    });
  }

  /** Repaint canvases (after a theme or size change). */
  repaint() {
    if (this.output) this.show(this.output);
    else this.clear();
  }
}
