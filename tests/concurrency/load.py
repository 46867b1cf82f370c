#!/usr/bin/env python3
"""A bounded concurrent load on one porrio, for the ThreadSanitizer run (README, "Sanitizers").

load.py URL THREADS ROUNDS [ETCD_URL PREFIX SINK_A SINK_B]

THREADS clients each run ROUNDS rounds of writes and reads (pools, bets, a result, a delete,
listings, metrics) and check every status. With ETCD_URL, one more thread changes live settings
under PREFIX through etcd's gateway meanwhile (LOG_LEVEL, CORS_ORIGINS, MAX_POOLS,
TRUSTED_PROXIES, and LOG_SINK between the collectors SINK_A and SINK_B). Prints one line of JSON
(the counts) and exits 1 naming the first unexpected answer."""
import base64, http.client, json, sys, threading, urllib.parse, urllib.request

url = urllib.parse.urlsplit(sys.argv[1])
threads, rounds = int(sys.argv[2]), int(sys.argv[3])
etcd = sys.argv[4:8] if len(sys.argv) >= 8 else None
errors, counts, lock = [], {"requests": 0, "reloads": 0}, threading.Lock()


def client(t):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    def call(method, path, body=None, want=(200,)):
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"} if body is not None else {})
        r = c.getresponse()
        data = r.read()
        with lock:
            counts["requests"] += 1
        if r.status not in want:
            raise AssertionError("%s %s: %d %r" % (method, path, r.status, data[:200]))
        return data

    try:
        call("PUT", "/porra/R%d/V/Liga/2024" % t)
        for i in range(rounds):
            pid = "L%dx%d-V-Liga-2024" % (t, i % 4)
            call("PUT", "/porra/L%dx%d/V/Liga/2024" % (t, i % 4))
            call("PUT", "/porras/%s/apuestas/q%d" % (pid, i), {"local": i % 10, "visitante": 1}, (200, 201))
            call("GET", "/porras/" + pid)
            call("GET", "/porras?limit=3")
            call("PUT", "/porras/R%d-V-Liga-2024/resultado" % t, {"local": i % 5, "visitante": 0})
            call("GET", "/porras/R%d-V-Liga-2024/ganadores" % t)
            call("PUT", "/porra/D%dx%d/V/Liga/2024" % (t, i))
            call("DELETE", "/porras/D%dx%d-V-Liga-2024" % (t, i), want=(204,))
            if i % 5 == 0:
                call("GET", "/metrics")
                call("GET", "/hitos")
        # every bet written is there: q<i> in pool i % 4
        for k in range(min(4, rounds)):
            bets = json.loads(call("GET", "/porras/L%dx%d-V-Liga-2024" % (t, k)))["apuestas"]
            want = {"q%d" % i for i in range(k, rounds, 4)}
            if set(bets) != want:
                raise AssertionError("pool L%dx%d holds bets %s, expected %s" % (t, k, sorted(bets), sorted(want)))
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        with lock:
            errors.append("client %d: %s" % (t, e))


def put(key, value):
    body = json.dumps({"key": base64.b64encode((etcd[1] + key).encode()).decode(),
                       "value": base64.b64encode(value.encode()).decode()}).encode()
    urllib.request.urlopen(urllib.request.Request(etcd[0] + "/v3/kv/put", body), timeout=10).read()


def reloader(stop):
    try:
        n = 0
        while not stop.is_set() and n < 200:
            put("LOG_LEVEL", "debug" if n % 2 else "info")
            put("CORS_ORIGINS", "" if n % 3 else "https://a.example")
            put("MAX_POOLS", str(100000 - n % 2))
            put("TRUSTED_PROXIES", "127.0.0.1" if n % 2 else "")
            put("LOG_SINK", "syslog+tcp://127.0.0.1:%s" % (etcd[2] if n % 2 else etcd[3]))
            n += 1
            with lock:
                counts["reloads"] += 1
            stop.wait(0.05)
    except Exception as e:  # noqa: BLE001
        with lock:
            errors.append("reloader: %s" % e)


stop = threading.Event()
workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
extra = threading.Thread(target=reloader, args=(stop,)) if etcd else None
for w in workers + ([extra] if extra else []):
    w.start()
for w in workers:
    w.join()
stop.set()
if extra:
    extra.join()
print(json.dumps(counts))
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
