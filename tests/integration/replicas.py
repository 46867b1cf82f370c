"""Writes spread over replicas, and the check that they all show them (README: Replicas), for
store_etcd.bats.

usage: replicas.py load OUT SECONDS THREADS PORT [PORT...]
       replicas.py check ACKED PORT [PORT...]

load: THREADS clients, each on its own pools, send for SECONDS (at most 20) one write after
another, each to the next replica in turn: a new pool, then bets on it by new bettors (each
bettor bets once, so an acknowledged bet has one possible value). Every write answered 2xx is
acknowledged and goes to OUT (JSON); any other status or a failed connection is counted, not
acknowledged (it may or may not have been made). Prints "acked N statuses {...} errors N".

check: GET /porras from every replica until all answers are byte-identical (at most 1 s), then
every acknowledged pool and bet must be in it. Prints "identical after N ms, pools N, bets N" or
what is wrong, exiting 1.
"""
import http.client
import json
import sys
import threading
import time


def request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def load(out, seconds, nthreads, ports):
    deadline = time.time() + min(seconds, 20.0)
    lock = threading.Lock()
    acked = {"pools": [], "bets": []}
    statuses, errors = {}, [0]

    def client(t):
        turn, pool, bettor = t, None, 0
        while time.time() < deadline:
            port = ports[turn % len(ports)]
            turn += 1
            if pool is None or bettor >= 5:
                seg = "l%d" % t, "v%d" % turn, "liga", "2024"
                method, path, body = "PUT", "/porra/%s/%s/%s/%s" % seg, None
                candidate = "-".join(seg)
            else:
                goals = {"local": turn % 7, "visitante": bettor % 5}
                method, path = "PUT", "/porras/%s/apuestas/q%d" % (pool, bettor)
                body = json.dumps(goals)
            try:
                status, _ = request(port, method, path, body)
            except OSError:
                with lock:
                    errors[0] += 1
                continue
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status // 100 == 2 and body is None:
                    acked["pools"].append(candidate)
                elif status // 100 == 2:
                    acked["bets"].append([pool, "q%d" % bettor, goals["local"], goals["visitante"]])
            if status // 100 == 2 and body is None:
                pool, bettor = candidate, 0
            elif status // 100 == 2:
                bettor += 1
            else:
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(nthreads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with open(out, "w") as f:
        json.dump(acked, f)
    print("acked %d statuses %s errors %d" % (len(acked["pools"]) + len(acked["bets"]), json.dumps(statuses), errors[0]))
    return 0


def check(ackfile, ports):
    with open(ackfile) as f:
        acked = json.load(f)
    start = time.time()
    while True:
        bodies = [request(p, "GET", "/porras")[1] for p in ports]
        if all(b == bodies[0] for b in bodies) or time.time() - start > 1.0:
            break
        time.sleep(0.02)
    waited = int((time.time() - start) * 1000)
    if not all(b == bodies[0] for b in bodies):
        print("not identical after %d ms: lengths %s" % (waited, [len(b) for b in bodies]))
        return 1
    pools = {p["ID"]: p for p in json.loads(bodies[0])}
    missing = [p for p in acked["pools"] if p not in pools]
    wrong = [b for b in acked["bets"]
             if b[0] not in pools or pools[b[0]]["apuestas"].get(b[1]) != {"local": b[2], "visitante": b[3]}]
    if missing or wrong:
        print("acknowledged but missing: pools %s bets %s" % (missing[:5], wrong[:5]))
        return 1
    print("identical after %d ms, pools %d, bets %d" % (waited, len(acked["pools"]), len(acked["bets"])))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "load":
        sys.exit(load(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), [int(p) for p in sys.argv[5:]]))
    sys.exit(check(sys.argv[2], [int(p) for p in sys.argv[3:]]))
