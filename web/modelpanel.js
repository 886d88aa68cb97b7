// The model picker and the "model" panel: config, test metrics and the confusion matrix.

import { getModel, listModels } from "./api.js";
import { $, el } from "./dom.js";

const isNum = (x) => typeof x === "number" && Number.isFinite(x);
const pct = (x, digits = 2) => (isNum(x) ? `${(100 * x).toFixed(digits)}%` : "\u2014");
const plain = (x) => (x === undefined || x === null || x === "" ? "\u2014" : String(x));

function bytes(n) {
  if (!isNum(n)) return "\u2014";
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function when(iso) {
  const d = iso ? new Date(iso) : null;
  return d && !Number.isNaN(d.getTime()) ? d.toLocaleString() : plain(iso);
}

// One entry per model name (the API scores by name): the active version, else the newest.
function byName(models) {
  const best = new Map();
  for (const m of models) {
    const seen = best.get(m.name);
    if (!seen || (m.active && !seen.active) || (!seen.active && m.version > seen.version)) {
      best.set(m.name, m);
    }
  }
  return [...best.values()];
}

/** A table: rows = actual digit, columns = predicted, cells coloured by share of the row. */
export function confusionTable(matrix, caption) {
  const corner = el("th", { scope: "col", className: "corner" }, "actual \u2193 predicted \u2192");
  const head = el("tr", {}, corner, ...matrix.map((_, d) => el("th", { scope: "col" }, String(d))));
  const rows = matrix.map((row, actual) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const cells = row.map((count, predicted) => {
      const share = count / total;
      const td = el(
        "td",
        {
          title: `actual ${actual}, predicted ${predicted}: ${count} (${pct(share, 1)} of row)`,
          className: actual === predicted ? "hit" : count ? "miss" : "zero",
        },
        String(count),
      );
      // sqrt so that a 1% confusion is still visible next to a 98% diagonal
      td.style.setProperty("--share", Math.sqrt(share).toFixed(3));
      return td;
    });
    return el("tr", {}, el("th", { scope: "row" }, String(actual)), ...cells);
  });
  return el(
    "table",
    { className: "confusion" },
    el("caption", {}, caption || "Confusion matrix: rows actual, columns predicted"),
    el("thead", {}, head),
    el("tbody", {}, ...rows),
  );
}

function definitions(pairs) {
  const dl = el("dl");
  for (const [term, value, hint] of pairs) {
    const pair = el("div", {}, el("dt", {}, term), el("dd", {}, value));
    if (hint) pair.title = hint;
    dl.append(pair);
  }
  return dl;
}

// Headline test metrics: metrics.test (the mean over folds) when present, else the first
// fold's (either {test: {...}} or flat), else metrics.summary.mean.
function testMetrics(model) {
  const metrics = model.metrics || {};
  if (metrics.test && typeof metrics.test === "object") return metrics.test;
  const fold = Array.isArray(metrics.folds) ? metrics.folds[0] : null;
  if (fold) return fold.test && typeof fold.test === "object" ? fold.test : fold;
  return metrics.summary?.mean || metrics.summary || {};
}

const isMatrix = (m) => Array.isArray(m) && m.length === 10 && m.every((r) => Array.isArray(r));

// The test confusion matrices, one per fold, from wherever the API put them.
function confusions(model) {
  if (Array.isArray(model.confusion)) {
    if (isMatrix(model.confusion)) return [model.confusion];
    return model.confusion.filter(isMatrix);
  }
  const folds = Array.isArray(model.metrics?.folds) ? model.metrics.folds : [];
  return folds.map((f) => f?.test?.confusion ?? f?.confusion).filter(isMatrix);
}

/** The matrices of every fold added up (each fold tests different rows) and a caption. */
function confusionOf(model) {
  const all = confusions(model);
  if (all.length === 0) return null;
  const total = all[0].map((row, i) => row.map((_, j) => all.reduce((s, m) => s + m[i][j], 0)));
  const where = all.length > 1 ? `the ${all.length} test folds together` : "the test fold";
  return { matrix: total, caption: `Confusion matrix on ${where}: rows actual, columns predicted` };
}

export class ModelPanel {
  /** onChange(name) is called when the user picks another model. */
  constructor({ onChange, onError }) {
    this.onChange = onChange;
    this.onError = onError;
    this.models = [];
    $("model-select").addEventListener("change", () => {
      this.showDetails();
      this.onChange(this.chosen());
    });
  }

  /** The chosen model's name, or undefined (let the server use its active model). */
  chosen() {
    return $("model-select").value || undefined;
  }

  /** Fill the picker from the registry; keeps the current choice when it still exists. */
  async loadRegistry() {
    const select = $("model-select");
    const previous = select.value;
    const registry = await listModels();
    this.models = byName(registry.models || []);
    select.replaceChildren();
    if (this.models.length === 0) {
      select.append(new Option("no trained model", ""));
      select.disabled = true;
      $("model-details").textContent = "No model is trained yet.";
      return false;
    }
    select.disabled = false;
    for (const m of this.models) {
      const acc = isNum(m.accuracy) ? ` \u00b7 ${pct(m.accuracy)}` : "";
      select.append(
        new Option(`${m.name} v${m.version}${m.active ? " (active)" : ""}${acc}`, m.name),
      );
    }
    const active = registry.active?.name;
    const keep = this.models.some((m) => m.name === previous) ? previous : active;
    select.value = keep || this.models[0].name;
    await this.showDetails();
    return true;
  }

  async showDetails() {
    const entry = this.models.find((m) => m.name === this.chosen());
    if (!entry) return;
    const box = $("model-details");
    box.setAttribute("aria-busy", "true");
    try {
      const model = await getModel(entry.name, { version: entry.version });
      if (entry.name === this.chosen()) this.render(model);
    } catch (err) {
      box.replaceChildren(
        el("p", { className: "error-text" }, `Cannot load the model's details: ${err.message}`),
      );
      this.onError(err);
    } finally {
      box.removeAttribute("aria-busy");
    }
  }

  render(model) {
    const title = el("p", { className: "model-name" }, `${model.name} v${model.version}`);
    if (model.active) title.append(el("span", { className: "badge" }, "active"));
    const parts = [title];
    const description = model.config?.description;
    if (description) parts.push(el("p", { className: "muted" }, description));
    parts.push(metricsList(testMetrics(model), model), bagsList(model), configList(model));
    const confusion = confusionOf(model);
    if (confusion) {
      const table = confusionTable(confusion.matrix, confusion.caption);
      parts.push(el("div", { className: "table-scroll" }, table));
    }
    $("model-details").replaceChildren(...parts);
  }
}

function metricsList(m, model) {
  const fixed = (x) => (isNum(x) ? x.toFixed(4) : "\u2014");
  const list = definitions([
    ["Test accuracy", pct(m.accuracy ?? model.accuracy), "Share of test digits predicted right"],
    [
      "MLDB's figure",
      pct(m.mldb_weighted_accuracy ?? model.mldb_weighted_accuracy),
      "MLDB's one-vs-rest weighted accuracy, as its classifier.experiment reports it",
    ],
    ["Log loss", fixed(m.log_loss)],
    ["Macro F1", fixed(m.macro_f1)],
  ]);
  const note = el(
    "p",
    { className: "muted small" },
    "\u201cMLDB's figure\u201d is MLDB's one-vs-rest weighted accuracy, the number its " +
      "MLPaint demo reports; it runs higher than plain accuracy.",
  );
  return el("div", {}, list, note);
}

/** How the bags agree on the test fold, and the digit / not-a-digit verdict's figures. */
function bagsList(model) {
  const bags = model.metrics?.bags;
  const verdict = model.metrics?.not_digit;
  if (!bags && !verdict) {
    return el("p", { className: "muted small", id: "bag-agreement" }, "No bag agreement or " +
      "verdict figures: this model was trained before mlpaint measured them.");
  }
  const fixed = (x) => (isNum(x) ? x.toFixed(3) : "\u2014");
  const test = verdict?.test || {};
  const list = definitions([
    [
      "Bags agree",
      pct(bags?.all_agree, 1),
      "Share of test digits where every bag picks the same top digit",
    ],
    [
      "Disagreement",
      fixed(bags?.mean_disagreement),
      "Mean mutual information between the bags on the test fold (0 with one bag), 0..1",
    ],
    ["Uncertainty", fixed(bags?.mean_uncertainty), "Mean uncertainty on the test fold, 0..1"],
    [
      "Not-a-digit above",
      fixed(verdict?.threshold),
      "The verdict score above which the page says \u201cthat doesn\u2019t look like a digit\u201d",
    ],
    [
      "Non-digits caught",
      pct(test.detection_rate, 1),
      "Share of the non-digit set (test half) the verdict calls not a digit",
    ],
    [
      "Digits refused",
      pct(test.false_non_digit_rate, 1),
      "Share of test digits (drawn on a canvas, test half) called not a digit",
    ],
    ["AUROC", fixed(test.auroc), "Uncertainty: digits vs non-digits, test halves"],
  ]);
  list.id = "bag-agreement";
  return list;
}

function configList(model) {
  const algo = model.config?.algorithm || {};
  const pre = model.config?.preprocess || {};
  const yesNo = (x) => (x === undefined ? "\u2014" : x ? "yes" : "no");
  return definitions([
    ["Bags", plain(algo.bags)],
    ["Rounds", plain(algo.max_iter ?? algo.num_iterations ?? algo.rounds)],
    ["Depth", plain(algo.max_depth)],
    ["Leaves", plain(algo.num_leaves)],
    ["Feature fraction", plain(algo.feature_fraction)],
    ["Bag fraction", plain(algo.bag_fraction)],
    ["Learning rate", plain(algo.learning_rate)],
    ["Deskew", yesNo(pre.deskew)],
    ["Trees", plain(model.n_trees)],
    ["Size", bytes(model.size_bytes)],
    ["Trained in", isNum(model.seconds) ? `${model.seconds.toFixed(0)} s` : "\u2014"],
    ["Created", when(model.created_at)],
  ]);
}
