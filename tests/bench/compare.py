"""compare.py - two actord binaries, BEFORE and AFTER, measured on the same
cases in one run, interleaved. Not a test: run it with
tests/bench/compare.sh BEFORE_BIN AFTER_BIN.

Cases, each `wrk -t1 -c128 -dDURATION` per round as in the benchmark the
figure comes from (start, load and CPU accounting are http_bench.py's own
functions):
  http_*     /plaintext and /json, plain and 16-deep pipelined: both
             binaries side by side with http_bench.py's configuration;
  storage_*  storage_bench.sh's wrk routes: both binaries side by side with
             tests/bench/storage_actord.json.in, on one throwaway Redis and
             MariaDB (tests/services.sh, state in .run/bench);
  idle       RSS per idle keep-alive connection (http_bench.py's
             idle_memory), a fresh server of each binary in turn.
Per case, each binary is warmed up, then ROUNDS rounds alternate which
binary goes first; the medians are compared. A case's rounds "overlap"
when neither binary's range of rounds lies wholly above the other's: the
difference is within this run's noise (no verdict with one round).

Prints a table, then as its very last line one JSON object.
Environment: BENCH_DURATION (s, 10), BENCH_ROUNDS (3), BENCH_WARMUP (s, 2),
BENCH_IDLE_CONNS (10000), BENCH_COMPARE (cases: "http,storage,idle"),
BENCH_REDIS_PORT / BENCH_MYSQL_PORT (27379 / 27306, as storage_bench.sh).
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
PARTS = os.environ.get("BENCH_COMPARE", "http,storage,idle").split(",")
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "27379"))
MYSQL_PORT = int(os.environ.get("BENCH_MYSQL_PORT", "27306"))
STORAGE_TEMPLATE = os.path.join(hb.ROOT, "tests", "bench", "storage_actord.json.in")
SERVICES = os.path.join(hb.ROOT, "tests", "services.sh")
SERVICES_ENV = dict(os.environ, ACTORD_RUN_DIR=os.path.join(hb.ROOT, ".run", "bench"),
                    ACTORD_REDIS_PORT=str(REDIS_PORT), ACTORD_MYSQL_PORT=str(MYSQL_PORT))

HTTP_CASES = [(f"http_{r}_{'pipelined' if p else 'plain'}", f"/{r}", p)
              for r in ("plaintext", "json") for p in (False, True)]
STORAGE_CASES = [(f"storage_{n}", path, False) for n, path in (
    ("db", "/db"), ("queries", "/queries?queries=20"), ("updates", "/updates?queries=5"),
    ("fortunes", "/fortunes"), ("cached", "/cached-queries?count=20"),
    ("wallpaper", "/client/v3/wallpaper_4d/wallpaperList.json"))]
SIDES = ("before", "after")


def storage_config(port, admin, tmp):
    with open(STORAGE_TEMPLATE) as f:
        text = f.read()
    for key, value in (("PORT", port), ("ADMIN_PORT", admin),
                       ("LOG_FILE", os.path.join(tmp, "actord.log")),
                       ("REDIS_PORT", REDIS_PORT), ("MYSQL_PORT", MYSQL_PORT)):
        text = text.replace(f"@{key}@", str(value))
    return json.loads(text)


def wait_ok(server, path, seconds=30):
    """Until the route answers 200 (the storage actors are connected)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}",
                                      timeout=2).status == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    sys.exit(f"compare: {server.name} on {server.port} does not answer {path}")


def measure(servers, cases, results):
    """Every case: warm each binary, then ROUNDS rounds, order alternating."""
    for name, path, pipelined in cases:
        for side in SIDES:
            hb.wrk(servers[side], path, pipelined, WARMUP)
        runs = {side: [] for side in SIDES}
        for r in range(ROUNDS):
            for side in (SIDES if r % 2 == 0 else SIDES[::-1]):
                runs[side].append(hb.wrk(servers[side], path, pipelined, hb.DURATION))
        results[name] = {"path": path, "pipelined": pipelined, "runs": runs}
        done = ["%s %s" % (side, "/".join("%.0f" % x["rps"] for x in runs[side]))
                for side in SIDES]
        print(f"compare: {name}: {'  '.join(done)} req/s", file=sys.stderr)


def stop_all(servers, results, cases):
    """Stop the servers; a binary with errors in these cases: say why, as its
    log said (stderr: the JSON stays the last line of stdout)."""
    for srv in servers.values():
        srv.stop()
    for side, srv in servers.items():
        if any(r["errors"] or r["non2xx"] for name, _, _ in cases if name in results
               for r in results[name]["runs"][side]):
            for line in srv.complaints[-10:]:
                print(f"{side}: {line}", file=sys.stderr)


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def run_http(bins, results):
    servers = {side: hb.start_actord(binary=bins[side]) for side in SIDES}
    try:
        for srv in servers.values():
            hb.check_bodies(srv)
        measure(servers, HTTP_CASES, results)
    finally:
        stop_all(servers, results, HTTP_CASES)


def run_storage(bins, results):
    # Never take someone else's Redis or MariaDB for ours (and stop it).
    for port in (REDIS_PORT, MYSQL_PORT):
        if port_in_use(port):
            sys.exit(f"compare: port {port} is in use (set BENCH_REDIS_PORT / BENCH_MYSQL_PORT)")
    servers = {}
    try:
        subprocess.run([SERVICES, "start"], env=SERVICES_ENV, check=True,
                       stdout=subprocess.DEVNULL)
        for side in SIDES:
            servers[side] = hb.start_actord(binary=bins[side], config=storage_config)
            wait_ok(servers[side], "/db")
        measure(servers, STORAGE_CASES, results)
    finally:
        stop_all(servers, results, STORAGE_CASES)
        subprocess.run([SERVICES, "stop"], env=SERVICES_ENV, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def run_idle(bins):
    idle = {}
    for side in SIDES:
        srv = hb.start_actord(binary=bins[side])
        try:
            idle[side] = round(hb.idle_memory(srv, hb.IDLE_CONNS)["bytes_per_conn"])
        finally:
            srv.stop()
    return idle


def summarise(name, res):
    out = {"path": res["path"]}
    for side in SIDES:
        runs = res["runs"][side]
        out[f"{side}_rps"] = round(statistics.median(r["rps"] for r in runs))
        out[f"{side}_rps_rounds"] = [round(r["rps"]) for r in runs]
        out[f"{side}_cpu_us_per_req"] = round(statistics.median(r["cpu_us_per_req"]
                                                                for r in runs), 3)
        out[f"{side}_errors"] = sum(r["errors"] + r["non2xx"] for r in runs)
    b, a = out["before_rps_rounds"], out["after_rps_rounds"]
    out["ratio"] = round(out["after_rps"] / out["before_rps"], 3) if out["before_rps"] else 0.0
    out["cpu_ratio"] = (round(out["after_cpu_us_per_req"] / out["before_cpu_us_per_req"], 3)
                        if out["before_cpu_us_per_req"] else 0.0)
    # One round each says nothing about the noise: no verdict.
    out["overlap"] = (min(a) <= max(b) and min(b) <= max(a)) if ROUNDS > 1 else None
    return out


def main():
    bins = dict(zip(SIDES, sys.argv[1:3]))
    load0 = open("/proc/loadavg").read().split()[:3]
    raw = {}
    if "http" in PARTS:
        run_http(bins, raw)
    if "storage" in PARTS:
        run_storage(bins, raw)
    idle = run_idle(bins) if "idle" in PARTS and hb.IDLE_CONNS > 0 else {}
    load1 = open("/proc/loadavg").read().split()[:3]

    cases = {name: summarise(name, res) for name, res in raw.items()}
    print(f"before: {bins['before']}\nafter:  {bins['after']}")
    print(f"wrk -t1 -c128 -d{hb.DURATION}s, {ROUNDS} rounds (order alternating), medians; "
          f"load average {' '.join(load0)} -> {' '.join(load1)}")
    print(f"{'case':<26} {'before r/s':>11} {'after r/s':>10} {'after/before':>13} "
          f"{'overlap':>8} {'cpu us/req b|a':>16} {'errors b|a':>11}")
    for name, c in cases.items():
        print(f"{name:<26} {c['before_rps']:>11} {c['after_rps']:>10} {c['ratio']:>12.3f}x "
              f"{ {True: 'yes', False: 'NO', None: '-'}[c['overlap']]:>8} "
              f"{c['before_cpu_us_per_req']:>7.2f}|{c['after_cpu_us_per_req']:<8.2f} "
              f"{c['before_errors']:>5}|{c['after_errors']:<5}")
    if idle:
        print(f"{'idle bytes per connection':<26} {idle['before']:>11} {idle['after']:>10} "
              f"{idle['after'] / idle['before'] if idle['before'] else 0:>12.3f}x "
              f"({hb.IDLE_CONNS} connections)")
    ratios = [c["ratio"] for c in cases.values()]
    out = {"bench": "compare", "before": bins["before"], "after": bins["after"],
           "duration_s": hb.DURATION, "rounds": ROUNDS, "loadavg": [load0, load1],
           "cases": cases, "idle_bytes_per_conn": idle, "idle_conns": hb.IDLE_CONNS,
           "ratio_min": min(ratios, default=0), "ratio_max": max(ratios, default=0),
           "all_overlap": all(c["overlap"] for c in cases.values()) if ROUNDS > 1 else None,
           "errors_total": sum(c["before_errors"] + c["after_errors"] for c in cases.values())}
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
