#!/usr/bin/env python3
"""The byte surgeon of damage.bats (docs/store.md: files, chain, torn tail; damage at start).

  damage.py build    --port P --data DIR --out STATE.json [--max-seconds S]
  damage.py campaign --kind KIND --base DIR --state STATE.json --work DIR --porrio BIN
                     --hitos FILE [--foreign DIR] [--seed N] [--count N] [--max-seconds S]
  damage.py layout   --base DIR
  damage.py records  FILE

build: writes a realistic store through the real server on 127.0.0.1:P whose DATA_DIR is DIR
(only read here, for sizes): pools (non-ASCII IDs too), bets, results, a correction, deletions,
milestones; then ~8 MiB of bet replacements in bounded rounds until the journal passes the
compaction threshold (8 MiB: there is no setting for it), waits for the compaction (snapshot 2,
journal 1 removed), then more writes that land in journal 2. The last write is a bet whose record
crosses a 512-byte block boundary (so that "a sector never written" can be made of it). Records
every acknowledged (2xx) write, the exact answers of every GET that shows the state before the last
write (A) and after it (B), and which journal bytes each write of journal 2 produced. Checks B
against a model of the domain rebuilt from the acknowledged writes alone.

campaign: copies the base store once per case, damages the copy (one kind of damage, several
places), starts build/porrio on it (127.0.0.1, a free port, etcd off, a timeout on everything)
and checks the either/or of docs/store.md: porrio EITHER refuses -- exit status 1, exactly one
error-level JSON line on stdout with msg "the store is damaged: not starting", file, offset,
problem and action, stderr naming the file, every file byte for byte unchanged -- OR starts and
serves every acknowledged record (the answers compared byte for byte with A or B), and then stops
on SIGTERM with status 0. Besides, an independent model of the strict walk (written from
docs/store.md, not from the C) predicts each outcome: which file and offset a refusal names, where a
torn tail is cut (a warning naming the file and the offset; the journal's size afterwards); the
server must agree with it. A torn tail cut inside the last record loses that (acknowledged) record:
the answers must then be A; cut further back, they must be those of the base store cut there.
Before each start, `porrio store verify` must agree (exit 1 naming the same file and offset, or 0
saying torn where start-up cuts) and change nothing; after each refusal (every 4th for the kinds
of many alike cases), `porrio store recover --to NEW` must exit 0, leave the copy unchanged and
write a store that verifies whole and that porrio starts on without a warning.

Kinds: whole (no damage), headers, frames, payloads, trailer, snapshot-cut, journal-cut, files,
tails, semantic (frames that verify holding records that do not apply), random.
Prints one line per case; exits 1 when any case failed, naming each failure.

layout: the files of a store, their records and offsets (for failure messages).
records: one line per record of FILE that verifies, in a row: its offset, its size with its frame,
its operation byte (for the byte surgery of store_cmd.bats).
"""
import argparse
import asyncio
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

HEADER_LEN, FRAME_LEN, TRAILER_LEN, SECTOR, ZERO_MIN = 32, 8, 24, 512, 8
COMPACT_BYTES = 8 << 20
NAME_RE = re.compile(r"^(journal|snapshot)-([0-9a-f]{16})$")
SETTINGS = ["PORT", "HOST", "WORKERS", "LOG_LEVEL", "DATA_DIR", "HITOS_FILE", "STATIC_DIR",
            "MAX_BODY_BYTES", "ETCD_ENDPOINTS", "ETCD_PREFIX", "SHUTDOWN_GRACE_S", "ADMIN_TOKENS"]
DAMAGED_MSG = "the store is damaged: not starting"
# Said at every start without ADMIN_TOKENS (README: Authentication): about the routes, not the store.
OPEN_WRITES_MSG = ("ADMIN_TOKENS is empty: PUT /porras/{ID}/resultado, DELETE /porras/{ID} and POST /hitos "
                   "are open to anyone")
TIMEOUT = 5.0


def die(msg):
    print("damage.py: " + msg, file=sys.stderr)
    sys.exit(2)


# ---- the format (docs/store.md, "Files") ---------------------------------------------------------

def _crc8_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c << 1) ^ 0x07 if c & 0x80 else c << 1) & 0xFF
        t.append(c)
    return t


CRC8 = _crc8_table()


def crc8(b):
    c = 0
    for x in b:
        c = CRC8[c ^ x]
    return c


def crc32(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def name_of(kind, gen):
    return "%s-%016x" % (kind, gen)


def header(kind, gen, store_id):
    h = (b"PORRIOS2" if kind == "snapshot" else b"PORRIOJ2") + struct.pack("<QQI", gen, store_id, 0)
    return h + struct.pack("<I", crc32(h))


def frame(payload):
    n = len(payload)
    ln = bytes([n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF])
    return ln + bytes([crc8(ln)]) + struct.pack("<I", crc32(payload)) + payload


def frame_len(b, off):
    """The frame's length at off when it verifies (CRC-8, not 0), else 0."""
    if crc8(b[off:off + 3]) != b[off + 3]:
        return 0
    return b[off] | b[off + 1] << 8 | b[off + 2] << 16


def frame_at(b, end, off):
    """('ok'|'short'|'bad_len'|'past_end'|'bad_crc', length)."""
    if end - off < FRAME_LEN:
        return "short", 0
    n = frame_len(b, off)
    if n == 0:
        return "bad_len", 0
    if n > end - off - FRAME_LEN:
        return "past_end", n
    ok = crc32(b[off + FRAME_LEN:off + FRAME_LEN + n]) == struct.unpack_from("<I", b, off + 4)[0]
    return ("ok" if ok else "bad_crc"), n


def walk_frames(b, start, end):
    """The frames that verify from start, in a row: ([(offset, length)], stop offset, why stopped)."""
    out, off, why = [], start, "end"
    while off < end:
        st, n = frame_at(b, end, off)
        if st != "ok":
            why = st
            break
        out.append((off, n))
        off += FRAME_LEN + n
    return out, off, why


def count_following(b, end, start):
    """Frames that verify from start on, searched for byte by byte after each failure."""
    n, off = 0, start
    while off + FRAME_LEN <= end:
        ln = frame_len(b, off)
        if ln == 0 or ln > end - off - FRAME_LEN or \
                crc32(b[off + FRAME_LEN:off + FRAME_LEN + ln]) != struct.unpack_from("<I", b, off + 4)[0]:
            off += 1
            continue
        n += 1
        off += FRAME_LEN + ln
    return n


def zero_sector(b, frm, to):
    """Some part of b[frm:to) inside one 512-byte block is all zero and at least ZERO_MIN long."""
    while frm < to:
        nxt = min((frm // SECTOR + 1) * SECTOR, to)
        if nxt - frm >= ZERO_MIN and not any(b[frm:nxt]):
            return True
        frm = nxt
    return False


def torn(b, off):
    """docs/store.md, "Torn tail": whether b[off:] (the newest journal's end) is a torn tail."""
    size = len(b)
    if size - off < FRAME_LEN or not any(b[off:]):
        return True
    st, n = frame_at(b, size, off)
    if st == "past_end":
        return True
    return st == "bad_crc" and off + FRAME_LEN + n == size and zero_sector(b, off, size)


def header_problem(b, kind, gen):
    if len(b) < HEADER_LEN:
        return "cut short"
    if struct.unpack_from("<I", b, 28)[0] != crc32(b[:28]):
        return "checksum"
    if b[:8] != (b"PORRIOS2" if kind == "snapshot" else b"PORRIOJ2"):
        return "magic"
    if struct.unpack_from("<I", b, 24)[0] != 0:
        return "reserved"
    if struct.unpack_from("<Q", b, 8)[0] != gen:
        return "generation"
    return None


def trailer_ok(b):
    if len(b) < HEADER_LEN + TRAILER_LEN:
        return False
    t = b[-TRAILER_LEN:]
    return t[:8] == b"PORRIOSE" and struct.unpack_from("<I", t, 20)[0] == crc32(t[:20])


class Pred:
    """What docs/store.md says a start does with a store: refuse (file, offset or None, words),
    torn (file, offset: cut there, with a warning) or clean."""

    def __init__(self, outcome, file=None, offset=None, words=None, follow=None):
        self.outcome, self.file, self.offset, self.words, self.follow = outcome, file, offset, words, follow

    def __repr__(self):
        if self.outcome == "clean":
            return "starts (whole)"
        s = "%s %s at %s" % ("refuses:" if self.outcome == "refuse" else "starts, cuts a torn tail of",
                             self.file, "-" if self.offset is None else self.offset)
        if self.words:
            s += " (%s)" % self.words
        return s


def frame_problem(b, end, off, st):
    if st in ("short", "past_end"):
        return "cut short", None
    return ("length" if st == "bad_len" else "checksum"), count_following(b, end, off + 1)


def predict(d):
    """The strict walk of docs/store.md ("The chain of files"), on directory d."""
    snaps, jours = {}, {}
    for n in sorted(os.listdir(d)):
        m = NAME_RE.match(n)
        if not m:
            continue
        g = int(m.group(2), 16)
        if g == 0:
            return Pred("refuse", n, 0, "generation 0")
        (snaps if m.group(1) == "snapshot" else jours)[g] = n
    if not snaps and not jours:
        return Pred("clean")
    S = max(snaps) if snaps else 0
    J = max(jours) if jours else 0
    first = S if S else 1
    order = ([("snapshot", S)] if S else []) + [("journal", g) for g in sorted(jours) if g >= first] + \
        [("snapshot", g) for g in sorted(snaps) if g < S] + [("journal", g) for g in sorted(jours) if g < first]
    data, ids = {}, []
    for kind, g in order:
        n = name_of(kind, g)
        with open(os.path.join(d, n), "rb") as f:
            data[n] = f.read()
        why = header_problem(data[n], kind, g)
        if why:
            return Pred("refuse", n, 0, "header: " + why)
        ids.append(struct.unpack_from("<Q", data[n], 16)[0])
    best = max(ids, key=lambda i: (ids.count(i), -ids.index(i)))
    for (kind, g), i in zip(order, ids):
        if i != best:
            return Pred("refuse", name_of(kind, g), 16, "another store")
    if S == 0 and min(jours) > 1:
        return Pred("refuse", name_of("snapshot", min(jours)), None, "missing")
    if J < first:
        return Pred("refuse", name_of("journal", first), None, "missing")
    for g in range(first, J + 1):
        if g not in jours:
            return Pred("refuse", name_of("journal", g), None, "missing")
    tail = J
    while tail > first and len(data[name_of("journal", tail)]) <= HEADER_LEN:
        tail -= 1
    if S:
        n = name_of("snapshot", S)
        b = data[n]
        if not trailer_ok(b):
            if len(b) >= HEADER_LEN + TRAILER_LEN and b[-TRAILER_LEN:][:8] == b"PORRIOSE":
                return Pred("refuse", n, len(b) - TRAILER_LEN, "trailer")
            _, stop, _ = walk_frames(b, HEADER_LEN, len(b))
            return Pred("refuse", n, stop, "no trailer")
        end = len(b) - TRAILER_LEN
        frames, stop, st = walk_frames(b, HEADER_LEN, end)
        if stop < end:
            words, follow = frame_problem(b, end, stop, st)
            return Pred("refuse", n, stop, words, follow)
        if len(frames) != struct.unpack_from("<Q", b, end + 8)[0]:
            return Pred("refuse", n, end, "count")
        if crc32(b[:end]) != struct.unpack_from("<I", b, end + 16)[0]:
            return Pred("refuse", n, None, "snapshot checksum")
    cut = None
    for g in range(first, J + 1):
        n = name_of("journal", g)
        b = data[n]
        _, stop, st = walk_frames(b, HEADER_LEN, len(b))
        if stop == len(b):
            continue
        if g == tail and torn(b, stop):
            cut = Pred("torn", n, stop)
            continue
        words, follow = frame_problem(b, len(b), stop, st)
        return Pred("refuse", n, stop, words, follow)
    return cut or Pred("clean")


def layout(d):
    lines = []
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        with open(p, "rb") as f:
            b = f.read()
        end = len(b) - TRAILER_LEN if n.startswith("snapshot-") else len(b)
        frames, stop, st = walk_frames(b, HEADER_LEN, end)
        lines.append("%s: %d bytes, %d records%s: %s" % (
            n, len(b), len(frames), "" if stop == end else " (then %s at %d)" % (st, stop),
            " ".join("%d+%d" % (o, FRAME_LEN + ln) for o, ln in frames[:40]) + (" ..." if len(frames) > 40 else "")))
    return "\n".join(lines)


# ---- HTTP ---------------------------------------------------------------------------------------

class Client:
    """One keep-alive connection to 127.0.0.1:port, reconnecting when the server closes it."""

    def __init__(self, port):
        self.port, self.c = port, None

    def request(self, method, path, body=None):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
            try:
                hdrs = {"Content-Type": "application/json"} if body is not None else {}
                self.c.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=hdrs)
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, data, r
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def q(seg):
    return urllib.parse.quote(seg, safe="")


def answers(cl, ids):
    """The exact answers (status, body) of every GET that shows the state, for the pools ids."""
    out = {}
    paths = ["/porras", "/porras?limit=1000", "/hitos", "/all"]
    for i in ids:
        paths += ["/porras/" + q(i), "/porras/%s/ganadores" % q(i)]
    for p in paths:
        st, body, _ = cl.request("GET", p)
        out[p] = [st, body.decode("utf-8", "replace")]
    return out


def diff_answers(got, want):
    for p in want:
        if p not in got:
            return "%s: not asked" % p
        if got[p] != want[p]:
            return "GET %s: got %d %s; expected %d %s" % (p, got[p][0], got[p][1][:300], want[p][0], want[p][1][:300])
    return None


# ---- build ---------------------------------------------------------------------------------------

SEG64 = {k: k * 64 for k in "LVCY"}
BIG_ID = "-".join(SEG64[k] for k in "LVCY")  # 259 bytes: the longest all-ASCII ID
BIG_PATH = "/porra/" + "/".join(SEG64[k] for k in "LVCY")


def churn_name(k):
    return ("q%02d" % k) + "x" * 61  # 64 bytes, the longest bettor


async def _churn_round(port, n, conns, start, last):
    """n bet replacements on BIG_ID over `conns` pipelining connections; each bettor belongs to
    one connection, so the last value sent to a bettor is its last acknowledged one."""
    per = [n // conns + (1 if k < n % conns else 0) for k in range(conns)]
    path = "/porras/%s/apuestas/" % BIG_ID

    async def one(k, count):
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        who = churn_name(k)
        sent = 0
        try:
            while sent < count:
                m = min(16, count - sent)
                buf, goals = b"", []
                for i in range(m):
                    g = (start + sent + i) % 100
                    body = b'{"local":%d,"visitante":%d}' % (g, k)
                    buf += ("PUT %s%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            "Content-Length: %d\r\n\r\n" % (path, who, len(body))).encode() + body
                    goals.append(g)
                w.write(buf)
                await asyncio.wait_for(w.drain(), TIMEOUT)
                for g in goals:
                    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), TIMEOUT)
                    st = int(head.split(b" ", 2)[1])
                    cl = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            cl = int(line.split(b":", 1)[1])
                    if cl:
                        await asyncio.wait_for(r.readexactly(cl), TIMEOUT)
                    if st not in (200, 201):
                        raise RuntimeError("churn bet: status %d" % st)
                    last[who] = [g, k]
                sent += m
        finally:
            w.close()

    await asyncio.gather(*[one(k, c) for k, c in enumerate(per) if c > 0])


class Builder:
    def __init__(self, a):
        self.a, self.cl = a, Client(a.port)
        self.acked, self.ids, self.j2 = [], [], []
        self.deadline = time.monotonic() + a.max_seconds

    def jsize(self, gen):
        try:
            return os.path.getsize(os.path.join(self.a.data, name_of("journal", gen)))
        except FileNotFoundError:
            return -1

    def w(self, method, path, body=None, want=None, track=None):
        """One write; dies unless its status is `want` (when given) or 2xx/409. 2xx: recorded."""
        before = self.jsize(2) if track else None
        st, data, _ = self.cl.request(method, path, body)
        if (want is not None and st != want) or (want is None and st not in (200, 201, 204)):
            die("%s %s %s: status %d %s" % (method, path, body or "", st, data[:200]))
        if 200 <= st < 300:
            self.acked.append({"method": method, "path": path, "body": body, "status": st})
            if track:
                after = self.jsize(2)
                self.j2.append({"write": len(self.acked) - 1, "offset": before, "length": after - before})
        if method == "PUT" and path.startswith("/porra/") and st == 200:  # new or already there
            i = json.loads(data)["ID"]
            if i not in self.ids:
                self.ids.append(i)
        return st

    def pool(self, l, v, c, y, track=False, want=200):
        return self.w("PUT", "/porra/%s/%s/%s/%s" % (q(l), q(v), q(c), q(y)), want=want, track=track)

    def bet(self, i, who, lo, vi, track=False, want=None):
        return self.w("PUT", "/porras/%s/apuestas/%s" % (q(i), q(who)),
                      '{"local":%d,"visitante":%d}' % (lo, vi), want=want, track=track)

    def result(self, i, lo, vi, track=False):
        return self.w("PUT", "/porras/%s/resultado" % q(i), '{"local":%d,"visitante":%d}' % (lo, vi), want=200,
                      track=track)

    def delete(self, i, track=False):
        return self.w("DELETE", "/porras/" + q(i), want=204, track=track)

    def hito(self, f, title, fecha, track=False):
        return self.w("POST", "/hitos", json.dumps({"file": f, "title": title, "fecha": fecha}), want=201,
                      track=track)

    def metric(self, name):
        _, data, _ = self.cl.request("GET", "/metrics")
        m = re.search(r"^%s (\S+)$" % re.escape(name), data.decode(), re.M)
        return float(m.group(1)) if m else -1

    def run(self):
        # ---- set 1: everything here ends up in the snapshot
        pools1 = [("Madrid", "Barça", "Liga", "2024"), ("Köln", "München", "Bundesliga", "2023"),
                  ("España", "Italia", "Eurocopa", "2012"), ("😀", "Ñandú", "Copa.Sur", "2025"),
                  ("Betis", "Sevilla", "Liga", "2024"), ("Zeta", "Alfa", "Amistoso", "1999"),
                  ("gone", "b", "c", "2024"), ("empty", "b", "c", "2024"), ("a", "b", "c", "d")]
        for p in pools1:
            self.pool(*p)
        madrid, koln, espana, smiley, betis, zeta = self.ids[:6]
        self.pool("Madrid", "Barça", "Liga", "2024", want=200)  # exists: 200, no record
        for who, lo, vi in [("ana", 2, 1), ("bea", 1, 1), ("josé-luis", 0, 3), ("carlos-m", 2, 1)]:
            self.bet(madrid, who, lo, vi, want=201)
        self.bet(koln, "ana", 1, 0)
        self.bet(koln, "Ünal", 2, 2)
        self.bet(espana, "ana", 4, 0)
        self.bet(espana, "bea", 1, 2)
        self.bet(espana, "bea", 3, 3, want=200)  # replaced
        self.bet(smiley, "--", 9, 9)
        for k in range(40):
            self.bet(betis, "p%02d" % k, k % 7, k % 5)
        self.bet(zeta, "ana", 0, 0)
        self.result(espana, 4, 0)
        self.w("PUT", "/porras/%s/apuestas/ana" % q(espana), '{"local":1,"visitante":1}', want=409)
        self.result(koln, 1, 0)
        self.result(koln, 2, 2)  # a correction
        self.delete(self.ids[6])
        self.hito("2.Durable", "Compactación: el diario pasa de 8 MiB", "28/11/2026")
        self.pool(*[SEG64[k] for k in "LVCY"])
        # ---- churn: bet replacements until journal 1 passes the compaction threshold
        last, sent = {}, 0
        while 0 <= self.jsize(1) <= COMPACT_BYTES:
            if time.monotonic() > self.deadline or sent > 60000:
                die("journal 1 did not pass %d bytes: %d bytes after %d writes" % (COMPACT_BYTES, self.jsize(1), sent))
            left = COMPACT_BYTES - max(self.jsize(1), 0)
            n = max(1, min(1024, left // 700))  # in flight: at most about half of what is left
            asyncio.run(_churn_round(self.a.port, n, min(64, n), sent, last))
            sent += n
        self.churn = {"pool": BIG_ID, "writes": sent, "last": last}
        for _ in range(200):  # the compaction: snapshot 2 written, journal 1 removed
            if self.metric("porrio_store_compactions_total") >= 1:
                break
            time.sleep(0.05)
        names = sorted(os.listdir(self.a.data))
        if names != [name_of("journal", 2), name_of("snapshot", 2)]:
            die("after the compaction the store holds %s" % names)
        # ---- set 2: in journal 2, each write's bytes recorded
        t = True
        self.pool("Ñ", "Ö", "Copa_2", "2026", track=t)
        self.pool("Athletic", "Real.Sociedad", "Liga", "2025", track=t)
        self.pool("x", "y", "z", "1", track=t)
        nn, athletic, xyz = self.ids[-3:]
        self.pool("Köln", "München", "Bundesliga", "2023", want=200, track=t)
        self.bet(madrid, "dani", 3, 3, want=201, track=t)
        self.bet(madrid, "ana", 0, 0, want=200, track=t)
        self.bet(nn, "ñoño", 1, 2, want=201, track=t)
        self.bet(athletic, "ana", 2, 0, track=t)
        self.bet(athletic, "zoe", 2, 0, track=t)
        self.bet(betis, "p41", 7, 7, track=t)
        self.result(madrid, 2, 1, track=t)
        self.result(athletic, 2, 0, track=t)
        self.result(athletic, 1, 0, track=t)
        self.delete(zeta, track=t)
        self.pool("temp", "b", "c", "2024", track=t)
        self.bet("temp-b-c-2024", "ana", 1, 1, track=t)
        self.delete("temp-b-c-2024", track=t)
        self.pool("temp", "b", "c", "2024", track=t)
        self.hito("3.Journal", "Después de la compactación", "29/2/2024", track=t)
        self.bet(xyz, "ana", 5, 5, track=t)
        self.bet(BIG_ID, "nuevo", 3, 0, track=t)
        # ---- the last write: a bet on BIG_ID whose record crosses a 512-byte boundary with at
        # least 24 bytes on each side; fillers (bets on Betis) first when it cannot yet
        filler = 0
        while True:
            s = self.jsize(2)
            boundary = (s // SECTOR + 1) * SECTOR
            fit = [n for n in range(1, 65)
                   if boundary - s >= 24 and 24 <= s + FRAME_LEN + 1 + len(BIG_ID) + 1 + n + 1 + 2 - boundary <= 200]
            if fit:
                who = "ultima" + "z" * (fit[0] - 6) if fit[0] >= 6 else "u" * fit[0]
                break
            self.bet(betis, "relleno%02d" % filler, 1, 1, track=t)
            filler += 1
            if filler > 20:
                die("cannot align the last record")
        self.ids_all = list(self.ids)
        self.A = answers(self.cl, self.ids_all)
        self.bet(BIG_ID, who, 1, 2, want=201, track=t)
        self.B = answers(self.cl, self.ids_all)
        self.last = self.j2[-1]
        self.check_model()
        return {"acked": self.acked, "churn": self.churn, "ids": self.ids_all, "A": self.A, "B": self.B,
                "journal2": self.j2, "last": self.last, "store_id": None}

    def check_model(self):
        """B, rebuilt from the acknowledged writes alone."""
        pools, hitos = {}, []
        for w in self.acked:
            m, p = w["method"], [urllib.parse.unquote(s) for s in w["path"].split("/")[1:]]
            if m == "PUT" and p[0] == "porra":
                i = "-".join(p[1:5])
                if i not in pools:  # 200 whether new or already there
                    pools[i] = {"ID": i, "local": p[1], "visitante": p[2], "competition": p[3], "year": p[4],
                                "apuestas": {}, "resultado": None}
            elif m == "PUT" and len(p) == 4 and p[2] == "apuestas":
                pools[p[1]]["apuestas"][p[3]] = json.loads(w["body"])
            elif m == "PUT" and p[2:] == ["resultado"]:
                b = json.loads(w["body"])
                pools[p[1]]["resultado"] = "%d-%d" % (b["local"], b["visitante"])
            elif m == "DELETE":
                del pools[p[1]]
            elif m == "POST":
                hitos.append(json.loads(w["body"]))
        for who, (lo, vi) in self.churn["last"].items():
            pools[BIG_ID]["apuestas"][who] = {"local": lo, "visitante": vi}
        got = json.loads(self.B["/porras"][1])
        if [x["ID"] for x in got] != list(pools):
            die("GET /porras lists %s; the acknowledged writes make %s" % ([x["ID"] for x in got], list(pools)))
        for x in got:
            if x != pools[x["ID"]]:
                die("GET /porras: %s is %s; the acknowledged writes make %s" % (x["ID"], x, pools[x["ID"]]))
        h = json.loads(self.B["/hitos"][1])
        if not isinstance(h, list) or h[-len(hitos):] != hitos:
            die("GET /hitos ends with %s; the acknowledged milestones are %s" % (h[-len(hitos):], hitos))


def build(a):
    state = Builder(a).run()
    with open(os.path.join(a.data, name_of("journal", 2)), "rb") as f:
        state["store_id"] = struct.unpack_from("<Q", f.read(HEADER_LEN), 16)[0]
    with open(a.out, "w") as f:
        json.dump(state, f)
    print("acknowledged %d writes + %d bet replacements; journal 2: %d writes" % (
        len(state["acked"]), state["churn"]["writes"], len(state["journal2"])))


# ---- running porrio on a damaged copy ------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def file_hashes(d):
    out = {}
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            out[n] = hashlib.sha256(f.read()).hexdigest()
    return out


def porrio_env(hitos, **extra):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(ETCD_ENDPOINTS="", HITOS_FILE=hitos, **extra)
    return env


def tool(porrio, hitos, args, tmp):
    """porrio store ARGS (bounded): (exit status, stdout, stderr)."""
    cwd = tempfile.mkdtemp(dir=tmp, prefix="tool.")
    r = subprocess.run([porrio, "store"] + args, cwd=cwd, env=porrio_env(hitos), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    shutil.rmtree(cwd, ignore_errors=True)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


class Run:
    """One porrio on DATA_DIR d: refused (exited) or started (answers taken, then SIGTERM)."""

    def __init__(self, porrio, hitos, d, ids, tmp):
        self.port = free_port()
        cwd = tempfile.mkdtemp(dir=tmp, prefix="cwd.")
        env = porrio_env(hitos, PORT=str(self.port), HOST="127.0.0.1", DATA_DIR=d, WORKERS="1")
        self.out_path, self.err_path = os.path.join(cwd, "stdout.log"), os.path.join(cwd, "stderr.log")
        with open(self.out_path, "wb") as o, open(self.err_path, "wb") as e:
            p = subprocess.Popen([porrio], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        self.started, self.rc, self.answers, self.stop_rc = False, None, None, None
        deadline = time.monotonic() + 5
        try:
            while time.monotonic() < deadline:
                if p.poll() is not None:
                    break
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                    c.request("GET", "/health/ready")
                    r = c.getresponse()
                    r.read()
                    c.close()
                    if r.status == 200:
                        self.started = True
                        break
                except OSError:
                    pass
                time.sleep(0.01)
            if self.started:
                cl = Client(self.port)
                self.answers = answers(cl, ids)
                cl.close()
                p.send_signal(signal.SIGTERM)
                self.stop_rc = p.wait(timeout=10)
            else:
                self.rc = p.wait(timeout=1)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        with open(self.out_path, "rb") as f:
            self.stdout = f.read().decode("utf-8", "replace")
        with open(self.err_path, "rb") as f:
            self.stderr = f.read().decode("utf-8", "replace")
        self.lines, self.bad_lines = [], []
        for ln in self.stdout.splitlines():
            try:
                o = json.loads(ln)
                (self.lines if isinstance(o, dict) else self.bad_lines).append(o if isinstance(o, dict) else ln)
            except ValueError:
                self.bad_lines.append(ln)

    def level(self, lv):
        return [x for x in self.lines if x.get("level") == lv and x.get("msg") != OPEN_WRITES_MSG]

    def logs(self):
        return "stdout:\n%s\nstderr:\n%s" % (self.stdout[-3000:], self.stderr[-1000:])


class Campaign:
    def __init__(self, a):
        self.a = a
        with open(a.state) as f:
            self.st = json.load(f)
        self.base = a.base
        self.snap, self.jour = name_of("snapshot", 2), name_of("journal", 2)
        self.bytes = {}
        for n in (self.snap, self.jour):
            with open(os.path.join(self.base, n), "rb") as f:
                self.bytes[n] = f.read()
        sb = self.bytes[self.snap]
        self.sframes, stop, _ = walk_frames(sb, HEADER_LEN, len(sb) - TRAILER_LEN)
        jb = self.bytes[self.jour]
        self.jframes, jstop, _ = walk_frames(jb, HEADER_LEN, len(jb))
        if stop != len(sb) - TRAILER_LEN or jstop != len(jb) or len(self.sframes) < 3 or len(self.jframes) < 3:
            die("the base store is not what build makes:\n" + layout(self.base))
        last = self.st["last"]
        if self.jframes[-1][0] != last["offset"] or jb[-1] == 0:
            die("journal 2's last record is not the last write's:\n" + layout(self.base))
        self.failures, self.n, self.refused, self.cut, self.clean = [], 0, 0, 0, 0
        self.refs = {}
        self.recovered, self.recover_every = 0, 1  # store recover on every refused copy, or every Nth
        self.tmp = tempfile.mkdtemp(dir=a.work, prefix="run.")
        self.deadline = time.monotonic() + a.max_seconds

    # ---- damage primitives (on the copy d)
    @staticmethod
    def _rw(d, n, fn):
        p = os.path.join(d, n)
        with open(p, "rb") as f:
            b = bytearray(f.read())
        b = fn(b)
        with open(p, "wb") as f:
            f.write(b)

    def flip(self, n, off, mask):
        def fn(b):
            b[off] ^= mask
            return b
        return lambda d: self._rw(d, n, fn)

    def cut_to(self, n, size):
        return lambda d: os.truncate(os.path.join(d, n), size)

    def append(self, n, data):
        return lambda d: self._rw(d, n, lambda b: b + data)

    def zero(self, n, off, count):
        def fn(b):
            b[off:off + count] = bytes(count)
            return b
        return lambda d: self._rw(d, n, fn)

    @staticmethod
    def both(*fs):
        def g(d):
            for f in fs:
                f(d)
        return g

    # ---- one case
    def expected(self, pred):
        """The answers a start must give for a predicted start: B, or A when the last record is
        cut, or those of the base store cut at that offset (a start of its own, once)."""
        if pred.outcome == "clean" or pred.file != self.jour:
            return self.st["B"], "B"
        last = self.st["last"]["offset"]
        if pred.offset >= last + self.st["last"]["length"]:
            return self.st["B"], "B"
        if pred.offset == last:
            return self.st["A"], "A (the last record cut)"
        if pred.offset not in self.refs:
            d = os.path.join(self.tmp, "ref-%d" % pred.offset)
            shutil.copytree(self.base, d)
            os.truncate(os.path.join(d, self.jour), pred.offset)
            r = Run(self.a.porrio, self.a.hitos, d, self.st["ids"], self.tmp)
            if not r.started or r.stop_rc != 0:
                die("the base store cut at %d (a record boundary) does not start and stop: %s" % (pred.offset, r.logs()))
            self.refs[pred.offset] = r.answers
        return self.refs[pred.offset], "the base store cut at %d" % pred.offset

    def case(self, label, mutate, expect=None):
        if time.monotonic() > self.deadline:
            self.failures.append("%s: not run: the campaign ran out of its %d s" % (label, self.a.max_seconds))
            return
        self.n += 1
        d = os.path.join(self.tmp, "case-%d" % self.n)
        shutil.copytree(self.base, d)
        mutate(d)
        before = file_hashes(d)
        pred = predict(d)
        if expect is not None:  # records that verify but do not apply: beyond the byte-level model
            if pred.outcome != "clean":
                die("%s: the bytes themselves do not verify (%r)" % (label, pred))
            pred = expect
        bad = self.verify_agrees(d, pred, before)
        r = Run(self.a.porrio, self.a.hitos, d, self.st["ids"], self.tmp)
        if r.bad_lines:
            bad.append("stdout lines that are not JSON objects: %r" % r.bad_lines[:3])
        if not r.started:
            self.refused += 1
            errs = r.level("error")
            if r.rc != 1:
                bad.append("exit status %s, expected 1 (or a start)" % r.rc)
            if len(errs) != 1:
                bad.append("%d error-level lines, expected exactly 1" % len(errs))
            else:
                e = errs[0]
                if e.get("msg") != DAMAGED_MSG:
                    bad.append("error line's msg is %r" % e.get("msg"))
                for k in ("file", "problem", "action"):
                    if not isinstance(e.get(k), str) or not e.get(k):
                        bad.append("error line without %s" % k)
                if pred.offset is not None and not isinstance(e.get("offset"), int):
                    bad.append("error line without an integer offset")
                act = e.get("action", "")
                for want in ("nothing was changed", "porrio store verify %s" % d, "porrio store recover --to NEWDIR %s" % d):
                    if want not in act:
                        bad.append("action does not say %r: %r" % (want, act))
                f = e.get("file", "")
                if f and f not in r.stderr:
                    bad.append("stderr does not name %s: %r" % (f, r.stderr))
                if pred.outcome != "refuse":
                    bad.append("refused a store docs/store.md says starts (%r): %s at %s: %s" % (
                        pred, f, e.get("offset"), e.get("problem")))
                else:
                    if f != os.path.join(d, pred.file) or e.get("offset") != pred.offset:
                        bad.append("names %s at offset %s; expected %s at %s" % (
                            os.path.relpath(f, d) if f.startswith(d) else f, e.get("offset"), pred.file, pred.offset))
                    if pred.words == "does not apply" and not e.get("problem", "").startswith("record does not apply: "):
                        bad.append("problem %r does not say the record does not apply" % e.get("problem"))
                    if pred.follow is not None and not re.search(
                            r"\b%d valid records? follows?\b" % pred.follow, e.get("problem", "")):
                        bad.append("problem %r does not say %d valid records follow" % (e.get("problem"), pred.follow))
            after = file_hashes(d)
            if after != before:
                bad.append("files changed by a refused start: %s -> %s" % (
                    {k: v[:8] for k, v in before.items()}, {k: v[:8] for k, v in after.items()}))
            outcome = "refused: %s" % (errs[0].get("problem") if len(errs) == 1 else "?")
            if not self.a.no_recover and self.refused % self.recover_every == 0:
                self.recovered += 1
                bad += self.recover_starts(d, before)
        else:
            if r.stop_rc != 0:
                bad.append("SIGTERM: exit status %s, expected 0" % r.stop_rc)
            if r.level("error"):
                bad.append("error lines: %s" % r.level("error"))
            if pred.outcome == "refuse":
                bad.append("started on a store docs/store.md calls damaged (%r)" % pred)
                want, which = self.st["B"], "B"
            else:
                want, which = self.expected(pred)
            diff = diff_answers(r.answers, want)
            if diff:
                bad.append("acknowledged data not served as %s: %s" % (which, diff))
            warns = [x for x in r.level("warn") if "torn" in json.dumps(x)]
            if pred.outcome == "torn":
                self.cut += 1
                full = os.path.join(d, pred.file)
                if len(warns) != 1 or full not in json.dumps(warns[0], ensure_ascii=False) or \
                        ("offset %d " % pred.offset) not in json.dumps(warns[0], ensure_ascii=False):
                    bad.append("expected one warning naming %s and offset %d, got %s" % (full, pred.offset, warns))
                if os.path.getsize(full) != pred.offset:
                    bad.append("%s is %d bytes after the start, expected cut to %d" % (
                        pred.file, os.path.getsize(full), pred.offset))
            else:
                self.clean += 1
                if warns:
                    bad.append("warned of a torn tail on a whole store: %s" % warns)
            bad += self.tidied(d, before, pred)
            outcome = "started (%s)" % ("cut at %s" % pred.offset if pred.outcome == "torn" else "whole")
        if bad:
            self.failures.append("%s: %s\n    model: %r\n    %s\n%s" % (label, outcome, pred, "\n    ".join(bad), r.logs()))
            print("FAIL %s: %s" % (label, outcome))
        else:
            print("ok   %s: %s" % (label, outcome))
            shutil.rmtree(d, ignore_errors=True)

    def verify_agrees(self, d, pred, before):
        """porrio store verify reads the store as start-up does: exit 1 naming the same file and
        offset, or 0 (saying torn where start-up cuts); it changes nothing."""
        rc, out, err = tool(self.a.porrio, self.a.hitos, ["verify", d], self.tmp)
        bad, lines = [], out.splitlines()
        last = lines[-1] if lines else ""
        if pred.outcome == "refuse":
            where = os.path.join(d, pred.file) + (":" if pred.offset is None else " at offset %d:" % pred.offset)
            if rc != 1 or not last.startswith("DAMAGED: " + where):
                bad.append("store verify: exit %d, last line %r; expected 1 and 'DAMAGED: %s ...'" % (rc, last, where))
        else:
            torn_line = "%s at offset %s: torn tail" % (pred.file, pred.offset)
            if rc != 0 or not re.match(r"^%s: whole, \d+ records%s$" % (re.escape(d), re.escape(
                    " (start-up leaves the torn tail out)") if pred.outcome == "torn" else ""), last) or \
                    (pred.outcome == "torn") != any(x.startswith(torn_line) for x in lines):
                bad.append("store verify: exit %d, output %r; expected 0, whole%s" % (
                    rc, out[-600:], ", " + torn_line if pred.outcome == "torn" else ""))
        if file_hashes(d) != before:
            bad.append("store verify changed files")
        return bad

    def recover_starts(self, d, before):
        """porrio store recover on a refused store: exit 0, the store unchanged, and the new store
        whole (verify 0, no torn tail) and served (a start, SIGTERM, exit 0)."""
        new = d + ".new"
        rc, out, err = tool(self.a.porrio, self.a.hitos, ["recover", "--to", new, d], self.tmp)
        bad = []
        if rc != 0:
            return ["store recover: exit %d: %s%s" % (rc, out[-600:], err[-300:])]
        if file_hashes(d) != before:
            bad.append("store recover changed the damaged store")
        if sorted(os.listdir(new)) != [name_of("journal", 1), name_of("snapshot", 1)]:
            bad.append("store recover wrote %s" % sorted(os.listdir(new)))
        vrc, vout, _ = tool(self.a.porrio, self.a.hitos, ["verify", new], self.tmp)
        if vrc != 0 or "torn" in vout:
            bad.append("the recovered store does not verify whole: %s" % vout[-400:])
        r = Run(self.a.porrio, self.a.hitos, new, [], self.tmp)
        if not r.started or r.stop_rc != 0 or r.level("error") or r.level("warn"):
            bad.append("porrio on the recovered store: started %s, SIGTERM exit %s: %s" % (r.started, r.stop_rc, r.logs()))
        shutil.rmtree(new, ignore_errors=True)
        return bad

    @staticmethod
    def tidied(d, before, pred):
        """After a start: the .tmp files and the generations older than the snapshot are gone, the
        torn file is cut (checked by the caller), every other file is byte for byte as it was."""
        gens = [int(m.group(2), 16) for m in (NAME_RE.match(n) for n in before) if m and m.group(1) == "snapshot"]
        S = max(gens) if gens else 0
        after, bad = file_hashes(d), []
        for n, h in before.items():
            m = NAME_RE.match(n)
            leftover = (re.match(r"^(journal|snapshot)-.*\.tmp$", n) is not None) or (m is not None and int(m.group(2), 16) < S)
            if leftover and n in after:
                bad.append("leftover %s not removed at start" % n)
            elif not leftover and n != pred.file and after.get(n) != h:
                bad.append("%s %s by a start" % (n, "removed" if n not in after else "changed"))
        new = sorted(set(after) - set(before))
        if new:
            bad.append("files created by a start without writes: %s" % new)
        return bad

    # ---- the kinds
    def picks(self, frames):
        idx = sorted({0, len(frames) // 2, len(frames) - 1})
        return [(["first", "middle", "last"][k], frames[i]) for k, i in enumerate(idx)]

    def k_whole(self):
        self.case("no damage", lambda d: None)

    def k_headers(self):
        for n in (self.snap, self.jour):
            for i in range(HEADER_LEN):
                self.case("%s header byte %d, bit %d flipped" % (n, i, i % 8), self.flip(n, i, 1 << (i % 8)))

    def k_frames(self):
        for n, frames in ((self.snap, self.sframes), (self.jour, self.jframes)):
            for where, (off, ln) in self.picks(frames):
                for k in range(FRAME_LEN):
                    what = "length" if k < 3 else "length's CRC-8" if k == 3 else "payload's CRC-32"
                    self.case("%s, %s record (offset %d): frame byte %d (%s), bit %d flipped" % (
                        n, where, off, k, what, (k * 3) % 8), self.flip(n, off + k, 1 << ((k * 3) % 8)))

    def k_payloads(self):
        for n, frames in ((self.snap, self.sframes), (self.jour, self.jframes)):
            for where, (off, ln) in self.picks(frames):
                for at, p in (("first", 0), ("middle", ln // 2), ("last", ln - 1)):
                    self.case("%s, %s record (offset %d): %s payload byte (offset %d) flipped" % (
                        n, where, off, at, off + FRAME_LEN + p), self.flip(n, off + FRAME_LEN + p, 0x20))

    def k_trailer(self):
        size = len(self.bytes[self.snap])
        for i in range(TRAILER_LEN):
            off = size - TRAILER_LEN + i
            self.case("%s trailer byte %d (offset %d) flipped" % (self.snap, i, off), self.flip(self.snap, off, 0x81))

    def k_snapshot_cut(self):
        n, size = self.snap, len(self.bytes[self.snap])
        mid_off, mid_len = self.sframes[len(self.sframes) // 2]
        points = [("one byte short", size - 1), ("half the trailer gone", size - TRAILER_LEN // 2),
                  ("just the trailer gone", size - TRAILER_LEN),
                  ("the trailer and one byte of the last record gone", size - TRAILER_LEN - 1),
                  ("inside the middle record", mid_off + FRAME_LEN + mid_len // 2),
                  ("at the middle record's start", mid_off), ("inside the middle record's frame", mid_off + 5),
                  ("after the first record", self.sframes[1][0]), ("to the header", HEADER_LEN),
                  ("inside the header", 20), ("to nothing", 0)]
        for what, at in points:
            self.case("%s cut to %d bytes (%s)" % (n, at, what), self.cut_to(n, at))

    def k_journal_cut(self):
        n = self.jour
        off, ln = self.jframes[-1]
        for what, at in [("1 byte of the last record left", off + 1), ("4 bytes", off + 4), ("7 bytes", off + 7),
                         ("its frame alone", off + FRAME_LEN), ("half its payload", off + FRAME_LEN + ln // 2),
                         ("all but its last byte", off + FRAME_LEN + ln - 1)]:
            self.case("%s cut inside its last record (offset %d): %s" % (n, off, what), self.cut_to(n, at))
        moff, mln = self.jframes[len(self.jframes) // 2]
        for what, at in [("3 bytes of it left", moff + 3), ("half of it", moff + FRAME_LEN + mln // 2)]:
            self.case("%s cut inside a middle record (offset %d): %s" % (n, moff, what), self.cut_to(n, at))
        self.case("%s cut inside its header (20 bytes)" % n, self.cut_to(n, 20))
        self.case("%s cut to nothing" % n, self.cut_to(n, 0))

    def craft_journal(self, gen, store_id, payloads=(), source_gen=None):
        """A journal-<gen> whose header verifies (generation `source_gen` in it when given)."""
        data = header("journal", source_gen if source_gen is not None else gen, store_id) + b"".join(
            frame(p) for p in payloads)

        def g(d):
            with open(os.path.join(d, name_of("journal", gen)), "wb") as f:
                f.write(data)
        return g

    def k_files(self):
        sid = self.st["store_id"]
        foreign = os.path.join(self.a.foreign, name_of("journal", 1))
        with open(foreign, "rb") as f:
            fb = f.read()
        fid = struct.unpack_from("<Q", fb, 16)[0]
        if fid == sid:
            die("the foreign store has the same id")

        def copy_foreign(to, regen=None):
            def g(d):
                b = bytearray(fb)
                if regen is not None:
                    b[:HEADER_LEN] = header("journal", regen, fid)
                with open(os.path.join(d, to), "wb") as f:
                    f.write(b)
            return g

        def rm(n):
            return lambda d: os.remove(os.path.join(d, n))

        def mv(a, b):
            return lambda d: os.rename(os.path.join(d, a), os.path.join(d, b))

        def cp(a, b):
            return lambda d: shutil.copyfile(os.path.join(d, a), os.path.join(d, b))

        def put(n, data):
            def g(d):
                with open(os.path.join(d, n), "wb") as f:
                    f.write(data)
            return g

        j3, s3 = name_of("journal", 3), name_of("snapshot", 3)
        lo, ll = self.jframes[-1]
        last_payload = self.bytes[self.jour][lo + FRAME_LEN:lo + FRAME_LEN + ll]
        cases = [
            ("snapshot missing", rm(self.snap)),
            ("journal missing", rm(self.jour)),
            ("another store's journal-1 beside them (an older leftover of another id)", copy_foreign(name_of("journal", 1))),
            ("another store's journal-1 in place of journal-2", self.both(rm(self.jour), copy_foreign(self.jour))),
            ("another store's journal, its header made generation 2, in place of journal-2",
             self.both(rm(self.jour), copy_foreign(self.jour, regen=2))),
            ("another store's journal, its header made generation 3, as journal-3", copy_foreign(j3, regen=3)),
            ("another store's journal-1 copied as journal-3", copy_foreign(j3)),
            ("snapshot renamed to snapshot-3", mv(self.snap, s3)),
            ("snapshot renamed to snapshot-1", mv(self.snap, name_of("snapshot", 1))),
            ("snapshot renamed to generation 0", mv(self.snap, name_of("snapshot", 0))),
            ("a copy of the journal named generation 0", cp(self.jour, name_of("journal", 0))),
            ("journal renamed to journal-3", mv(self.jour, j3)),
            ("an empty journal-3 (0 bytes)", put(j3, b"")),
            ("journal-3 of this store, header only (a compaction's first step)", self.craft_journal(3, sid)),
            ("journal-3 of this store holding one record (the last bet again)",
             self.craft_journal(3, sid, [last_payload])),
            ("journal-3 header only, and journal-2's last record torn",
             self.both(self.craft_journal(3, sid), self.cut_to(self.jour, lo + FRAME_LEN + ll // 2))),
            ("journal-3 holding a record, and journal-2's last record torn",
             self.both(self.craft_journal(3, sid, [last_payload]), self.cut_to(self.jour, lo + FRAME_LEN + ll // 2))),
            ("journal-3 header only, zeros after it",
             self.both(self.craft_journal(3, sid), self.append(j3, bytes(300)))),
            ("journal-3 with generation 2 in its header", self.craft_journal(3, sid, source_gen=2)),
            ("journal-4 header only, journal-3 missing", self.craft_journal(4, sid)),
            ("leftover snapshot-3.tmp and journal-3.tmp (removed at start)",
             self.both(put(s3 + ".tmp", b"PORRIOS2" + bytes(50)), put(j3 + ".tmp", b"junk"))),
            ("an older snapshot-1 of this store (a leftover: header read, file removed)",
             put(name_of("snapshot", 1), header("snapshot", 1, sid) + b"anything: never read")),
            ("an older snapshot-1 whose header is damaged",
             put(name_of("snapshot", 1), header("snapshot", 1, sid)[:31] + b"\0" + b"anything")),
            ("unrelated files beside the store", put("README", b"not ours")),
        ]
        for label, f in cases:
            self.case(label, f)

    def garbage(self, rng, n, frame_ok=False):
        while True:
            g = bytearray(rng.randbytes(n))
            if n >= 4:
                ok = crc8(g[:3]) == g[3] and (g[0] | g[1] << 8 | g[2] << 16) != 0
                if ok != frame_ok:
                    continue
            if any(g):
                return bytes(g)

    def k_tails(self):
        rng = random.Random(5150)
        j, s = self.jour, self.snap
        off, ln = self.jframes[-1]
        end = off + FRAME_LEN + ln
        boundary = (off // SECTOR + 1) * SECTOR
        if not off + 24 <= boundary <= end - 24:
            die("the last record does not cross a block boundary: %d..%d" % (off, end))
        for z in (1, 7, 8, 100, 512, 5000):
            self.case("%s: %d zero bytes appended" % (j, z), self.append(j, bytes(z)))
        self.case("%s: its last record zeroed (never written)" % j, self.zero(j, off, end - off))
        self.case("%s: the last record's part in its last 512-byte block zeroed (a sector never written)" % j,
                  self.zero(j, boundary, end - boundary))
        self.case("%s: the last record's last 7 bytes zeroed (not a whole sector)" % j, self.zero(j, end - 7, 7))
        self.case("%s: the last record's part before the block boundary zeroed, frame kept" % j,
                  self.zero(j, off + FRAME_LEN, boundary - off - FRAME_LEN))
        for n in (1, 5, 7):
            self.case("%s: %d random bytes appended (fewer than a frame)" % (j, n), self.append(j, self.garbage(rng, n)))
        for n in (8, 9, 100, 300, 5000):
            self.case("%s: %d random bytes appended, their length failing its CRC-8" % (j, n),
                      self.append(j, self.garbage(rng, n)))
        for n in (12, 300):
            g = bytearray(self.garbage(rng, n))
            big = 1 << 20
            g[0:3] = bytes([big & 255, big >> 8 & 255, big >> 16])
            g[3] = crc8(g[0:3])
            self.case("%s: %d random bytes appended whose length verifies and runs past the end" % (j, n),
                      self.append(j, bytes(g)))
        g = bytearray(self.garbage(rng, 40))
        g[0:3] = bytes([32, 0, 0])
        g[3] = crc8(g[0:3])
        self.case("%s: a frame of random bytes appended, whole, failing its CRC-32" % j, self.append(j, bytes(g)))
        self.case("%s: a whole copy of its last record appended, one payload byte flipped" % j,
                  self.append(j, bytes(self.bytes[j][off:off + 40]) + bytes([self.bytes[j][off + 40] ^ 0x04]) +
                              bytes(self.bytes[j][off + 41:end])))
        self.case("%s: a whole copy of its last record appended (a record again: it applies)" % j,
                  self.append(j, bytes(self.bytes[j][off:end])))
        for z in (24, 512):
            self.case("%s: %d zero bytes appended" % (s, z), self.append(s, bytes(z)))
        self.case("%s: 300 random bytes appended" % s, self.append(s, self.garbage(rng, 300)))
        soff, sln = self.sframes[-1]
        self.case("%s: its last record zeroed" % s, self.zero(s, soff, FRAME_LEN + sln))

    def k_semantic(self):
        """Frames that verify holding records that do not apply (docs/store.md, "Change records":
        replay makes the checks of a live request): damage, refused naming the record."""
        j, s = self.jour, self.snap
        jb, sb = self.bytes[j], self.bytes[s]
        madrid, espana = "Madrid-Barça-Liga-2024", "España-Italia-Eurocopa-2012"

        def z(*parts):
            return b"".join(x.encode() + b"\0" if isinstance(x, str) else bytes(x) for x in parts)

        records = [
            ("a bet on a pool that does not exist", b"\x12" + z("nope-b-c-2024", "ana", [1, 1])),
            ("a bet on a deleted pool", b"\x12" + z("Zeta-Alfa-Amistoso-1999", "ana", [1, 1])),
            ("a bet after the result", b"\x12" + z(espana, "zoe", [1, 1])),
            ("a bet of 100 goals", b"\x12" + z(madrid, "zoe", [100, 1])),
            ("a bet whose bettor breaks the segment rule", b"\x12" + z(madrid, "a b", [1, 1])),
            ("a bet cut short (one goal)", b"\x12" + z(madrid, "zoe", [1])),
            ("a result of 100 goals", b"\x13" + z(madrid, [1, 100])),
            ("a result on a pool that does not exist", b"\x13" + z("nope-b-c-2024", [1, 1])),
            ("a pool created again", b"\x10" + z("Madrid", "Barça", "Liga", "2024")),
            ("a pool of three fields", b"\x10" + z("Madrid", "Barça", "Liga")),
            ("a pool whose segment holds '-'", b"\x10" + z("a-b", "c", "d", "e")),
            ("a pool whose segment is not UTF-8", b"\x10\xff\x00c\x00d\x00e\x00"),
            ("a deletion of a pool that does not exist", b"\x11" + z("nope-b-c-2024")),
            ("a milestone whose file is taken (by an added one)", b"\x20" + z("2.Durable", "t", "1/1/2024")),
            # a milestone whose file HITOS_FILE holds is a change of that file, not damage: exit 2
            # naming the file (tests/integration/hitos.bats)
            ("a milestone dated 31/2/2024", b"\x20" + z("9.X", "t", "31/2/2024")),
            ("an unknown operation 0x7f", b"\x7f" + z("x")),
            ("a single byte 0x12", b"\x12"),
            ("a snapshot's bets record (0x14) for a pool that does not exist", b"\x14" + z("nope-b-c-2024", [1, 0], "ana", [1, 1])),
        ]
        for what, rec in records:
            self.case("%s: a frame that verifies appended: %s" % (j, what), self.append(j, frame(rec)),
                      expect=Pred("refuse", j, len(jb), "does not apply"))
        mo, ml = self.jframes[len(self.jframes) // 2]
        rec = records[0][1]
        self.case("%s: %s inserted before its middle record" % (j, records[0][0]),
                  lambda d: self._rw(d, j, lambda b: b[:mo] + frame(rec) + b[mo:]),
                  expect=Pred("refuse", j, mo, "does not apply"))

        def snapshot_with(extra, count_delta=0, crc_delta=0):
            end = len(sb) - TRAILER_LEN
            body = sb[:end] + b"".join(frame(x) for x in extra)
            n = len(self.sframes) + len(extra) + count_delta
            t = b"PORRIOSE" + struct.pack("<QI", n, (crc32(body) + crc_delta) & 0xFFFFFFFF)
            data = body + t + struct.pack("<I", crc32(t))

            def g(d):
                with open(os.path.join(d, s), "wb") as f:
                    f.write(data)
            return g, end

        g, end = snapshot_with([records[0][1]])
        self.case("%s: a record that does not apply added, its trailer rewritten to match" % s, g,
                  expect=Pred("refuse", s, end, "does not apply"))
        g, end = snapshot_with([], count_delta=1)
        self.case("%s: its trailer (checksums valid) counting one record more" % s, g)
        g, end = snapshot_with([], crc_delta=1)
        self.case("%s: its trailer (its own checksum valid) holding a wrong checksum of the file" % s, g)

    def k_random(self):
        seed = self.a.seed if self.a.seed is not None else random.SystemRandom().randrange(1 << 32)
        print("seed %d (DAMAGE_SEED=%d reruns this campaign)" % (seed, seed))
        rng = random.Random(seed)
        for _ in range(self.a.count):
            n = rng.choice([self.snap, self.jour])
            off = rng.randrange(len(self.bytes[n]))
            mask = rng.randrange(1, 256)
            self.case("seed %d: %s byte %d ^= 0x%02x" % (seed, n, off, mask), self.flip(n, off, mask))


def campaign(a):
    c = Campaign(a)
    kinds = {"whole": c.k_whole, "headers": c.k_headers, "frames": c.k_frames, "payloads": c.k_payloads, "trailer": c.k_trailer,
             "snapshot-cut": c.k_snapshot_cut, "journal-cut": c.k_journal_cut, "files": c.k_files,
             "tails": c.k_tails, "semantic": c.k_semantic, "random": c.k_random}
    if a.kind not in kinds:
        die("unknown kind %s" % a.kind)
    if a.kind in ("headers", "trailer", "random"):
        c.recover_every = 4  # many alike: recover a sample
    t = time.monotonic()
    kinds[a.kind]()
    print("%d cases in %.1f s: %d refused (%d of them recovered), %d started cutting a torn tail, %d started whole; "
          "%d failed" % (c.n, time.monotonic() - t, c.refused, c.recovered, c.cut, c.clean, len(c.failures)))
    if c.failures:
        print("\nbase store:\n" + layout(a.base))
        for f in c.failures:
            print("\nFAILED " + f)
        sys.exit(1)
    shutil.rmtree(c.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--data", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--max-seconds", type=int, default=40)
    c = sub.add_parser("campaign")
    for k in ("kind", "base", "state", "work", "porrio", "hitos"):
        c.add_argument("--" + k, required=True)
    c.add_argument("--foreign")
    c.add_argument("--seed", type=int)
    c.add_argument("--count", type=int, default=40)
    c.add_argument("--max-seconds", type=int, default=40)
    c.add_argument("--no-recover", action="store_true", help="skip store recover on refused copies")
    lo = sub.add_parser("layout")
    lo.add_argument("--base", required=True)
    rc = sub.add_parser("records")
    rc.add_argument("file")
    a = ap.parse_args()
    if a.cmd == "build":
        build(a)
    elif a.cmd == "campaign":
        campaign(a)
    elif a.cmd == "records":
        with open(a.file) as f:
            b = f.buffer.read()
        end = len(b) - TRAILER_LEN if os.path.basename(a.file).startswith("snapshot-") else len(b)
        for off, ln in walk_frames(b, HEADER_LEN, end)[0]:
            print("%d %d 0x%02x" % (off, FRAME_LEN + ln, b[off + FRAME_LEN]))
    else:
        print(layout(a.base))


if __name__ == "__main__":
    main()
