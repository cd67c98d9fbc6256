"use strict";
// An EventSource left to the browser. When the server ends the stream (every
// 30 s on the real server), the browser reconnects by itself, sending the
// last event id it saw as Last-Event-ID. Unlike a page's own fetch with that
// header, the browser's reconnect is not preflighted, so the real server's
// CORS options do not block it; its replay starts at that id, inclusive.

run(() => new Promise((resolve, reject) => {
  const url = config.base + "/events?stream=messages";
  const source = new EventSource(url, { withCredentials: config.credentials });
  let opens = 0;
  let lastBefore = null;
  source.onopen = () => {
    opens++;
    log("stream open (" + opens + ")" + (lastBefore === null ? "" : ", last id seen " + lastBefore));
  };
  source.onmessage = (event) => {
    if (opens === 1) {
      lastBefore = event.lastEventId;
      return;
    }
    source.close();
    log("resumed at id " + event.lastEventId, "msg");
    resolve({ opens, last_before: lastBefore, first_after: event.lastEventId });
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      reject(new Error("the browser gave up on the stream after " + opens + " opens"));
    } else {
      log("stream ended; the browser reconnects");
    }
  };
}));
