// Thin client for the mlpaint REST API (/v1/...): JSON in, JSON out, errors as ApiError.

/** An API failure: kind is "network" (server unreachable), "http" (error reply) or "abort". */
export class ApiError extends Error {
  constructor(message, { kind = "http", status = 0, details = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.details = details;
  }
}

/** Whether an error means the server could not be reached at all. */
export const isNetworkError = (err) => err instanceof ApiError && err.kind === "network";

/** Whether an error only means that we cancelled the request ourselves. */
export const isAbort = (err) => err instanceof ApiError && err.kind === "abort";

// The message of an error reply, whatever its shape (ours, a proxy's HTML page, plain text).
async function errorFrom(response) {
  const text = await response.text().catch(() => "");
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: a proxy or a crashed server; the status line is the best we have.
  }
  const err = body && typeof body === "object" ? body.error : null;
  if (err && typeof err === "object" && err.message) {
    return new ApiError(String(err.message), {
      status: err.status || response.status,
      details: err.details ?? null,
    });
  }
  const fallback = text && text.length < 200 && !text.startsWith("<") ? text : response.statusText;
  return new ApiError(`The server answered ${response.status}${fallback ? `: ${fallback}` : ""}`, {
    status: response.status,
  });
}

async function request(path, { method = "GET", body, signal, onHeaders } = {}) {
  const init = { method, signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw new ApiError("Cancelled", { kind: "abort" });
    throw new ApiError("Cannot reach the mlpaint server.", { kind: "network" });
  }
  if (!response.ok) throw await errorFrom(response);
  onHeaders?.(response.headers);
  try {
    return await response.json();
  } catch (err) {
    if (err && err.name === "AbortError") throw new ApiError("Cancelled", { kind: "abort" });
    throw new ApiError("The server sent a reply that is not JSON.", { status: response.status });
  }
}

function withModel(body, model) {
  return model ? { ...body, model } : body;
}

/**
 * Score one image. input is {image: dataURL} or {pixels: [784]}.
 * Resolves to the output object (prediction, probabilities, scores, runner_up, confidence, pixels).
 */
export async function score(input, { model, signal } = {}) {
  const reply = await request("/v1/functions/scorer/application", {
    method: "POST",
    body: withModel({ input }, model),
    signal,
  });
  return reply.output;
}

/** Explain one image: SHAP values for `label` (default: the prediction), or all ten. */
export async function explain(input, { model, label, allLabels = true, signal } = {}) {
  const body = { input, all_labels: allLabels };
  if (label !== undefined && label !== null) body.label = label;
  const reply = await request("/v1/functions/explainer/application", {
    method: "POST",
    body: withModel(body, model),
    signal,
  });
  return reply.output;
}

/** The model registry: {active, models: [...]}. */
export const listModels = (opts = {}) => request("/v1/models", opts);

/** One model's details (config and metrics). */
export function getModel(name, { version, signal } = {}) {
  const query = version ? `?version=${encodeURIComponent(version)}` : "";
  return request(`/v1/models/${encodeURIComponent(name)}${query}`, { signal });
}

// The answer /v1/digits adds to a stored digit: a model's output, every digit explained.
function answerParams(model) {
  return { ...(model ? { model } : {}), all_labels: "true" };
}

/**
 * A stored example (label 0-9, fold "test", offset a number or "random") with `output`: the
 * explainer's output for it from `model` (default the active one), all ten digits explained.
 */
export function getDigit({ label, offset = "random", fold = "test", model, signal } = {}) {
  const params = new URLSearchParams({
    label: String(label),
    fold,
    offset: String(offset),
    ...answerParams(model),
  });
  return request(`/v1/digits?${params}`, { signal });
}

/** A stored digit by id, with `output` as for getDigit. */
export function getDigitById(id, { model, signal } = {}) {
  const params = new URLSearchParams(answerParams(model));
  return request(`/v1/digits/${encodeURIComponent(id)}?${params}`, { signal });
}

/**
 * Run SQL; resolves to {rows, truncated}: rows in MLDB's table shape [[columns...], [row...],
 * ...], truncated when the server cut the result at `limit` rows.
 */
export async function query(sql, { limit = 100, signal } = {}) {
  const params = new URLSearchParams({ q: sql, format: "table", limit: String(limit) });
  let truncated = null;
  const onHeaders = (headers) => {
    const flag = headers.get("X-Truncated");
    truncated = flag === null ? null : flag === "true";
  };
  const rows = await request(`/v1/query?${params}`, { signal, onHeaders });
  return { rows, truncated };
}

/** Server liveness and the active model. */
export const health = (opts = {}) => request("/v1/health", opts);
