"use strict";
// A fetch-based stream reader that resumes with a Last-Event-ID request
// header. The header is not CORS-safelisted, so the browser asks the server
// first (a preflight); the real server's CORS options do not allow it, so
// the browser must refuse the request: fetch rejects with a TypeError and
// the page never sees an answer.

// Opens the stream, reads its headers, then lets it go. Resolves to the
// status; rejects as fetch rejects.
async function openStream(headers) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), config.attemptTimeout);
  try {
    const res = await fetch(config.base + "/events?stream=messages", {
      headers,
      signal: abort.signal,
      credentials: fetchCredentials(),
    });
    return res.status;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

run(async () => {
  // The control: the same request without the header needs no preflight
  // and is allowed, so a refusal below is the header's doing.
  const control = await openStream({});
  log("without Last-Event-ID: HTTP " + control, "msg");

  let status = null;
  let error = null;
  try {
    status = await openStream({ "Last-Event-ID": "0" });
    log("with Last-Event-ID: HTTP " + status + " (not blocked)", "bad");
  } catch (err) {
    error = err;
    log("with Last-Event-ID: blocked: " + err.name + ": " + err.message, "msg");
  }
  return {
    control_status: control,
    blocked: error !== null,
    error_name: error ? error.name : null,
    error_message: error ? error.message : null,
    status,
  };
});
