"use strict";
// The scenario: list the chats, post one message to the first chat, and
// follow the stream until that message and the bot's answer arrived.

// How many times the page reopens a stream the browser gave up on.
const MAX_REOPENS = 10;

// Follows the message stream, handing each message to onMessage once
// (copies and replays carry the same message id). The browser reconnects by
// itself when a stream ends; when it gives up (readyState CLOSED), the page
// opens a new EventSource after a backoff.
function followMessages(onMessage, onFail) {
  const url = config.base + "/events?stream=messages";
  const seen = new Set();
  const stats = { opens: 0, errors: 0, reopens: 0, deliveries: 0, copies: 0 };
  let source = null;
  let stopped = false;
  const open = () => {
    source = new EventSource(url, { withCredentials: config.credentials });
    source.onopen = () => {
      stats.opens++;
      log("stream open (" + stats.opens + ")");
    };
    source.onmessage = (event) => {
      stats.deliveries++;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (seen.has(msg.id)) {
        stats.copies++;
        return;
      }
      seen.add(msg.id);
      onMessage(msg);
    };
    source.onerror = () => {
      stats.errors++;
      if (stopped || source.readyState !== EventSource.CLOSED) return;
      if (stats.reopens >= MAX_REOPENS) {
        onFail(new Error("the browser refused the stream " + (stats.reopens + 1) + " times"));
        return;
      }
      stats.reopens++;
      log("stream closed by the browser; reopening");
      setTimeout(open, config.backoff * Math.min(2 ** stats.reopens, 16));
    };
  };
  open();
  return {
    stats,
    close() {
      stopped = true;
      source.close();
    },
  };
}

// The bot answers at least this long after the message it answers (3 s on
// the real server), which tells its answer from earlier bot messages.
const ANSWER_AFTER_MS = Number(params.get("answer_after_ms") || 2950);

// Milliseconds since the epoch of a Go RFC 3339 time (nanoseconds cut).
function sentAt(msg) {
  return Date.parse(msg.sent_at.replace(/(\.\d{3})\d+/, "$1"));
}

// Resolves to {mine, answer}: the message with `key`, then the first bot
// message in `chatId` that arrives after it and was sent late enough.
function conversation(chatId, key) {
  let follower;
  const done = new Promise((resolve, reject) => {
    let mine = null;
    follower = followMessages((msg) => {
      if (!mine && msg.idempotency_key === key) {
        mine = msg;
        log("own message arrived: " + msg.id, "msg");
      } else if (
        mine && msg.chat_id === chatId && msg.author === "bot" &&
        sentAt(msg) - sentAt(mine) >= ANSWER_AFTER_MS
      ) {
        log("bot answered: " + msg.text, "msg");
        resolve({ mine, answer: msg });
      }
    }, reject);
  });
  return { done, follower };
}

async function postMessage(chat, key, text) {
  const url = config.base + "/chats/" + encodeURIComponent(chat.id) + "/messages";
  const init = {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": key },
    body: JSON.stringify({ text }),
  };
  const r = await resilientFetch("POST message", url, init);
  // An empty 200: the key is known, so an earlier attempt was stored.
  const stored = r.body === "" ? null : JSON.parse(r.body);
  log(stored ? "stored as " + stored.id : "empty 200: an earlier attempt was stored", "msg");
  return { stored, attempts: r.attempts };
}

run(async () => {
  const key = params.get("key") || "browser-" + Date.now() + "-" + Math.random();
  const text = params.get("text") || "Hello from a browser on another origin";
  // Answers are text/plain (as the real server sends them): parse the text.
  const listed = await resilientFetch("GET /chats", config.base + "/chats", {});
  const chats = JSON.parse(listed.body);
  if (!Array.isArray(chats) || chats.length === 0) throw new Error("no chats");
  const chat = chats[0];
  log("chats: " + chats.map((c) => c.name).join(", ") + "; writing to " + chat.name);

  const { done, follower } = conversation(chat.id, key);
  try {
    const post = await postMessage(chat, key, text);
    const { mine, answer } = await done;
    if (post.stored && post.stored.id !== mine.id) {
      throw new Error("the stream's message " + mine.id + " is not the stored " + post.stored.id);
    }
    return {
      chat: chat.id,
      key,
      message: mine.id,
      answer: answer.id,
      answer_text: answer.text,
      answer_delay_ms: sentAt(answer) - sentAt(mine),
      list_attempts: listed.attempts,
      post_attempts: post.attempts,
      post_answer_empty: post.stored === null,
      stream: follower.stats,
    };
  } finally {
    follower.close();
  }
});
