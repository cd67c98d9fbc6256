"use strict";
// Shared by the test pages: their parameters, a visible log, the result the
// harness polls (window.__result) and a resilient fetch.

const params = new URLSearchParams(location.search);

const config = {
  // The chat server, e.g. http://127.0.0.1:3900 (no trailing slash).
  base: (params.get("base") || "").replace(/\/+$/, ""),
  // "include" sends credentials cross-origin (fetch and EventSource).
  credentials: params.get("credentials") === "include",
  // One attempt's deadline (the reference answers 504 after ~5-6.5 s).
  attemptTimeout: Number(params.get("attempt_timeout_ms") || 10000),
  // The first retry's wait; doubled per retry, up to 16 times it.
  backoff: Number(params.get("backoff_ms") || 250),
  // Attempts before giving up on one request.
  maxAttempts: Number(params.get("max_attempts") || 25),
};

function fetchCredentials() {
  return config.credentials ? "include" : "same-origin";
}

function log(text, kind) {
  const item = document.createElement("li");
  item.textContent = text;
  if (kind) item.className = kind;
  document.getElementById("log").append(item);
}

function showConfig() {
  document.getElementById("origin").textContent = location.origin;
  document.getElementById("base").textContent = config.base;
  document.getElementById("credentials").textContent =
    config.credentials ? "include" : "omitted (same-origin)";
}

// Publishes the outcome once: the title for a glance, __result for the test.
function publish(result) {
  if (window.__result) return;
  window.__result = result;
  document.title = (result.ok ? "passed" : "failed") + " - " + document.title;
  log(result.ok ? "passed" : "failed: " + result.error, result.ok ? "ok" : "bad");
}

// Runs the page's async main; its return value (an object) is the result.
function run(main) {
  showConfig();
  main().then(
    (details) => publish(Object.assign({ ok: true }, details)),
    (err) => publish({ ok: false, error: String((err && err.stack) || err) }),
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One attempt under a deadline that covers the body too. Resolves to
// {status, body} for any answer, or {failure} for a network error (CORS
// refusals included: the browser does not tell them apart) or a timeout.
async function attempt(url, init) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), config.attemptTimeout);
  try {
    const res = await fetch(url, Object.assign({}, init, {
      signal: abort.signal,
      credentials: fetchCredentials(),
    }));
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { failure: abort.signal.aborted ? "timeout" : err.name + ": " + err.message };
  } finally {
    clearTimeout(timer);
  }
}

// What the reference's chaos makes worth another try.
const RETRIED_STATUSES = new Set([503, 504]);

// Sends until an answer that is not 503/504 arrives, backing off between
// attempts; the same init (so the same Idempotency-Key) every time.
// Resolves to {body, attempts} for a 200; rejects on any other answer.
async function resilientFetch(what, url, init) {
  for (let n = 1; ; n++) {
    const r = await attempt(url, init);
    if (r.status === 200) return { body: r.body, attempts: n };
    const outcome = r.failure || "HTTP " + r.status;
    if (r.status !== undefined && !RETRIED_STATUSES.has(r.status)) {
      throw new Error(what + ": " + outcome + ": " + r.body.trim());
    }
    if (n >= config.maxAttempts) {
      throw new Error(what + ": gave up after " + n + " attempts, last: " + outcome);
    }
    const wait = config.backoff * Math.min(2 ** (n - 1), 16);
    log(what + ": attempt " + n + ": " + outcome + "; retrying in " + wait + " ms");
    await sleep(wait);
  }
}
