// Page-wide status: body[data-state], the error banner, the spinner, the screen-reader line.

import { health, isNetworkError } from "./api.js";
import { $ } from "./dom.js";

const SPINNER_DELAY_MS = 250; // only answers slower than this earn a spinner
const RETRY_MS = 3000;

/** Set document.body.dataset.state: "idle" | "busy" | "ready" | "error". */
export function setState(state) {
  document.body.dataset.state = state;
}

/** Show the banner with a message (plain words); kind "error" or "offline". */
export function showError(message, kind = "error") {
  const banner = $("error");
  $("error-text").textContent = message;
  banner.dataset.kind = kind;
  banner.hidden = false;
}

export function hideError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

let spinnerTimer = 0;

/** Show the spinner once a request has been running for a while; hide it when done. */
export function setBusy(busy) {
  clearTimeout(spinnerTimer);
  if (busy) {
    spinnerTimer = setTimeout(() => {
      $("spinner").hidden = false;
    }, SPINNER_DELAY_MS);
  } else {
    $("spinner").hidden = true;
  }
}

/** Tell screen readers something (polite: after what they are reading). */
export function announce(text) {
  const line = $("announce");
  if (line.textContent !== text) line.textContent = text;
}

let retryTimer = 0;

/** A request got through: drop the banner and any pending reconnect check. */
export function markOnline() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  hideError();
}

/**
 * Report a failed request: an unreachable server gets an "offline" banner and a health
 * check every few seconds, which calls onBack() once the server answers again.
 */
export function reportError(err, onBack) {
  if (!isNetworkError(err)) {
    showError(err.message || String(err));
    return;
  }
  showError(
    "Cannot reach the mlpaint server. Is it running? Trying again every few seconds\u2026",
    "offline",
  );
  if (retryTimer) return;
  const retry = async () => {
    try {
      await health();
      retryTimer = 0;
      hideError();
      onBack();
    } catch {
      retryTimer = setTimeout(retry, RETRY_MS);
    }
  };
  retryTimer = setTimeout(retry, RETRY_MS);
}
