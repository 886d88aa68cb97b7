// "Newest wins" request runner: at most one request in flight, later asks replace waiting
// ones, and no answer older than the one on show is ever shown.

import { isAbort } from "./api.js";

const MIN_GAP_MS = 50; // breathing room between live requests when the server is very fast

/**
 * Runs jobs one at a time. A job is {kind, urgent, start(signal) -> Promise}. start() runs
 * only when the job is sent, so it can snapshot the newest drawing at that moment.
 */
export class LatestRunner {
  constructor({ onResult, onError, onBusyChange }) {
    this.onResult = onResult; // (result, {kind, seq, startedAt}) for each answer shown
    this.onError = onError; // (error, {kind, seq}) for each failure that is still current
    this.onBusyChange = onBusyChange; // (busy: boolean)
    this.seq = 0; // number of the newest request sent
    this.shownSeq = 0; // number of the newest answer shown (or cancelled)
    this.inflight = null; // {seq, kind, controller}
    this.pending = null; // the newest job waiting to be sent
    this.lastSentAt = -Infinity;
    this.timer = 0;
  }

  /**
   * Ask for a job. An urgent job (a final score) aborts a non-urgent request in flight, since
   * its answer would be superseded anyway and waiting for it only adds latency.
   */
  submit(job) {
    this.pending = job;
    if (job.urgent && this.inflight && !this.inflight.urgent) {
      this.inflight.controller.abort();
      this.inflight = null;
    }
    this.pump();
  }

  /** Drop everything: nothing sent so far will be shown (used by Clear). */
  cancel() {
    this.pending = null;
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.inflight) this.inflight.controller.abort();
    this.inflight = null;
    this.shownSeq = this.seq;
    this.onBusyChange(false);
  }

  busy() {
    return Boolean(this.inflight || this.pending);
  }

  pump() {
    if (this.inflight || !this.pending) return;
    const wait = this.lastSentAt + MIN_GAP_MS - performance.now();
    if (!this.pending.urgent && wait > 0) {
      this.timer ||= setTimeout(() => {
        this.timer = 0;
        this.pump();
      }, wait);
      return;
    }
    clearTimeout(this.timer);
    this.timer = 0;
    const job = this.pending;
    this.pending = null;
    this.send(job);
  }

  send(job) {
    const seq = ++this.seq;
    const controller = new AbortController();
    const startedAt = performance.now();
    const meta = { kind: job.kind, seq, startedAt };
    this.inflight = { seq, urgent: Boolean(job.urgent), controller };
    this.lastSentAt = startedAt;
    this.onBusyChange(true);
    let work;
    try {
      work = Promise.resolve(job.start(controller.signal));
    } catch (err) {
      work = Promise.reject(err);
    }
    const settle = () => {
      if (this.inflight && this.inflight.seq === seq) this.inflight = null;
    };
    const shown = (result) => {
      settle();
      if (seq <= this.shownSeq) return; // an older drawing's answer: never show it
      this.shownSeq = seq;
      this.onResult(result, meta);
    };
    const failed = (err) => {
      settle();
      if (isAbort(err) || seq <= this.shownSeq) return;
      this.shownSeq = seq;
      this.onError(err, meta);
    };
    // then(ok, fail), not then().catch(): a bug in onResult must surface, not pose as an API error
    work.then(shown, failed).finally(() => {
      settle();
      if (!this.busy()) this.onBusyChange(false);
      this.pump();
    });
  }
}
