#!/usr/bin/env node
// A small, complete client of the chat server's API, to explore against
// mock-chat-server (see ../README.md).
//
//   MOCK_CHAT_URL=http://127.0.0.1:8080 node client.mjs [--buggy[=lost]] [--no-check]
//
// It lists the chats, opens the message stream, posts one message to a
// chat with an Idempotency-Key (retrying with backoff on errors, timeouts
// and lost answers, always under the same key; an empty 200 means "already
// stored under this key"), then checks that the history and the stream
// hold that message exactly once. Exit 0 on success; on failure, non-zero
// with a last line starting with "FAIL:".
//
// --buggy       the classic bug: an empty 200 is taken for a failure and
//               the message is sent again under a new key (stored twice).
// --buggy=lost  a lost answer (dropped, cut, timed out) is taken for a
//               failure and the message is sent again under a new key.
// --no-check    skip the final checks (the server's own diagnostics still
//               see a double send: run it under `explore --deny-misuse`).

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventSource } from 'eventsource';

// One request's limit: the real server answers 504 after 5 s of silence,
// plus up to 1.5 s of delay on each side.
const REQUEST_TIMEOUT_MS = 10_000;
const ATTEMPTS = 20;
const BACKOFF_FIRST_MS = 50;
const BACKOFF_CAP_MS = 1_000;
// How long the stream may take to deliver the message once it is stored.
const STREAM_WAIT_MS = 15_000;

const args = process.argv.slice(2);
const buggy = args.find((a) => a.startsWith('--buggy'));
const BUG_EMPTY = buggy === '--buggy';
const BUG_LOST = buggy === '--buggy=lost';
const CHECK = !args.includes('--no-check');
const BASE = (process.env.MOCK_CHAT_URL ?? args.find((a) => /^https?:/.test(a)) ?? '').replace(/\/+$/, '');

/** The answer never arrived whole: the server may have acted on it. */
class LostAnswer extends Error {}

/** Stops the run with `message` as the last line. */
class Failure extends Error {}

function log(line) {
  console.log(`[node${buggy ? ' ' + buggy.slice(2) : ''}] ${line}`);
}

/** Waits before attempt `n + 1`: doubling, capped, jittered. */
function backoff(n) {
  const ms = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (n - 1));
  return sleep(ms / 2 + Math.random() * (ms / 2));
}

/** One HTTP exchange; throws LostAnswer when no whole answer came back. */
async function exchange(method, path, headers = {}, body = undefined) {
  try {
    const res = await fetch(BASE + path, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return { status: res.status, text: await res.text() };
  } catch (e) {
    throw new LostAnswer(`no answer (${e.cause?.code ?? e.name}: ${e.message})`);
  }
}

/** GETs `path` and parses its JSON, retrying what can be retried. */
async function getJson(path) {
  for (let n = 1; ; n++) {
    let why;
    try {
      const { status, text } = await exchange('GET', path);
      if (status === 200) {
        // The server says text/plain; the body is JSON all the same.
        try {
          return JSON.parse(text);
        } catch {
          throw new LostAnswer(`a cut answer (${text.length} bytes)`);
        }
      }
      if (status < 500) throw new Failure(`GET ${path} answered ${status}: ${text.trim()}`);
      why = `${status} ${text.trim()}`;
    } catch (e) {
      if (!(e instanceof LostAnswer)) throw e;
      why = e.message;
    }
    if (n === ATTEMPTS) throw new Failure(`GET ${path} failed ${ATTEMPTS} times, last: ${why}`);
    log(`GET ${path}: ${why}; retrying`);
    await backoff(n);
  }
}

/**
 * POSTs `text` to `chat` under one Idempotency-Key until the server has
 * it. Returns the stored message, or null when only an empty 200 said it
 * was stored (its id is then read from the history).
 */
async function postMessage(chat, text) {
  const path = `/chats/${encodeURIComponent(chat.id)}/messages`;
  const body = JSON.stringify({ text });
  let key = randomUUID();
  for (let n = 1; ; n++) {
    let why;
    try {
      const headers = { 'Idempotency-Key': key, 'Content-Type': 'application/json' };
      const { status, text: answer } = await exchange('POST', path, headers, body);
      if (status === 200 && answer === '') {
        if (!BUG_EMPTY) {
          log(`key ${key} already stored (empty 200)`);
          return null;
        }
        log(`empty 200: taking it for a failure, new key`); // the bug
        key = randomUUID();
        why = 'empty 200';
      } else if (status === 200) {
        try {
          return JSON.parse(answer);
        } catch {
          throw new LostAnswer(`a cut answer (${answer.length} bytes)`);
        }
      } else if (status >= 500) {
        why = `${status} ${answer.trim()}`; // nothing stored: same key again
      } else {
        throw new Failure(`POST answered ${status}: ${answer.trim()}`);
      }
    } catch (e) {
      if (!(e instanceof LostAnswer)) throw e;
      why = e.message; // maybe stored: the same key finds out
      if (BUG_LOST) key = randomUUID(); // the bug
    }
    if (n === ATTEMPTS) throw new Failure(`POST failed ${ATTEMPTS} times, last: ${why}`);
    log(`POST: ${why}; retrying`);
    await backoff(n);
  }
}

/** Follows the message stream; `seen(text)` gives the ids delivered with that text. */
function followStream() {
  const byText = new Map();
  let wake = () => {};
  const es = new EventSource(`${BASE}/events?stream=messages`);
  es.addEventListener('message', (event) => {
    let m;
    try {
      m = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!byText.has(m.text)) byText.set(m.text, new Set());
    byText.get(m.text).add(m.id); // copies of one message share its id
    wake();
  });
  return {
    close: () => es.close(),
    /** The message ids delivered with `text`, once at least one is. */
    async delivered(text) {
      const deadline = Date.now() + STREAM_WAIT_MS;
      while (!byText.has(text)) {
        if (es.readyState === EventSource.CLOSED) throw new Failure('the stream closed for good');
        const left = deadline - Date.now();
        if (left <= 0) throw new Failure('the stream never delivered the message');
        await Promise.race([new Promise((r) => (wake = r)), sleep(Math.min(left, 200))]);
      }
      return [...byText.get(text)];
    },
  };
}

async function main() {
  if (!BASE) throw new Failure('MOCK_CHAT_URL is not set (the server\'s base URL)');
  const chats = await getJson('/chats');
  if (!Array.isArray(chats) || chats.length === 0) throw new Failure('no chats');
  // The order changes on every call: pick by name.
  const chat = [...chats].sort((a, b) => a.name.localeCompare(b.name))[0];
  const stream = followStream();
  try {
    const text = `hello from node ${randomUUID().slice(0, 8)}`;
    const stored = await postMessage(chat, text);
    log(`posted to ${chat.name}: ${stored ? stored.id : '(already stored)'}`);
    if (!CHECK) return;
    const history = await getJson(`/chats/${encodeURIComponent(chat.id)}/messages`);
    const mine = history.filter((m) => m.text === text);
    if (mine.length !== 1) throw new Failure(`the message was stored ${mine.length} times, not once`);
    if (stored && stored.id !== mine[0].id) throw new Failure('the history holds another message id');
    const ids = await stream.delivered(text);
    if (ids.length !== 1 || ids[0] !== mine[0].id) {
      throw new Failure(`the stream delivered ${ids.length} messages with the text, not one`);
    }
    log(`ok: message ${mine[0].id} stored once, in the history and on the stream`);
  } finally {
    stream.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(`FAIL: ${e instanceof Failure ? e.message : e.stack ?? e}`);
    process.exit(1);
  },
);
