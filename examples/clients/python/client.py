#!/usr/bin/env python3
"""A small, complete client of the chat server's API, to explore against
mock-chat-server (see ../README.md).

    MOCK_CHAT_URL=http://127.0.0.1:8080 python3 client.py [--buggy[=lost]] [--no-check]

It lists the chats, posts one message to a chat with an Idempotency-Key
(retrying with backoff on errors, timeouts and lost answers, always under
the same key; an empty 200 means "already stored under this key"), then
reads the chat's history and checks that the message is there exactly once.
Exit 0 on success; on failure, non-zero with a last line starting "FAIL:".

--buggy       the classic bug: an empty 200 is taken for a failure and the
              message is sent again under a new key (stored twice).
--buggy=lost  a lost answer (dropped, cut, timed out) is taken for a
              failure and the message is sent again under a new key.
--no-check    skip the final check (the server's own diagnostics still see a
              double send: run it under `explore --deny-misuse`).
"""

import json
import os
import random
import sys
import time
import uuid
from urllib.parse import quote

import httpx

# One request's limit: the real server answers 504 after 5 s of silence,
# plus up to 1.5 s of delay on each side.
REQUEST_TIMEOUT_S = 10.0
ATTEMPTS = 20
BACKOFF_FIRST_S = 0.05
BACKOFF_CAP_S = 1.0


class LostAnswer(Exception):
    """The answer never arrived whole: the server may have acted on it."""


class Failure(Exception):
    """Stops the run with its message as the last line."""


def options(argv):
    buggy = next((a for a in argv if a.startswith("--buggy")), None)
    urls = [a for a in argv if a.startswith(("http://", "https://"))]
    base = os.environ.get("MOCK_CHAT_URL") or (urls[0] if urls else "")
    return {
        "bug_empty": buggy == "--buggy",
        "bug_lost": buggy == "--buggy=lost",
        "label": f"python {buggy[2:]}" if buggy else "python",
        "check": "--no-check" not in argv,
        "base": base.rstrip("/"),
    }


class Client:
    def __init__(self, opts):
        self.opts = opts
        self.http = httpx.Client(base_url=opts["base"], timeout=REQUEST_TIMEOUT_S)

    def log(self, line):
        print(f"[{self.opts['label']}] {line}", flush=True)

    @staticmethod
    def backoff(n):
        """Waits before attempt n + 1: doubling, capped, jittered."""
        s = min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** (n - 1))
        time.sleep(s / 2 + random.random() * s / 2)

    def exchange(self, method, path, **kwargs):
        """One HTTP exchange: (status, body text), or LostAnswer."""
        try:
            res = self.http.request(method, path, **kwargs)
            return res.status_code, res.text
        except httpx.TransportError as e:
            raise LostAnswer(f"no answer ({type(e).__name__}: {e})") from e

    def get_json(self, path):
        """GETs path and parses its JSON, retrying what can be retried."""
        for n in range(1, ATTEMPTS + 1):
            try:
                status, text = self.exchange("GET", path)
                if status == 200:
                    # The server says text/plain; the body is JSON all the same.
                    try:
                        return json.loads(text)
                    except ValueError:
                        raise LostAnswer(f"a cut answer ({len(text)} bytes)") from None
                if status < 500:
                    raise Failure(f"GET {path} answered {status}: {text.strip()}")
                why = f"{status} {text.strip()}"
            except LostAnswer as e:
                why = str(e)
            if n == ATTEMPTS:
                raise Failure(f"GET {path} failed {ATTEMPTS} times, last: {why}")
            self.log(f"GET {path}: {why}; retrying")
            self.backoff(n)

    def post_message(self, chat, text):
        """POSTs text to chat under one key until the server has it. Returns
        the stored message, or None when only an empty 200 said it was
        stored."""
        path = f"/chats/{quote(chat['id'], safe='')}/messages"
        body = json.dumps({"text": text})
        key = str(uuid.uuid4())
        for n in range(1, ATTEMPTS + 1):
            try:
                headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
                status, answer = self.exchange("POST", path, headers=headers, content=body)
                if status == 200 and answer == "":
                    if not self.opts["bug_empty"]:
                        self.log(f"key {key} already stored (empty 200)")
                        return None
                    self.log("empty 200: taking it for a failure, new key")  # the bug
                    key = str(uuid.uuid4())
                    why = "empty 200"
                elif status == 200:
                    try:
                        return json.loads(answer)
                    except ValueError:
                        raise LostAnswer(f"a cut answer ({len(answer)} bytes)") from None
                elif status >= 500:
                    why = f"{status} {answer.strip()}"  # nothing stored: same key
                else:
                    raise Failure(f"POST answered {status}: {answer.strip()}")
            except LostAnswer as e:
                why = str(e)  # maybe stored: the same key finds out
                if self.opts["bug_lost"]:
                    key = str(uuid.uuid4())  # the bug
            if n == ATTEMPTS:
                raise Failure(f"POST failed {ATTEMPTS} times, last: {why}")
            self.log(f"POST: {why}; retrying")
            self.backoff(n)

    def run(self):
        if not self.opts["base"]:
            raise Failure("MOCK_CHAT_URL is not set (the server's base URL)")
        chats = self.get_json("/chats")
        if not isinstance(chats, list) or not chats:
            raise Failure("no chats")
        # The order changes on every call: pick by name.
        chat = min(chats, key=lambda c: c["name"])
        text = f"hello from python {uuid.uuid4().hex[:8]}"
        stored = self.post_message(chat, text)
        self.log(f"posted to {chat['name']}: {stored['id'] if stored else '(already stored)'}")
        if not self.opts["check"]:
            return
        history = self.get_json(f"/chats/{quote(chat['id'], safe='')}/messages")
        mine = [m for m in history if m.get("text") == text]
        if len(mine) != 1:
            raise Failure(f"the message was stored {len(mine)} times, not once")
        if stored and stored["id"] != mine[0]["id"]:
            raise Failure("the history holds another message id")
        self.log(f"ok: message {mine[0]['id']} stored once, in the history")


def main():
    client = Client(options(sys.argv[1:]))
    try:
        client.run()
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    except Exception as e:  # a bug of this client: say it on the last line
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        return 1
    finally:
        client.http.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
