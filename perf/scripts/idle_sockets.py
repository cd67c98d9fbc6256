#!/usr/bin/env python3
"""Opens many idle TCP connections to a running mock-chat-server (connected,
no byte sent), then times `curl GET /chats` while they are held: a full
server must still answer a new client at once (issue 20).

    cargo run --release --features cli --bin mock-chat-server -- --chaos none --port 3950 &
    python3 perf/scripts/idle_sockets.py --port 3950 --sockets 5000 --runs 5

Loopback only. Raises this process's own open-file limit to its hard limit
(the shell's `ulimit -n` need not be raised). Prints one line per run (HTTP
status, seconds) and how many of the idle sockets the server closed.
"""
import argparse
import resource
import select
import socket
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3950)
    ap.add_argument("--sockets", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--limit", type=float, default=1.0, help="seconds a run may take")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < args.sockets + 32:
        sys.exit(f"open-file limit {hard} too low for {args.sockets} sockets")

    idle = []
    for _ in range(args.sockets):
        s = socket.create_connection((args.host, args.port))
        idle.append(s)
    print(f"{len(idle)} idle sockets open")

    url = f"http://{args.host}:{args.port}/chats"
    slow = 0
    for run in range(1, args.runs + 1):
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-m", "10", "-w", "%{http_code} %{time_total}", url],
            capture_output=True, text=True,
        ).stdout.split()
        status, took = (out + ["000", "10"])[:2]
        ok = status == "200" and float(took) < args.limit
        slow += not ok
        print(f"run {run}: HTTP {status} in {float(took):.4f} s{'' if ok else '  <-- FAIL'}")

    closed = sum(1 for s in poll_readable(idle) if not s.recv(1, socket.MSG_PEEK))
    print(f"idle sockets closed by the server: {closed} of {len(idle)}")
    for s in idle:
        s.close()
    sys.exit(1 if slow else 0)


def poll_readable(socks):
    """The sockets with something to read (an end, here); `select` would
    stop at 1,024 descriptors."""
    p = select.poll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        p.register(fd, select.POLLIN)
    return [by_fd[fd] for fd, _ in p.poll(200)]


if __name__ == "__main__":
    main()
