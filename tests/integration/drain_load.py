"""Keep-alive load across a SIGTERM (README: In production), for lifecycle.bats.

usage: drain_load.py PORT PID THREADS SECONDS_BEFORE_TERM

THREADS clients each send GET /status on one persistent connection after another. After
SECONDS_BEFORE_TERM the script sends SIGTERM to PID; the clients go on until a connection is
refused (the listeners closed) or 10 s have passed. Every request must end in one of two ways:
a whole 200 answer, or, for a new connection made after the signal, a refused connect (or a reset
before any answer: the kernel completed the connection after the listener's last accept, and
closing the listener resets it; TCP gives the client nothing else to tell it from a refusal, and
nothing was read). A reset or an EOF is a failure unless the last answer on that connection said
Connection: close, as is any other status. Prints "ok N refused N failed N" and one line per failure; exits 1 on failure.
"""
import os
import signal
import socket
import sys
import threading
import time

REQUEST = b"GET /status HTTP/1.1\r\nHost: t\r\n\r\n"

port, pid, nthreads, before = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
lock = threading.Lock()
counts = {"ok": 0, "refused": 0, "failed": 0}
failures = []
termed = threading.Event()
deadline = time.time() + 10


def note(kind, why=None):
    with lock:
        counts[kind] += 1
        if why is not None and len(failures) < 20:
            failures.append(why)


def read_answer(s):
    """One answer: (status, says_close); raises EOFError when the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF after %d bytes of an answer" % len(data))
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length, close = 0, False
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        k, v = k.strip().lower(), v.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"connection" and v == b"close":
            close = True
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF inside a body")
        body += chunk
    return int(lines[0].split()[1]), close


def client():
    while time.time() < deadline:
        after_term = termed.is_set()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            if after_term:
                note("refused")
                return
            note("failed", "connection refused before SIGTERM")
            time.sleep(0.05)
            continue
        with s:
            answers = 0
            while time.time() < deadline:
                try:
                    s.sendall(REQUEST)
                    status, close = read_answer(s)
                except ConnectionResetError as e:
                    if after_term and answers == 0:
                        # the kernel completed this connection after the listener's last accept,
                        # and the listener's close reset it: nothing was read, as when refused
                        note("refused")
                        return
                    note("failed", "%s on a connection not told to close, after %d answers" % (e, answers))
                    break
                except (OSError, EOFError) as e:
                    note("failed", "%s on a connection not told to close, after %d answers" % (e, answers))
                    break
                answers += 1
                if status != 200:
                    note("failed", "status %d" % status)
                else:
                    note("ok")
                if close:
                    break


threads = [threading.Thread(target=client) for _ in range(nthreads)]
for t in threads:
    t.start()
time.sleep(before)
try:
    os.kill(pid, signal.SIGTERM)
except ProcessLookupError:
    print("the server exited before the signal")
    os._exit(1)
termed.set()
for t in threads:
    t.join(max(0.1, deadline + 6 - time.time()))
print("ok %d refused %d failed %d" % (counts["ok"], counts["refused"], counts["failed"]))
for f in failures:
    print(f)
sys.exit(1 if counts["failed"] or any(t.is_alive() for t in threads) else 0)
