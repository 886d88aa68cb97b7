// The "SQL" panel: example queries, run through /v1/query, results as a table.

import { isAbort, query } from "./api.js";
import { $, el } from "./dom.js";

const LIMIT = 100;

export const EXAMPLES = [
  {
    title: "Rows per split",
    sql: `SELECT 'train' AS split, count(*) AS n FROM digits_train
UNION ALL
SELECT 'test', count(*) FROM digits_test`,
  },
  {
    title: "Count per label (test fold)",
    sql: `SELECT label, count(*) AS n
FROM digits_test
GROUP BY label
ORDER BY label`,
  },
  {
    title: "Average ink per label",
    sql: `SELECT label, round(avg(list_sum(pixels::INTEGER[]) / 255.0), 1) AS avg_ink
FROM digits
GROUP BY label
ORDER BY label`,
  },
  {
    title: "Accuracy of the active model",
    sql: `SELECT avg((ml_predict(pixels) = label)::INT) AS accuracy
FROM digits_test`,
  },
  {
    title: "Most confident mistakes (active model)",
    sql: `SELECT p.id, d.label, p.predicted,
       round(list_max(p.probabilities), 4) AS confidence, d.source
FROM model_predictions AS p
JOIN active_model AS a ON p.name = a.name AND p.version = a.version
JOIN digits AS d ON d.id = p.id
WHERE p.predicted <> d.label
ORDER BY confidence DESC
LIMIT 10`,
  },
  {
    title: "Models in the registry",
    sql: `SELECT name, version, round(accuracy, 4) AS accuracy,
       round(mldb_weighted_accuracy, 4) AS mldb_figure, n_trees, active
FROM models_summary
ORDER BY accuracy DESC`,
  },
];

// Long lists (a row's 784 pixels) would swamp the table: show their length instead.
function display(value) {
  if (value === null || value === undefined) return "NULL";
  if (Array.isArray(value)) {
    if (value.length <= 10) return `[${value.map(display).join(", ")}]`;
    return `[${value.length} values]`;
  }
  if (typeof value === "number" && !Number.isInteger(value)) return String(+value.toPrecision(6));
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Render MLDB's table shape [[columns], [row], ...] as an HTML table. */
export function resultTable(rows) {
  const table = el("table", { className: "sql-table" });
  const [columns = [], ...body] = rows;
  const head = table.createTHead().insertRow();
  for (const name of columns) head.append(el("th", { scope: "col" }, String(name)));
  const tbody = table.createTBody();
  for (const row of body) {
    const tr = tbody.insertRow();
    for (const value of row) {
      const td = tr.insertCell();
      td.textContent = display(value);
      if (typeof value === "number") td.className = "num";
    }
  }
  return table;
}

export class SqlPanel {
  /** onNetworkError(err) lets the page show its offline banner. */
  constructor({ onError }) {
    this.onError = onError;
    this.controller = null;
    const pick = $("sql-examples");
    EXAMPLES.forEach((ex, i) => pick.append(new Option(ex.title, String(i))));
    pick.addEventListener("change", () => {
      const ex = EXAMPLES[Number(pick.value)];
      if (ex) $("sql-input").value = ex.sql;
    });
    $("sql-input").value = EXAMPLES[0].sql;
    $("sql-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.run();
    });
    $("sql-input").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.run();
      }
    });
  }

  /** Run the textarea's SQL; a newer run cancels an older one. */
  async run() {
    const sql = $("sql-input").value.trim();
    const out = $("sql-result");
    if (!sql) {
      this.message("Type a query first.", true);
      return;
    }
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    out.setAttribute("aria-busy", "true");
    $("sql-run").disabled = true;
    $("sql-status").textContent = "Running\u2026";
    const started = performance.now();
    try {
      const { rows, truncated } = await query(sql, { limit: LIMIT, signal: controller.signal });
      const ms = Math.round(performance.now() - started);
      this.show(rows, ms, truncated);
    } catch (err) {
      if (isAbort(err)) return;
      this.message(err.message || String(err), true);
      this.onError(err);
    } finally {
      if (this.controller === controller) {
        out.removeAttribute("aria-busy");
        $("sql-run").disabled = false;
        this.controller = null;
      }
    }
  }

  show(rows, ms, truncated) {
    if (!Array.isArray(rows)) {
      this.message("The server answered with something that is not a table.", true);
      return;
    }
    const n = Math.max(0, rows.length - 1);
    // Without the server's X-Truncated header, a full page of rows may mean more were cut.
    const capped = (truncated ?? n >= LIMIT) ? ` (the first ${LIMIT}; there are more)` : "";
    $("sql-status").textContent = `${n} row${n === 1 ? "" : "s"}${capped} in ${ms} ms`;
    $("sql-result").replaceChildren(resultTable(rows));
  }

  message(text, isError) {
    $("sql-status").textContent = isError ? "Error" : "";
    const attrs = isError
      ? { className: "sql-error", role: "alert" }
      : { className: "muted", role: "status" };
    $("sql-result").replaceChildren(el("p", attrs, text));
  }
}
