#!/usr/bin/env python3
"""The seeded attack client of hostile.bats (README: HTTP API, Logs, In production: every route attacked).

  hostile.py storm  --port P --seed S --requests N --threads T --max-body B
                    --index FILE --secret TEXT --state OUT.json --summary OUT.txt
  hostile.py verify --port P --state STATE.json
  hostile.py logs   --log STDOUT.log --state STATE.json

storm: N requests in total from T threads, each thread drawing from its own random.Random(seed, t)
over raw sockets to 127.0.0.1 (a timeout on every socket). Each thread owns the pools it creates
(a tag in one segment of their IDs), so it keeps an exact model of them and predicts the status of
every request it sends on them. Every complete answer is checked: a listed status, the JSON error
shape with the JSON content type, X-Request-Id, Allow on 405, what the model predicts; h2o's bare
"400 Bad Request" only for requests made malformed at the HTTP level on purpose. Writes the model
(what was acknowledged) and the request ids sent with their answers to --state, a summary to
--summary; exits 1 when any check failed, printing each kind of failure with the request bytes,
what was expected and what came.

verify: after the storm, every pool and milestone acknowledged reads back as acknowledged and
GET /porras lists exactly the pools the storm created.

logs: every answered request that carried one of our X-Request-Id values has exactly one
"request" log line with that id, its status and its method.
"""
import argparse
import calendar
import json
import random
import re
import socket
import sys
import threading
import time

ALLOWED = {200, 201, 204, 400, 404, 405, 409, 413}
JSON_TYPE = "application/json; charset=utf-8"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BARE_400 = b"Bad Request"
METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
TIMEOUT = 5.0
INT64 = (-(2**63), 2**63 - 1)

# (methods, template, handler): the README's HTTP API, as registered in internal/api/api.c
ROUTES = [
    ({"GET"}, "/", "status"),
    ({"GET"}, "/status", "status"),
    ({"GET"}, "/all", "all"),
    ({"GET"}, "/one/{id}", "one"),
    ({"PUT"}, "/porra/{local}/{visitante}/{competition}/{year}", "create"),
    ({"GET"}, "/porras", "list"),
    ({"GET", "POST"}, "/hitos", "hitos"),
    ({"GET"}, "/hitos/{id}", "hito"),
    ({"GET", "DELETE"}, "/porras/{ID}", "pool"),
    ({"PUT"}, "/porras/{ID}/apuestas/{quien}", "bet"),
    ({"PUT"}, "/porras/{ID}/resultado", "result"),
    ({"GET"}, "/porras/{ID}/ganadores", "winners"),
    ({"GET"}, "/health/live", "live"),
    ({"GET"}, "/health/ready", "ready"),
    ({"GET"}, "/metrics", "metrics"),
    ({"GET"}, "/openapi.json", "openapi"),
]
ROUTE_SEGS = [(m, [s for s in t.split("/")[1:] if s], h) for m, t, h in ROUTES]


# ---- HTTP over raw sockets -------------------------------------------------------------------

class NoAnswer(Exception):
    pass


class Resp:
    def __init__(self, status, reason, headers, body, head_raw):
        self.status, self.reason, self.headers, self.body, self.head_raw = status, reason, headers, body, head_raw

    def all(self, name):
        return [v for k, v in self.headers if k == name]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def show(self):
        return (self.head_raw + b"\r\n\r\n" + self.body[:400]).decode("utf-8", "backslashreplace")


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.s.settimeout(TIMEOUT)
        self.buf = b""

    def send(self, data):
        try:
            self.s.sendall(data)
            return None
        except OSError as e:  # the server may answer (413) and close before taking it all
            return e

    def fill(self):
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            raise NoAnswer("no answer within %.0f s" % TIMEOUT)
        except OSError as e:
            raise NoAnswer("connection error: %s" % e)
        if not chunk:
            raise NoAnswer("connection closed by the server" + (" mid-answer" if self.buf else ""))
        self.buf += chunk

    def read_response(self, head):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise NoAnswer("no end of headers in 1 MiB")
            self.fill()
        block, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = block.split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise NoAnswer("not an HTTP status line: %r" % lines[0][:200])
        status = int(m.group(1))
        headers = []
        for ln in lines[1:]:
            k, sep, v = ln.partition(b":")
            if not sep:
                raise NoAnswer("malformed answer header %r" % ln[:200])
            headers.append((k.decode("latin-1").strip().lower(), v.decode("latin-1").strip()))
        r = Resp(status, m.group(2), headers, b"", block)
        if 100 <= status < 200 or head or status in (204, 304):
            return r
        te = r.get("transfer-encoding")
        cl = r.get("content-length")
        if te is not None and "chunked" in te.lower():
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self.fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                n = int(size_line.split(b";")[0], 16)
                while len(self.buf) < n + 2:
                    self.fill()
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    break
            r.body = body
        elif cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                self.fill()
            r.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            try:
                while True:
                    self.fill()
            except NoAnswer:
                pass
            r.body, self.buf = self.buf, b""
        return r

    def drain_after(self, wait=TIMEOUT):
        """Half-closes and reads until the server closes: what came after the last answer."""
        extra = self.buf
        try:
            self.s.shutdown(socket.SHUT_WR)
            self.s.settimeout(wait)
            while True:
                c = self.s.recv(65536)
                if not c:
                    break
                extra += c
        except OSError:
            pass
        self.close()
        return extra

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---- what the service must accept: README, HTTP API -----------------------------------------------------

def pct_decode(raw):
    """bytes of a path segment decoded, or None for bad %-encoding or an encoded NUL."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:
            h = raw[i + 1:i + 3]
            if len(h) < 2 or not re.fullmatch(rb"[0-9A-Fa-f]{2}", h):
                return None
            c = int(h, 16)
            if c == 0:
                return None
            i += 3
        else:
            i += 1
        out.append(c)
    return bytes(out)


def seg_ok(b, dash):
    """README, HTTP API: 1-64 characters, ASCII letters/digits, '_', '.', valid non-ASCII UTF-8, not only
    dots; '-' only in {quien}."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not 1 <= len(s) <= 64:
        return False
    for ch in s:
        if ord(ch) >= 0x80 or ch.isascii() and ch.isalnum() or ch in "_." or dash and ch == "-":
            continue
        return False
    return set(s) != {"."}


INVALID = object()


def strict_json(b):
    """The JSON text b parsed as jansson (JSON_REJECT_DUPLICATES) would, or INVALID."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID

    def pairs(ps):
        keys = [k for k, _ in ps]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(ps)

    def no_const(x):
        raise ValueError(x)

    try:
        v = json.loads(s, object_pairs_hook=pairs, parse_constant=no_const)
    except (ValueError, RecursionError):
        return INVALID
    if not isinstance(v, (dict, list)):
        return INVALID  # jansson decodes only an object or array at the top

    def ok(x, depth=0):
        if depth > 2048:
            return False
        if isinstance(x, str):
            try:
                x.encode("utf-8")  # a lone surrogate escape: jansson refuses it
            except UnicodeEncodeError:
                return False
            return "\x00" not in x  # \u0000 without JSON_ALLOW_NUL: refused
        if isinstance(x, bool) or x is None:
            return True
        if isinstance(x, int):
            return INT64[0] <= x <= INT64[1]
        if isinstance(x, float):
            return x == x and abs(x) != float("inf")
        if isinstance(x, list):
            return all(ok(e, depth + 1) for e in x)
        return all(ok(k, depth + 1) and ok(e, depth + 1) for k, e in x.items())

    try:
        return v if ok(v) else INVALID
    except RecursionError:
        return INVALID


def score_of(body):
    """(local, visitante) when body is a valid score, else None."""
    v = strict_json(body)
    if not isinstance(v, dict) or set(v) != {"local", "visitante"}:
        return None
    l, w = v["local"], v["visitante"]
    if any(type(x) is not int or not 0 <= x <= 99 for x in (l, w)):
        return None
    return l, w


def fecha_ok(s):
    m = re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", s)
    if not m:
        return False
    d, mo, y = map(int, m.groups())
    if y < 1 or not 1 <= mo <= 12 or d < 1:
        return False
    return d <= calendar.monthrange(y, mo)[1]


def hito_of(body):
    """The milestone when body is a valid POST /hitos body, else None."""
    v = strict_json(body)
    if not isinstance(v, dict) or set(v) != {"file", "title", "fecha"}:
        return None
    for k in ("file", "title"):
        x = v[k]
        if not isinstance(x, str) or not x or "\x00" in x or len(x.encode()) > 256:
            return None
    if not isinstance(v["fecha"], str) or not fecha_ok(v["fecha"]):
        return None
    return v


def allow_string(methods):
    ms = set(methods) | ({"HEAD"} if "GET" in methods else set()) | {"OPTIONS"}
    return ", ".join(m for m in METHOD_ORDER if m in ms)


def match(method, target):
    """How the router must see a request target:
    ("found", handler, params) | ("badpath",) | ("405", allow) | ("options",) | ("nf", has_nul) | ("other",)."""
    if not target.startswith(b"/"):
        return ("other",)
    path = target.split(b"?", 1)[0]
    if len(path) > 1 and path.endswith(b"/") and not path.endswith(b"//"):
        path = path[:-1]
    segs = path[1:].split(b"/") if path != b"/" else []
    hit = None
    if b"" not in segs:
        for methods, tsegs, handler in ROUTE_SEGS:
            if len(tsegs) == len(segs) and all(t.startswith("{") or t.encode() == s for t, s in zip(tsegs, segs)):
                hit = (methods, tsegs, handler)
    if hit is None:
        return ("nf", b"%00" in path)
    methods, tsegs, handler = hit
    params = {}
    for t, s in zip(tsegs, segs):
        if t.startswith("{"):
            d = pct_decode(s)
            if d is None:
                return ("badpath",)
            params[t[1:-1]] = d
    if method == "OPTIONS":
        return ("options",)
    if method not in methods and not (method == "HEAD" and "GET" in methods):
        return ("405", allow_string(methods))
    return ("found", handler, params)


# ---- shared state ------------------------------------------------------------------------------

class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.files = set()          # milestone files known to exist
        self.files0 = frozenset()   # those before the storm
        self.hitos0 = 0             # milestones before the storm
        self.acked_hitos = {}       # index -> milestone (POST /hitos answered 201)
        self.other_pools = {}       # pools created through random paths (no owner): ID -> pool
        self.failures = []
        self.counts = {}
        self.rids = {}              # our X-Request-Id -> [status, method, uri]
        self.dead = None            # why the server is taken for dead: the storm stops
        self.last = {}              # thread -> its last requests (raw), the suspects when it dies

    def died(self, why):
        with self.lock:
            if self.dead is None:
                self.dead = why

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, check, req, msg, resp=None):
        with self.lock:
            self.failures.append({"check": check, "kind": req.kind if req else "-", "msg": msg,
                                  "request": show_bytes(getattr(req, "raw", b"")) if req else "",
                                  "answer": resp.show() if resp is not None else ""})


def show_bytes(b, n=600):
    s = repr(b[:n])[2:-1]
    return s + ("... (%d bytes in all)" % len(b) if len(b) > n else "")


# ---- requests ----------------------------------------------------------------------------------

class Req:
    """One request. predict(thread) -> set of statuses it may get (None: any listed one), called
    when its answer arrives (the thread's model is then as the server had it); on_answer(thread,
    resp) -> checks the body and updates the model."""

    def __init__(self, kind, method, target, body=None, framing="cl", headers=(), version=b"HTTP/1.1",
                 malformed=False, expect100=False, rid=None, ua=None, close=False):
        self.kind, self.method, self.target, self.body = kind, method, target, body
        self.framing, self.malformed, self.expect100 = framing, malformed, expect100
        self.rid, self.ua, self.version = rid, ua, version
        self.predict = None
        self.on_answer = None
        self.close_after = close or version == b"HTTP/1.0"
        self.standalone = malformed
        self.raw_override = None
        self.extra_headers = list(headers)
        self.static = False
        self.smuggle = False

    def build(self, rng):
        if self.raw_override is not None:
            self.raw, self.head_bytes, self.body_bytes = self.raw_override, self.raw_override, b""
            return
        h = [b"%s %s %s" % (self.method.encode("latin-1"), self.target, self.version)]
        if rng.random() < 0.9:
            h.append(b"Host: 127.0.0.1")
        if self.rid is not None:
            h.append(b"X-Request-Id: " + self.rid)
        if self.ua is not None:
            h.append(b"User-Agent: " + self.ua)
        h += self.extra_headers
        body = b""
        if self.body is not None:
            if self.framing == "cl":
                h.append(b"Content-Length: %d" % len(self.body))
                body = self.body
            elif self.framing == "chunked":
                h.append(b"Transfer-Encoding: chunked")
                body = chunked(self.body, rng)
            if rng.random() < 0.7:
                h.append(b"Content-Type: application/json")
        if self.expect100:
            h.append(b"Expect: 100-continue")
        if self.close_after and self.version == b"HTTP/1.1":
            h.append(b"Connection: close")
        self.head_bytes = b"\r\n".join(h) + b"\r\n\r\n"
        self.body_bytes = body
        self.raw = self.head_bytes + body


def chunked(body, rng):
    out, i = [], 0
    while i < len(body):
        n = rng.randint(1, max(1, min(len(body) - i, rng.choice([7, 100, 1500, 5000]))))
        size = b"%x" % n if rng.random() < 0.5 else (b"%X" % n)
        ext = b";ext=1" if rng.random() < 0.1 else b""
        out.append(size + ext + b"\r\n" + body[i:i + n] + b"\r\n")
        i += n
    out.append(b"0\r\n" + (b"X-Trailer: 1\r\n" if rng.random() < 0.1 else b"") + b"\r\n")
    return b"".join(out)


def enc(b, rng, mode=None):
    """Percent-encodes bytes: every byte, or only what is not unreserved (raw non-ASCII bytes
    sometimes left raw)."""
    mode = mode or rng.choice(["all", "min", "min", "raw8"])
    out = []
    for c in b:
        ch = bytes([c])
        if mode == "all":
            out.append((b"%%%02X" if rng.random() < 0.5 else b"%%%02x") % c)
        elif re.fullmatch(rb"[A-Za-z0-9._~]", ch) or mode == "raw8" and c >= 0x80:
            out.append(ch)
        else:
            out.append(b"%%%02X" % c)
    return b"".join(out)


NAMES = ["Betis", "Sevilla", "Liga", "Copa", "2024", "2013", "x", "a.b", "_", "a_b", "équipo",
         "Ñandú", "東京", "𝔘𝔫𝔦", "naïve", "Z9", ".a", "a.", "0042", "\ufeffbom", "\uffff"]
QUIENES = ["ana", "jj-merelo", "pepe", "x", "Ñ", "user_1", "a.b", "-", "--x", "日本", "😀"]

# attack segments: raw path text (None: decoded from random bytes at generation time)
ATTACK_SEGS = [b"..", b".", b"...", b"%2e%2e", b"%2E", b"a-b", b"%2D", b"-", b"%00", b"a%00b", b"%zz",
               b"%", b"%4", b"a%g1", b"%2F", b"a%2Fb", b"a" * 64, b"a" * 65, b"%C3%A9" * 32,
               b"%C3%A9" * 32 + b"a", b"%F0%9F%98%80" * 16, b"%F0%9F%98%80" * 16 + b"a", b"%C0%AF",
               b"%ED%A0%80", b"%F4%90%80%80", b"%EF%BB%BF", b"%EF%BF%BF", b"%C3", b"%80",
               b"%F5%80%80%80", b"\xc3\xa9", b"\xff", b"\xc3", b"a" * 4000, b"%20", b"a%20b", b"+", b"*",
               b"~", b"!", b"%41", b"%7E", b"'", b"%22", b"%5C", b"%0A", b"%0D%0A", b"%25", b"%2500",
               b"%C3%A9" * 33, b"1", b"-1", b"0", b"99999999999999999999", b"-99999999999999999999",
               b"+1", b"1.0", b"0x1", b"%31", b"%2D1", b"%201", b"9223372036854775807",
               b"9223372036854775808", b"-9223372036854775808", b"-0", b"00"]


def valid_json_variants(obj, rng):
    s = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.3:
        s = " \n\t" + s.replace(":", " : ").replace(",", " ,\r\n ") + " \n"
    return s.encode()


def score_body(rng, limit):
    """A hostile or valid body for a score (bet or result)."""
    l, w = rng.randint(0, 99), rng.randint(0, 99)
    k = rng.randrange(40)
    if k < 12:
        d = {"local": l, "visitante": w} if rng.random() < 0.5 else {"visitante": w, "local": l}
        return valid_json_variants(d, rng)
    if k < 14:  # valid, padded with spaces to just under / at / over the limit
        base = b'{"local": %d, "visitante": %d}' % (l, w)
        size = limit + rng.choice([-1, 0, 1])
        return base + b" " * (size - len(base))
    return rng.choice([
        lambda: rng.randbytes(rng.randint(1, 200)),
        lambda: (b'{"local": %d, "visitante": %d}' % (l, w))[: rng.randint(0, 25)],
        lambda: b"[" * rng.choice([1000, 3000, 4000, 10000]),
        lambda: b'{"a":' * 1000 + b"1" + b"}" * 1000,
        lambda: b'{"local": 1e400, "visitante": 1}',
        lambda: b'{"local": 99999999999999999999999, "visitante": 1}',
        lambda: b'{"local": -99999999999999999999999, "visitante": 1}',
        lambda: b'{"local": %d, "visitante": 1, "local": 2}' % l,
        lambda: b"null", lambda: b"true", lambda: b"1", lambda: b'"x"', lambda: b"[]", lambda: b"{}",
        lambda: b'{"local": "\\u0000", "visitante": 1}',
        lambda: b'{"local": 1, "visitante": 1, "\\u0000": 1}',
        lambda: b'{"local": 1, "visitante": 1, "a\\u0000b": 1}',
        lambda: b'{"local": 2.0, "visitante": 1}', lambda: b'{"local": 1e1, "visitante": 1}',
        lambda: b'{"local": -0, "visitante": 0}', lambda: b'{"local": true, "visitante": 1}',
        lambda: b'{"local": null, "visitante": 1}', lambda: b'{"local": 100, "visitante": 1}',
        lambda: b'{"local": -1, "visitante": 1}', lambda: b'{"local": "1", "visitante": 1}',
        lambda: b'{"local": 1}', lambda: b'{"visitante": 1}',
        lambda: b'{"local": 1, "visitante": 2, "extra": 3}',
        lambda: ('{"local": 1, "visitante": 2, "%s": 0}' % ("é" * rng.randint(100, 300))).encode(),
        lambda: ('{"local": 1, "visitante": 2, "%s": 0}' % ("😀" * rng.randint(50, 150))).encode(),
        lambda: b'{"local": 1, "visitante": 2, "\\ud800": 0}',
        lambda: b'\xef\xbb\xbf{"local": 1, "visitante": 2}',
        lambda: b'{"local": 1, "visitante": 2}garbage',
        lambda: b'{"local": 1, "visitante": 2}\x00',
        lambda: b'{"local": 1, "visitante": 2, "x": "\xff"}',
        lambda: b'{"local": 1, "visitante": 2, "x": "\xc0\xaf"}',
        lambda: b'{"local": 1, "visitante": 2, "x": "\xed\xa0\x80"}',
        lambda: b'{"local": NaN, "visitante": 1}',
        lambda: b'{"local": 1, "visitante": 2, "x": "' + b"\xc3\xa9" * 3000 + b'"}',
        lambda: b"{" + b" " * (limit + 100) + b"}",
        lambda: b"",
    ])()


def hito_body(rng, t, limit, shared, thread):
    """(body, note) for POST /hitos."""
    k = rng.randrange(30)
    fecha = "%d/%d/%04d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(1, 2999))
    fresh = "T%dh%d_%s.md" % (t, thread.serial(), rng.choice(["a", "é", "东", "😀"]))
    if k < 8:
        return valid_json_variants({"file": fresh, "title": rng.choice(["t", "título", "x" * 256]),
                                    "fecha": fecha}, rng), "new"
    if k < 11:  # an existing file: one this thread added, or one of the starting ones
        files = sorted(shared.files0 | thread.files)
        f = rng.choice(files) if files else fresh
        return valid_json_variants({"file": f, "title": "t", "fecha": fecha}, rng), "dup"
    if k < 13:  # a long non-ASCII name, then the same again (409 whose message quotes it)
        f = "T%dh%d" % (t, thread.serial())
        f += "é" * ((255 - len(f)) // 2)
        body = json.dumps({"file": f, "title": "t", "fecha": fecha}, ensure_ascii=False).encode()
        thread.pending.append(body)
        return body, "long"
    if k < 14 and thread.pending:
        return thread.pending.pop(0), "long-dup"
    dates = ["29/2/2024", "29/2/2023", "29/2/1900", "29/2/2000", "31/4/2024", "0/1/2020", "1/13/2020",
             "1/1/0000", "01/01/20", "1/1/20200", " 1/1/2020", "1/1/2020 ", "1-1-2020", "001/1/2020",
             "1/1/-200", "31/12/9999", "32/1/2020", "", "1//2020"]
    return rng.choice([
        lambda: valid_json_variants({"file": fresh, "title": "t", "fecha": rng.choice(dates)}, rng),
        lambda: valid_json_variants({"file": "x" * 257, "title": "t", "fecha": fecha}, rng),
        lambda: valid_json_variants({"file": fresh + "x" * (256 - len(fresh.encode())), "title": "t",
                                     "fecha": fecha}, rng),
        lambda: valid_json_variants({"file": "", "title": "t", "fecha": fecha}, rng),
        lambda: valid_json_variants({"file": fresh, "title": "", "fecha": fecha}, rng),
        lambda: valid_json_variants({"file": fresh, "title": "t"}, rng),
        lambda: valid_json_variants({"file": fresh, "title": "t", "fecha": fecha, "extra": 1}, rng),
        lambda: valid_json_variants({"file": 1, "title": "t", "fecha": fecha}, rng),
        lambda: valid_json_variants({"file": [fresh], "title": "t", "fecha": fecha}, rng),
        lambda: b'{"file": "a\\u0000b", "title": "t", "fecha": "1/1/2020"}',
        lambda: ('{"file": "%s", "title": "t", "fecha": "1/1/2020", "file": "y"}' % fresh).encode(),
        lambda: ('{"file": "%s", "title": "t", "fecha": "1/1/2020", "%s": 1}'
                 % (fresh, "é" * rng.randint(100, 300))).encode(),
        lambda: score_body(rng, limit),
        lambda: rng.randbytes(rng.randint(1, 300)),
        lambda: valid_json_variants({"file": fresh, "title": "t", "fecha": fecha}, rng)[:-rng.randint(1, 10)],
    ])(), "bad"


# ---- one attacking thread ----------------------------------------------------------------------

class Thread:
    def __init__(self, t, a, shared):
        self.t, self.a, self.shared = t, a, shared
        self.rng = random.Random("%d/%d" % (a.seed, t))
        self.pools = {}          # ID -> pool, exactly as the server must hold it
        self.deleted = []        # IDs of pools this thread deleted
        self.pending = []        # bodies to send again
        self.files = set()       # milestone files this thread added
        self._serial = 0
        self.conn = None
        self.holds = []
        self.sent = 0

    def serial(self):
        self._serial += 1
        return self._serial

    # -- building blocks

    def tag(self):
        return "T%dq%d" % (self.t, self.serial())

    def rid(self):
        r = self.rng.random()
        if r < 0.5:
            return b"hx-%d-%d" % (self.t, self.serial())
        if r < 0.6:
            return self.rng.choice([b"", b"x" * 129, b"bad id", b"a\xc3\xa9", b'"},{"level":"error"',
                                    b"a/b", b"\\u0000", b"x" * 128 + b"-"])
        return None

    def ua(self):
        if self.rng.random() < 0.7:
            return None
        return self.rng.choice([b'evil"agent', b"a\\b", b'", "status": 200, "x": "', b"\xff\xfe\xc3",
                                b"\xc3\xa9t\xc3\xa9", b"\t tab", b"{}" * 500, b"curl/8"])

    def own_id(self):
        ids = sorted(self.pools)
        return self.rng.choice(ids) if ids else None

    def req(self, kind, method, target, body=None, **kw):
        framing = kw.pop("framing", None)
        if framing is None:
            framing = "chunked" if body is not None and self.rng.random() < 0.2 else "cl"
        r = Req(kind, method, target, body, framing=framing, rid=self.rid(), ua=self.ua(), **kw)
        if body is not None and not r.expect100 and self.rng.random() < 0.08:
            r.expect100 = True
        if self.rng.random() < 0.03 and not r.expect100 and r.framing == "cl":
            r.version = b"HTTP/1.0"
            r.close_after = True
        self.oracle(r)
        return r

    def pool_segments(self, attack=None):
        segs = [self.rng.choice(NAMES).encode() for _ in range(4)]
        segs = [enc(s, self.rng) for s in segs]
        k_tag = self.rng.randrange(4)
        if attack is not None:
            k_att = self.rng.choice([k for k in range(4) if k != k_tag])
            segs[k_att] = attack
        segs[k_tag] = self.tag().encode()
        return segs

    def attack_seg(self):
        if self.rng.random() < 0.3:
            return enc(self.rng.randbytes(self.rng.randint(1, 80)), self.rng, "all")
        return self.rng.choice(ATTACK_SEGS)

    def id_target(self, own=True):
        """(raw ID segment) an own pool's ID, a deleted one, or garbage."""
        r = self.rng.random()
        if own and r < 0.65 and self.pools:
            return enc(self.own_id().encode(), self.rng)
        if r < 0.75 and self.deleted:
            return enc(self.rng.choice(self.deleted).encode(), self.rng)
        if r < 0.85 and self.pools:  # an own ID, altered
            i = self.own_id().encode()
            return enc(self.rng.choice([i + b"-x", i[:-1], i.upper(), b"-" + i, i + b"\x00"]), self.rng)
        return self.attack_seg()

    def method_for(self, methods):
        if self.rng.random() < 0.65:
            return self.rng.choice(sorted(methods))
        return self.rng.choice(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "FOO",
                                "BREW", "PROPFIND", "TRACE", "X" * 30])

    # -- generators

    def gen_route(self):
        """A registered route with a random method, its parameters legit or attacked."""
        methods, tmpl, handler = self.rng.choice(ROUTES)
        method = self.method_for(methods)
        att = self.rng.random() < 0.5
        if handler == "create":
            segs = self.pool_segments(self.attack_seg() if att else None)
            target = b"/porra/" + b"/".join(segs)
        elif handler in ("pool", "bet", "result", "winners"):
            idt = self.id_target(own=not att)
            target = b"/porras/" + idt
            if handler == "bet":
                q = self.attack_seg() if att and self.rng.random() < 0.5 else enc(
                    self.rng.choice(QUIENES).encode(), self.rng)
                target += b"/apuestas/" + q
            elif handler == "result":
                target += b"/resultado"
            elif handler == "winners":
                target += b"/ganadores"
        elif handler in ("one", "hito"):
            target = tmpl.split("{")[0].encode() + (self.attack_seg() if att else b"%d" % self.rng.randint(-2, 12))
        else:
            target = tmpl.encode()
        if att and self.rng.random() < 0.2:
            target += self.rng.choice([b"?", b"?a=1", b"?%zz", b"?x=%00", b"?" + b"q" * 2000, b"#f"])
        body = None
        if method in ("PUT", "POST", "PATCH") or self.rng.random() < 0.1:
            body = hito_body(self.rng, self.t, self.a.max_body, self.shared, self)[0] \
                if handler == "hitos" else score_body(self.rng, self.a.max_body)
        return [self.req("route", method, target, body)]

    def gen_flow(self):
        """What a client does with its pools and milestones, some of it wrong."""
        k = self.rng.randrange(20)
        if k < 4 or not self.pools:
            return [self.req("flow", "PUT", b"/porra/" + b"/".join(self.pool_segments()),
                             body=b'{"ignored": true}' if self.rng.random() < 0.1 else None)]
        i = enc(self.own_id().encode(), self.rng)
        if k < 10:
            q = enc(self.rng.choice(QUIENES).encode(), self.rng)
            return [self.req("flow", "PUT", b"/porras/" + i + b"/apuestas/" + q, score_body(self.rng, self.a.max_body))]
        if k < 12:
            return [self.req("flow", "PUT", b"/porras/" + i + b"/resultado", score_body(self.rng, self.a.max_body))]
        if k < 14:
            return [self.req("flow", self.rng.choice(["GET", "HEAD"]), b"/porras/" + i + b"/ganadores")]
        if k < 15:
            return [self.req("flow", "DELETE", b"/porras/" + i)]
        if k < 17:
            return [self.req("flow", self.rng.choice(["GET", "HEAD"]), b"/porras/" + i)]
        if k < 19:
            body, _ = hito_body(self.rng, self.t, self.a.max_body, self.shared, self)
            return [self.req("flow", "POST", b"/hitos", body)]
        return [self.req("flow", "GET", self.rng.choice([b"/porras", b"/hitos", b"/all", b"/metrics"]))]

    def gen_body(self):
        """Hostile bodies on the routes that read one, framed every way."""
        k = self.rng.randrange(3)
        framing = self.rng.choice(["cl", "cl", "chunked"])
        expect = self.rng.random() < 0.25
        if k == 0:
            body, _ = hito_body(self.rng, self.t, self.a.max_body, self.shared, self)
            target = b"/hitos"
            method = "POST"
        else:
            if not self.pools:
                return self.gen_flow()
            i = enc(self.own_id().encode(), self.rng)
            target = b"/porras/" + i + (b"/resultado" if k == 1 and self.rng.random() < 0.3 else
                                        b"/apuestas/" + enc(self.rng.choice(QUIENES).encode(), self.rng))
            body = score_body(self.rng, self.a.max_body)
            method = "PUT"
        if self.rng.random() < 0.15:  # a valid body just under, at or over the limit
            if k == 0:
                base = json.dumps({"file": "T%dlim%d" % (self.t, self.serial()), "title": "t",
                                   "fecha": "1/1/2020"}).encode()
            else:
                base = b'{"local": 1, "visitante": 2}'
            body = base + b" " * (self.a.max_body + self.rng.choice([-1, 0, 1]) - len(base))
        r = self.req("body", method, target, body, framing=framing, expect100=expect)
        return [r]

    def gen_path(self):
        """Random request targets."""
        rng = self.rng
        k = rng.randrange(12)
        if k == 0:
            target = b"/" + b"a" * rng.randint(7900, 8300)
        elif k == 1:
            target = b"/porras/" + b"%41" * rng.randint(2600, 2800)
        elif k == 2:
            target = rng.choice([b"/../secret.txt", b"/%2e%2e/secret.txt", b"/..%2fsecret.txt",
                                 b"/%2e%2e%2fsecret.txt", b"//../secret.txt", b"/index.html/../../secret.txt",
                                 b"/.%2e/secret.txt", b"/%252e%252e/secret.txt", b"/./../secret.txt",
                                 b"/index.html", b"/index.html/", b"/./index.html", b"/x/../index.html",
                                 b"/%69ndex.html", b"/index.html%00.txt", b"/index.html?x=1", b"/..",
                                 b"/.", b"/%2e", b"/%2f", b"//", b"///status", b"/status/", b"/status//",
                                 b"/porras/", b"/porras//", b"/hitos/", b"/%73tatus", b"/STATUS",
                                 b"/status%00", b"/status%zz", b"/status?%00", b"/health", b"/health/",
                                 b"/porra/a/b/c", b"/porra/a/b/c/d/e", b"/porras/x/apuestas",
                                 b"/porras/x/apuestas/y/z", b"/hitos/1/2", b"/one", b"/one/",
                                 b"/porras/x/resultado/", b"/porras/x/ganadores/"])
        elif k == 3:
            target = b"/" + enc(rng.randbytes(rng.randint(1, 40)), rng, "all")
        else:
            parts = []
            for _ in range(rng.randint(1, 40 if k == 4 else 6)):
                parts.append(rng.choice([
                    b"..", b".", b"", b"%00", b"%zz", b"%", b"porras", b"porra", b"hitos", b"one",
                    b"apuestas", b"resultado", b"ganadores", b"health", b"status",
                    enc(rng.randbytes(rng.randint(1, 12)), rng), b"\xc0\xaf", b"\x80", b"\xed\xa0\x80",
                    b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b"\xf0\x9d\x94\x98", b"x" * rng.randint(100, 2000),
                    b"T%dq" % self.t + b"%d" % rng.randint(0, 9)]))
            target = b"/" + b"/".join(parts)
        method = rng.choice(["GET", "GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "FOO"])
        body = score_body(rng, self.a.max_body) if method in ("PUT", "POST") else None
        return [self.req("path", method, target, body)]

    def gen_malformed(self):
        """Requests broken at the HTTP level on purpose: a 400, h2o's bare one allowed."""
        rng = self.rng
        H = b"Host: 127.0.0.1\r\n"
        good = b'{"local": 1, "visitante": 2}'
        i = enc(self.own_id().encode(), rng) if self.pools else b"nope"
        bet = b"/porras/" + i + b"/apuestas/smuggler"
        get = b"GET /status HTTP/1.1\r\n" + H  # a valid request line and Host: the headers break it
        put = b"PUT " + bet + b" HTTP/1.1\r\n" + H  # the same for a bet: the framing breaks it
        # every case is a 400 (h2o's bare one allowed); None: two Content-Length values, below
        cases = [line + b"\r\n" + H + b"\r\n" for line in [
            b"GET  /status HTTP/1.1", b"GET /status", b"GET /status HTTP/2.0", b"GET /status http/1.1",
            b"GET\t/status HTTP/1.1", b"GET /st atus HTTP/1.1", b"GET /sta\x7ftus HTTP/1.1",
            b"GET /st\x00atus HTTP/1.1"]]
        cases += [get + header + b"\r\n" for header in [
            b"Bad Header\r\n", b": empty\r\n", b"X A: b\r\n", b"X-A: a\x01b\r\n", b"X-A: \x00\r\n",
            b"".join(b"X-%d: y\r\n" % n for n in range(150)), b"X-Big: " + b"b" * 420000 + b"\r\n"]]
        cases += [b"\r\n\r\nGARBAGE\r\n\r\n",
                  rng.randbytes(rng.randint(10, 300)).replace(b"\r\n\r\n", b"") + b"\r\n\r\n"]
        cases += [put + b"Content-Length: " + n + b"\r\n\r\n" + good
                  for n in [b"abc", b"-1", b"+28", b"99999999999999999999999"]]
        cases += [put + b"Transfer-Encoding: " + te + b"\r\n\r\n" + body for te, body in [
            (b"gzip", good), (b"chunked, chunked", b"0\r\n\r\n"),
            (b"chunked", b"zz\r\n" + good + b"\r\n0\r\n\r\n"), (b"chunked", b"ffffffffffffffffff\r\n"),
            (b"chunked", b"5\r\n" + good + b"\r\n0\r\n\r\n")]]
        cases.append(None)
        k = rng.randrange(len(cases))
        if cases[k] is None:
            # two Content-Length values that differ: RFC 7230 3.3.3 says 400, and what follows
            # the first length must not be taken for a second request (smuggling). Should the bet
            # be taken all the same, the model follows what was acknowledged.
            r = self.req("malformed", "PUT", bet, good)
            r.raw_override = (put + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(good), len(good) + 36)
                              + good + b"GET /status HTTP/1.1\r\nHost: y\r\n\r\n")
            r.malformed = r.standalone = r.smuggle = True
            r.expect100, r.rid, r.version = False, None, b"HTTP/1.1"
            route = r.predict

            def predict(th):
                route(th)  # sets what check_found needs to follow an acknowledged bet
                return {400}
            r.predict = predict
            return [r]
        raw = cases[k]
        r = Req("malformed", "?", b"", malformed=True)
        r.raw_override = raw
        r.predict = lambda th: {400}
        r.on_answer = lambda th, resp: None
        m = re.match(rb"([A-Z]+) (\S+) HTTP", raw)
        r.method = m.group(1).decode() if m else "?"
        return [r]

    def gen_slow(self):
        """Slowloris: partial requests closed early, a complete one dribbled, one held open."""
        rng = self.rng
        k = rng.randrange(4)
        if k == 0 and len(self.holds) < 3:
            try:
                c = self.connect()
                c.send(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                self.holds.append(c)
            except OSError as e:
                self.shared.fail("connect", None, "cannot connect for a held request: %s" % e)
            self.shared.count("slow: held open")
            return []
        r = self.gen_flow()[0]
        r.kind = "slow"
        r.expect100 = False
        r.build(rng)
        if k <= 1:  # dribbled, complete: must be answered as usual
            r.slow = "dribble"
            return [r]
        r.slow = "partial"
        return [r]

    def gen_pipeline(self):
        reqs = []
        for _ in range(self.rng.randint(2, 4)):
            r = self.rng.choice([self.gen_flow, self.gen_route])()[0]
            if r.framing == "chunked" and r.body is not None or r.body and len(r.body) > self.a.max_body:
                r.framing, r.body = "cl", b'{"local": 1, "visitante": 1}'
                self.oracle(r)
            r.expect100 = False
            r.kind = "pipeline"
            r.version, r.close_after = b"HTTP/1.1", False
            reqs.append(r)
        for r in reqs:
            r.pipelined = True
        return reqs

    # -- the oracle

    def oracle(self, r):
        a = self.a
        method = r.method
        target = r.target
        body = r.body
        body_len = len(body) if body is not None else 0
        too_big = body_len > a.max_body

        def predict(th):
            if too_big:
                return {413}
            m = match(method, target)
            if m[0] == "other":
                return None
            if m[0] == "nf":
                if m[1]:
                    return {400, 404}
                if method in ("GET", "HEAD"):
                    r.static = True
                    return {200, 404}
                return {404}
            if m[0] == "badpath":
                return {400}
            if m[0] == "405":
                r.allow = m[1]
                return {405}
            if m[0] == "options":
                return {204}
            r.handler, r.params = m[1], m[2]
            return th.expect_found(r)

        r.predict = predict
        r.on_answer = lambda th, resp: th.check_found(r, resp)

    def pool_of(self, idb):
        try:
            i = idb.decode("utf-8")
        except UnicodeDecodeError:
            return None, None
        if i in self.pools:
            return i, self.pools[i]
        with self.shared.lock:
            if i in self.shared.other_pools:
                return i, self.shared.other_pools[i]
        return i, None

    def expect_found(self, r):
        h, p = r.handler, r.params
        if h in ("status", "all", "list", "hitos", "live", "ready", "metrics", "openapi"):
            if h == "hitos" and r.method == "POST":
                v = hito_of(r.body or b"")
                if v is None:
                    return {400}
                with self.shared.lock:
                    return {409} if v["file"] in self.shared.files else {201}
            return {200}
        if h in ("one", "hito"):
            s = p["id"]
            if not re.fullmatch(rb"0|[1-9][0-9]*", s):
                return {400}  # README: an index is written one way (no sign, no leading zeros)
            n = int(s)
            if n > INT64[1]:
                return {404}  # README: past the last milestone is 404, however large
            if n < self.shared.hitos0:
                return {200}
            return {200, 404}
        if h == "create":
            segs = [p[k] for k in ("local", "visitante", "competition", "year")]
            if not all(seg_ok(s, False) for s in segs):
                return {400}
            return {200}  # README: new or already there
        id_segs = p["ID"].split(b"-")
        if len(id_segs) != 4 or not all(seg_ok(s, False) for s in id_segs):
            return {400}  # README: a malformed pool ID, before anything else
        i, pool = self.pool_of(p["ID"])
        if h == "pool":
            if pool is None:
                return {404}
            return {200} if r.method in ("GET", "HEAD") else {204}
        if h == "winners":
            if pool is None:
                return {404}
            return {409} if pool["resultado"] is None else {200}
        if h == "bet" and not seg_ok(p["quien"], True):
            return {400}
        if pool is None:
            return {404}
        sc = score_of(r.body or b"")
        if sc is None:
            return {400}
        if h == "result":
            return {200}
        if pool["resultado"] is not None:
            return {409}
        return {200} if p["quien"].decode() in pool["apuestas"] else {201}

    def check_found(self, r, resp):
        """Checks a 2xx body and records what it acknowledged."""
        st = resp.status
        head = r.method == "HEAD"
        if getattr(r, "static", False):
            if st == 200 and not head and resp.body != self.a.index_bytes:
                self.shared.fail("static", r, "a 200 for a path no route takes is not index.html", resp)
            return
        h = getattr(r, "handler", None)
        if h is None or st >= 300:
            return
        ct = resp.get("content-type")
        if h == "metrics":
            if ct != METRICS_TYPE:
                self.shared.fail("content-type", r, "metrics Content-Type %r" % ct, resp)
            return
        p = getattr(r, "params", {})
        if h == "pool" and st == 204:
            i, pool = self.pool_of(p["ID"])
            if i in self.pools:
                del self.pools[i]
                self.deleted.append(i)
            elif i is not None:
                with self.shared.lock:
                    self.shared.other_pools.pop(i, None)
        if st == 204:
            return
        if ct != JSON_TYPE:
            self.shared.fail("content-type", r, "%d with Content-Type %r" % (st, ct), resp)
        if head:
            return
        try:
            body = json.loads(resp.body)
        except ValueError:
            self.shared.fail("json", r, "%d body is not JSON" % st, resp)
            return
        if h == "create":
            segs = [p[k].decode() for k in ("local", "visitante", "competition", "year")]
            i = "-".join(segs)
            new = {"ID": i, "local": segs[0], "visitante": segs[1], "competition": segs[2],
                   "year": segs[3], "apuestas": {}, "resultado": None}
            own = any(x.startswith("T%dq" % self.t) for x in segs)
            if own and i not in self.pools:
                if body != new:
                    self.shared.fail("body", r, "a new pool is not %s" % json.dumps(new, ensure_ascii=False), resp)
                self.pools[i] = new
            elif own and body != self.pools.get(i):
                self.shared.fail("body", r, "200 (existing pool) differs from the model %s"
                                 % json.dumps(self.pools.get(i), ensure_ascii=False), resp)
            elif not own and body == new:
                with self.shared.lock:
                    self.shared.other_pools.setdefault(i, new)
            if resp.get("location") is None:
                self.shared.fail("location", r, "PUT /porra without Location", resp)
        elif h == "pool" and st == 200:
            i, pool = self.pool_of(p["ID"])
            if body != pool:
                self.shared.fail("body", r, "pool differs from the model %s" % json.dumps(pool, ensure_ascii=False), resp)
        elif h == "bet":
            i, pool = self.pool_of(p["ID"])
            l, w = score_of(r.body or b"") or (None, None)
            q = p["quien"].decode()
            want = {"ID": i, "quien": q, "local": l, "visitante": w}
            if body != want:
                self.shared.fail("body", r, "bet answer is not %s" % json.dumps(want, ensure_ascii=False), resp)
            if pool is not None:
                pool["apuestas"][q] = {"local": l, "visitante": w}
        elif h == "result":
            i, pool = self.pool_of(p["ID"])
            l, w = score_of(r.body or b"") or (None, None)
            if pool is not None:
                pool["resultado"] = "%d-%d" % (l, w)
            if body != pool:
                self.shared.fail("body", r, "result answer differs from the model %s"
                                 % json.dumps(pool, ensure_ascii=False), resp)
        elif h == "winners":
            i, pool = self.pool_of(p["ID"])
            if pool is not None:
                res = pool["resultado"]
                want = sorted(q for q, b in pool["apuestas"].items() if "%d-%d" % (b["local"], b["visitante"]) == res)
                if not isinstance(body, dict) or body.get("resultado") != res or \
                        not isinstance(body.get("ganadores"), list) or sorted(body["ganadores"]) != want:
                    self.shared.fail("body", r, "winners are not %s of %s" % (want, res), resp)
        elif h == "hitos" and r.method == "POST" and st == 201:
            v = hito_of(r.body)
            loc = resp.get("location") or ""
            m = re.fullmatch(r"/hitos/([0-9]+)", loc)
            if body != v or not m:
                self.shared.fail("body", r, "201 milestone is not %s with Location /hitos/N (Location %r)"
                                 % (json.dumps(v, ensure_ascii=False), loc), resp)
            if v is not None:
                self.files.add(v["file"])
            with self.shared.lock:
                if v is not None:
                    self.shared.files.add(v["file"])
                if m and v is not None:
                    self.shared.acked_hitos[int(m.group(1))] = v
        elif h in ("one", "hito") and st == 200:
            try:
                n = int(p["id"])
            except ValueError:
                n = None
            with self.shared.lock:
                want = self.shared.acked_hitos.get(n)
            if want is not None and (body.get("hito") if h == "one" else body) != want:
                self.shared.fail("body", r, "milestone %d is not the acknowledged %s" % (n, want), resp)
        elif h in ("status",) and not (isinstance(body, dict) and body.get("status") == "OK"):
            self.shared.fail("body", r, 'GET / or /status is not {"status": "OK", ...}', resp)
        elif h == "list" and not isinstance(body, list):
            self.shared.fail("body", r, "GET /porras is not an array", resp)
        elif h == "ready" and not isinstance(body, dict):
            self.shared.fail("body", r, "/health/ready is not an object", resp)

    # -- checks common to every answer

    def check(self, r, resp):
        sh = self.shared
        st = resp.status
        sh.count("status %d" % st)
        if self.a.secret.encode() in resp.body or self.a.secret.encode() in resp.head_raw:
            sh.fail("secret", r, "the answer holds the file outside STATIC_DIR", resp)
        rids = resp.all("x-request-id")
        bare = (st == 400 and not rids and resp.body == BARE_400 and
                (resp.get("content-type") or "").startswith("text/plain"))
        if bare:
            sh.count("bare parser 400")
            if not r.malformed:
                sh.fail("bare-400", r, "h2o's bare 400 for a request not malformed at the HTTP level", resp)
        else:
            if st not in ALLOWED:
                sh.fail("status", r, "status %d is not one of %s" % (st, sorted(ALLOWED)), resp)
            if len(rids) != 1 or not RID_RE.match(rids[0]):
                sh.fail("request-id", r, "X-Request-Id must be there once, 1-128 of [A-Za-z0-9._:-]: %r" % rids, resp)
            elif r.rid is not None and RID_RE.match(r.rid.decode("latin-1")) and rids[0] != r.rid.decode():
                sh.fail("request-id", r, "the client's valid X-Request-Id %r was not kept: %r" % (r.rid, rids[0]), resp)
            elif r.rid is not None and RID_RE.match(r.rid.decode("latin-1")):
                with sh.lock:
                    sh.rids[r.rid.decode()] = [st, r.method, r.target.decode("latin-1")]
            if st >= 300:
                self.check_error(r, resp)
            if st == 405:
                allow = resp.get("allow")
                want = getattr(r, "allow", None)
                if allow is None or want is not None and allow != want:
                    sh.fail("allow", r, "405 Allow %r, expected %r" % (allow, want), resp)
        if st == 204 and resp.body:
            sh.fail("204", r, "204 with a body", resp)
        if r.method == "HEAD" and st != 204 and not bare and resp.get("content-length") is None:
            sh.fail("head", r, "HEAD answer without Content-Length", resp)
        try:
            want = r.predict(self)
        except Exception as e:  # a bug of this script: shown, not hidden
            sh.fail("oracle", r, "oracle error %r" % e, resp)
            want = None
        if want is not None and st not in want:
            note = ""
            if r.framing == "chunked" and r.body is not None and len(r.body) == self.a.max_body:
                note = "; a chunked body of exactly MAX_BODY_BYTES"
            elif r.smuggle:
                note = "; two different Content-Length headers"
            sh.fail("expected-status", r, "status %d, expected %s (%s%s)" % (
                st, " or ".join(map(str, sorted(want))),
                "route " + r.handler if getattr(r, "handler", None) else "no route", note), resp)
        if 200 <= st < 300:
            r.on_answer(self, resp)

    def check_error(self, r, resp):
        sh = self.shared
        st = resp.status
        ct = resp.get("content-type")
        if ct != JSON_TYPE:
            sh.fail("error-shape", r, "%d with Content-Type %r" % (st, ct), resp)
        if r.method == "HEAD":
            return
        try:
            body = json.loads(resp.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            sh.fail("error-shape", r, "%d body is not JSON" % st, resp)
            return
        if not isinstance(body, dict) or set(body) != {"error", "status"}:
            sh.fail("error-shape", r, '%d body is not {"error", "status"}' % st, resp)
        elif not isinstance(body["error"], str) or not body["error"].strip():
            sh.fail("error-shape", r, "%d error is not a non-empty string" % st, resp)
        elif type(body["status"]) is not int or body["status"] != st:
            sh.fail("error-shape", r, "HTTP status %d but the body says status %r (error %r)"
                    % (st, body["status"], body["error"]), resp)

    # -- sending

    def connect(self):
        try:
            return Conn(self.a.port)
        except ConnectionRefusedError:
            self.shared.died("connection refused: nothing listens on the port any more")
            raise

    def get_conn(self, fresh):
        if self.conn is not None and fresh:
            self.finish_conn()
        if self.conn is None:
            self.conn = self.connect()
        return self.conn

    def finish_conn(self, r=None):
        """Ends the connection, checking that nothing came after the last answer."""
        if self.conn is None:
            return
        extra = self.conn.drain_after(1.0)
        self.conn = None
        if extra:
            self.shared.fail("stray-bytes", r, "bytes after the last answer on a connection: %r" % extra[:300])

    def trace(self, r):
        with self.shared.lock:
            self.shared.last.setdefault(self.t, []).append(getattr(r, "raw", b""))
            del self.shared.last[self.t][:-3]
        if self.a.trace:
            with self.shared.lock:
                with open(self.a.trace, "ab") as f:
                    f.write(b"=== thread %d request %d kind %s\n%r\n" % (self.t, self.sent, r.kind.encode(), r.raw))

    def run_one(self, r):
        sh = self.shared
        self.trace(r)
        self.sent += 1
        sh.count("kind " + r.kind)
        slow = getattr(r, "slow", None)
        if slow == "partial":
            try:
                c = self.connect()
                cut = self.rng.randint(1, max(1, len(r.raw) - 1))
                c.send(r.raw[:cut])
                time.sleep(self.rng.uniform(0.005, 0.05))
                c.s.settimeout(0.05)
                try:
                    got = c.s.recv(65536)
                except OSError:
                    got = b""
                c.close()
                # with the headers complete, an error may come before the body (413 on its length)
                if got and (cut < len(r.head_bytes) or not re.match(rb"HTTP/1\.1 (413|400) ", got)):
                    sh.fail("partial", r, "an answer to an incomplete request (%d of %d bytes sent): %r"
                            % (cut, len(r.raw), got[:300]))
            except OSError as e:
                sh.fail("connect", r, "cannot connect: %s" % e)
            sh.count("no answer expected (partial, closed early)")
            return
        fresh = r.standalone or slow or r.expect100 or self.rng.random() < 0.3
        try:
            c = self.get_conn(fresh)
        except OSError as e:
            sh.fail("connect", r, "cannot connect: %s" % e)
            return
        try:
            if slow == "dribble":
                pieces = sorted(self.rng.sample(range(1, len(r.raw)), min(6, len(r.raw) - 1)))
                prev = 0
                for cut in pieces + [len(r.raw)]:
                    c.send(r.raw[prev:cut])
                    prev = cut
                    time.sleep(self.rng.uniform(0.002, 0.02))
                resp = c.read_response(r.method == "HEAD")
            elif r.expect100:
                c.send(r.head_bytes)
                resp = c.read_response(r.method == "HEAD")
                if resp.status == 100:
                    sh.count("100 continue")
                    c.send(r.body_bytes)
                    resp = c.read_response(r.method == "HEAD")
                else:
                    r.close_after = True  # the body was not sent: the connection is done
            else:
                err = c.send(r.raw)
                resp = c.read_response(r.method == "HEAD")
                if err is not None:
                    sh.count("send cut short by the server")
            while 100 <= resp.status < 200:
                resp = c.read_response(r.method == "HEAD")
        except NoAnswer as e:
            sh.fail("no-answer", r, str(e))
            sh.count("no answer")
            self.conn.close()
            self.conn = None
            return
        self.check(r, resp)
        if r.smuggle:
            extra = c.drain_after(1.0)
            self.conn = None
            if extra:
                sh.fail("smuggling", r, "a second answer to one request (what followed the first Content-Length "
                        "was taken for a request): %r" % extra[:300], resp)
            return
        closing = (resp.get("connection") or "").lower() == "close" or r.close_after or r.standalone
        if closing:
            self.finish_conn(r)

    def run_pipeline(self, reqs):
        sh = self.shared
        try:
            c = self.get_conn(True)
        except OSError as e:
            sh.fail("connect", reqs[0], "cannot connect: %s" % e)
            return
        for r in reqs:
            r.build(self.rng)
            self.trace(r)
        c.send(b"".join(r.raw for r in reqs))
        for n, r in enumerate(reqs):
            self.sent += 1
            sh.count("kind pipeline")
            try:
                resp = c.read_response(r.method == "HEAD")
            except NoAnswer as e:
                sh.fail("no-answer", r, "pipelined request %d of %d: %s" % (n + 1, len(reqs), e))
                c.close()
                self.conn = None
                return
            self.check(r, resp)
            if (resp.get("connection") or "").lower() == "close":
                sh.fail("pipeline", r, "connection closed after pipelined request %d of %d" % (n + 1, len(reqs)), resp)
                break
        self.finish_conn(reqs[-1])

    def run(self):
        try:
            self.storm()
        except Exception as e:  # a bug of this script: reported, never hidden
            import traceback
            self.shared.fail("script", None, "thread %d: %s" % (self.t, traceback.format_exc()))

    def storm(self):
        gens = [(self.gen_route, 38), (self.gen_flow, 24), (self.gen_path, 12), (self.gen_body, 14),
                (self.gen_malformed, 6), (self.gen_slow, 3), (self.gen_pipeline, 3)]
        total = sum(w for _, w in gens)
        deadline = time.monotonic() + self.a.max_seconds
        while self.sent < self.a.per_thread and self.shared.dead is None:
            if time.monotonic() > deadline:
                self.shared.fail("time", None, "thread %d sent only %d requests in %d s"
                                 % (self.t, self.sent, self.a.max_seconds))
                break
            x = self.rng.randrange(total)
            for g, w in gens:
                if x < w:
                    break
                x -= w
            reqs = g()
            if not reqs:
                self.sent += 1
                continue
            if len(reqs) > 1:
                self.run_pipeline(reqs)
                continue
            r = reqs[0]
            if not hasattr(r, "raw"):
                r.build(self.rng)
            self.run_one(r)
        self.finish_conn()
        for c in self.holds:  # the held requests: never answered while incomplete
            c.s.settimeout(0.01)
            try:
                got = c.s.recv(65536)
            except OSError:
                got = b""
            if got and not got.startswith(b"HTTP/1.1 408"):
                self.shared.fail("held", None, "an answer to a held, incomplete request: %r" % got[:300])
            c.close()


# ---- commands ----------------------------------------------------------------------------------

def simple_get(port, path):
    c = Conn(port)
    c.send(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path)
    try:
        return c.read_response(False)
    finally:
        c.close()


def storm(a):
    sh = Shared()
    a.index_bytes = open(a.index, "rb").read()
    r = simple_get(a.port, b"/hitos")
    hitos = json.loads(r.body)
    sh.hitos0 = len(hitos)
    sh.files = {h["file"] for h in hitos}
    sh.files0 = frozenset(sh.files)
    a.per_thread = a.requests // a.threads
    threads = [Thread(t, a, sh) for t in range(a.threads)]
    started = time.monotonic()
    ths = [threading.Thread(target=th.run) for th in threads]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    took = time.monotonic() - started
    if sh.dead is None:
        try:
            simple_get(a.port, b"/health/live")
        except (OSError, NoAnswer) as e:
            sh.died("no answer to GET /health/live after the storm: %s" % e)
    pools = {}
    for th in threads:
        pools.update(th.pools)
    pools.update(sh.other_pools)
    sent = sum(th.sent for th in threads)
    json.dump({"pools": pools, "hitos": {str(k): v for k, v in sh.acked_hitos.items()},
               "hitos0": sh.hitos0, "rids": sh.rids}, open(a.state, "w"), ensure_ascii=False)

    statuses = sorted((k, v) for k, v in sh.counts.items() if k.startswith("status "))
    lines = ["storm: seed %d, %d requests from %d threads in %.1f s (WORKERS=2, MAX_BODY_BYTES=%d)"
             % (a.seed, sent, a.threads, took, a.max_body),
             "answers by status: " + ", ".join("%s=%d" % (k[7:], v) for k, v in statuses),
             "by kind: " + ", ".join("%s=%d" % (k[5:], v) for k, v in sorted(sh.counts.items()) if k.startswith("kind ")),
             "h2o's bare 400 (malformed at the HTTP level on purpose): %d; 100 Continue: %d; "
             "no answer expected (partial, closed early): %d; held open: %d"
             % (sh.counts.get("bare parser 400", 0), sh.counts.get("100 continue", 0),
                sh.counts.get("no answer expected (partial, closed early)", 0), sh.counts.get("slow: held open", 0)),
             "acknowledged: %d pools live (%d created through random paths), %d milestones; %d request ids to find in the log"
             % (len(pools), len(sh.other_pools), len(sh.acked_hitos), len(sh.rids)),
             "failures: %d" % len(sh.failures)]
    if sh.dead is not None:
        dead = ["THE SERVER DIED during the storm (%s); the last requests of each thread, oldest first:" % sh.dead]
        for t, raws in sorted(sh.last.items()):
            for raw in raws:
                head, sep, body = raw.partition(b"\r\n\r\n")
                dead.append("  thread %d: %s%s" % (t, show_bytes(head + sep, 240), " + body of %d bytes: %s"
                                                     % (len(body), show_bytes(body, 60)) if body else ""))
        lines[:0] = dead
    groups = {}
    for f in sh.failures:
        key = (f["check"], f["msg"][:60] if "status" in f["check"] else re.sub(r"\d+", "N", f["msg"])[:60])
        groups.setdefault(key, []).append(f)
    for (check, _), fs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        lines.append("  %d x [%s] %s" % (len(fs), check, fs[0]["msg"]))
    open(a.summary, "w").write("\n".join(lines) + "\n")
    if sh.dead is not None:
        print("THE SERVER DIED during the storm: %s (its last requests are in the summary above)" % sh.dead)
    # minimum coverage: a storm that did not reach these proves nothing
    need = {"status 201": 20, "status 200": 100, "status 400": 100, "status 404": 50, "status 405": 20,
            "status 409": 5, "status 413": 5, "status 204": 3, "bare parser 400": 5, "100 continue": 3,
            "kind malformed": 20, "kind slow": 5, "kind pipeline": 10}
    need = {k: max(1, n * a.requests // 2000) for k, n in need.items()}
    short = ["%s: %d < %d" % (k, sh.counts.get(k, 0), n) for k, n in need.items() if sh.counts.get(k, 0) < n]
    if sent < a.requests * 0.95:
        short.append("requests sent %d < %d" % (sent, a.requests * 0.95))
    if short:
        print("coverage too small: " + "; ".join(short))
    for (check, _), fs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print("\n=== %d x [%s] (kind %s) %s" % (len(fs), check, fs[0]["kind"], fs[0]["msg"]))
        for f in fs[:2]:
            print("--- request: %s" % f["request"])
            if f["answer"]:
                print("--- answer:  %s" % f["answer"])
    return 1 if sh.failures or short or sh.dead else 0


def verify(a):
    try:
        return verify_all(a)
    except (OSError, NoAnswer) as e:
        print("cannot read back from the server: %s" % e)
        return 1


def verify_all(a):
    st = json.load(open(a.state))
    bad = []
    for i, pool in sorted(st["pools"].items()):
        r = simple_get(a.port, b"/porras/" + "".join("%%%02X" % c for c in i.encode()).encode())
        got = json.loads(r.body) if r.status == 200 else r.body
        if r.status != 200 or got != pool:
            bad.append("GET /porras/%s: %d %r, acknowledged %s" % (i, r.status, got, json.dumps(pool, ensure_ascii=False)))
    r = simple_get(a.port, b"/porras")
    listed = json.loads(r.body) if r.status == 200 else []
    ids = sorted(p.get("ID") for p in listed if isinstance(p, dict))
    if r.status != 200 or ids != sorted(st["pools"]):
        extra = sorted(set(ids) - set(st["pools"]))
        missing = sorted(set(st["pools"]) - set(ids))
        bad.append("GET /porras (%d): %d pools; not listed: %s; listed, not acknowledged: %s"
                   % (r.status, len(ids), missing[:5], extra[:5]))
    for n, h in sorted(st["hitos"].items(), key=lambda kv: int(kv[0])):
        r = simple_get(a.port, b"/hitos/%d" % int(n))
        got = json.loads(r.body) if r.status == 200 else r.body
        if r.status != 200 or got != h:
            bad.append("GET /hitos/%s: %d %r, acknowledged %s" % (n, r.status, got, h))
    r = simple_get(a.port, b"/hitos")
    count = len(json.loads(r.body)) if r.status == 200 else -1
    if count != st["hitos0"] + len(st["hitos"]):
        bad.append("GET /hitos: %d milestones, expected %d before + %d acknowledged"
                   % (count, st["hitos0"], len(st["hitos"])))
    print("verified %d pools, %d milestones: %d problems" % (len(st["pools"]), len(st["hitos"]), len(bad)))
    for b in bad[:20]:
        print("  " + b)
    return 1 if bad else 0


# README, Logs: the fields of each request line
REQUEST_KEYS = ["time", "level", "msg", "remote_addr", "method", "uri", "status", "user-agent", "duration_ms",
                "bytes", "request_id"]


def logs(a):
    st = json.load(open(a.state))
    seen = {}
    for raw in open(a.log, "rb"):
        try:
            o = json.loads(raw)
        except ValueError:
            continue  # log_all_json reports those
        if isinstance(o, dict) and o.get("msg") == "request":
            seen.setdefault(o.get("request_id"), []).append(o)
    bad = []
    for rid, (status, method, uri) in sorted(st["rids"].items()):
        ls = seen.get(rid, [])
        if not ls:
            cut = [o for o in seen.get(None, []) if isinstance(o.get("uri"), str) and uri.startswith(o["uri"])
                   and o.get("method") == method]
            if cut:
                bad.append("request %s %s... (%d bytes of URI) -> %d: its log line has the uri cut to %d characters "
                           "and no %s" % (method, uri[:40], len(uri), status, len(cut[0]["uri"]),
                                          ", ".join(k for k in ("status", "user-agent", "duration_ms", "bytes",
                                                                "request_id") if k not in cut[0])))
            else:
                bad.append("request_id %s (%s %s -> %d): no log line" % (rid, method, uri[:80], status))
        elif len(ls) != 1:
            bad.append("request_id %s (%s %s -> %d): %d log lines" % (rid, method, uri[:80], status, len(ls)))
        else:
            o = ls[0]
            missing = [k for k in REQUEST_KEYS if k not in o]
            logged = o.get("uri")
            if missing:
                bad.append("request %s %s... (%d bytes of URI) -> %d: its log line lacks %s"
                           % (method, uri[:40], len(uri), status, ", ".join(missing)))
            elif o.get("status") != status or o.get("method") != method:
                bad.append("request_id %s: logged %s %s, answered %s %d" % (rid, o.get("method"), o.get("status"),
                                                                            method, status))
            elif uri.isascii() and logged != uri and not (
                    len(uri) > 4096 and isinstance(logged, str) and len(logged) > 1024 and uri.startswith(logged)):
                # a very long URI may be logged cut short (a bounded line), never altered
                bad.append("request_id %s: logged uri %r, sent %r" % (rid, str(logged)[:200], uri[:200]))
    print("%d request ids checked against %d request log lines: %d problems"
          % (len(st["rids"]), sum(len(v) for v in seen.values()), len(bad)))
    for b in bad[:20]:
        print("  " + b)
    return 1 if bad or not st["rids"] else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["storm", "verify", "logs"])
    p.add_argument("--port", type=int)
    p.add_argument("--seed", type=int, default=20240607)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--max-body", type=int, default=4096)
    p.add_argument("--max-seconds", type=int, default=25)
    p.add_argument("--index")
    p.add_argument("--secret", default="")
    p.add_argument("--state")
    p.add_argument("--summary")
    p.add_argument("--log")
    p.add_argument("--trace", help="appends every request to this file before it is sent")
    a = p.parse_args()
    sys.exit({"storm": storm, "verify": verify, "logs": logs}[a.cmd](a))


if __name__ == "__main__":
    main()
