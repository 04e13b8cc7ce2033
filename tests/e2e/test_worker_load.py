"""The seed's load scenarios on the worker actors, with the latency of
GET /json measured at the same time by a probe in its own process
(latency_probe.py): the network and handler actors must never stall while
the workers block or compute. Timing assertions: Release build only
(tests/CMakeLists.txt), bounded in count and time."""
import glob
import http.client
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import wait_until
from test_worker import messages, ticks

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "latency_probe.py")


def start_probe(port, seconds, path="/json", interval_ms=5):
    return subprocess.Popen([sys.executable, PROBE, str(port), path, str(seconds),
                             str(interval_ms)], stdout=subprocess.PIPE)


def probe_result(p):
    out, _ = p.communicate(timeout=60)
    return json.loads(out)


def keepalive_requests(port, n, body_of, path, method="GET"):
    """n requests on one keep-alive connection: [(status, text, seconds)]."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    for i in range(n):
        t0 = time.monotonic()
        c.request(method, path, body=body_of(i))
        r = c.getresponse()
        out.append((r.status, r.read().decode(), time.monotonic() - t0))
    c.close()
    return out


def seed_scenario(a, control):
    """100 clients x 3 requests of GET / on `a`; /json probed on `a` and on
    the idle `control` meanwhile. Returns (elapsed s, probe, control probe)."""
    probe = start_probe(a.port, 4.0)
    control_probe = start_probe(control.port, 4.0)
    time.sleep(0.3)                                   # the probes are connected
    results = [None] * 100

    def client(k):
        results[k] = keepalive_requests(a.port, 3, lambda i: json.dumps(
            {"job_id": k * 3 + i}).encode(), "/")

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - t0
    for k, res in enumerate(results):
        assert [(s, txt) for s, txt, _ in res] == [(200, f"{k * 3 + i} done") for i in range(3)]
    return elapsed, probe_result(probe), probe_result(control_probe)


def test_the_seed_scenario_100_clients_300_blocking_requests(actord_factory):
    """100 clients, 300 requests of 1 s blocking work, 100 workers: about
    3 s in all, every answer right, GET /json p99 under 5 ms throughout.

    The machine is shared (builds, tests and benchmarks of others run
    meanwhile), and its noise alone moves a p99 by milliseconds: a second,
    idle actord is probed the same way over the same seconds, and the
    scenario may add at most 5 ms to that control's p99. A burst of someone
    else's load can still land on the scenario's three bursts of 100 answers
    and 100 requests, so the latency may take a second attempt; a handler
    that stalls for a task (1 s) fails every attempt by far. Every attempt
    must answer every request right, in about 3 s."""
    a = actord_factory({"actors": {"worker": {"count": 100, "mailbox": 1024}},
                        "app": {"demo_work_ms": 1000}})
    control = actord_factory()
    attempts = []
    for _ in range(2):
        elapsed, lat, ctl = seed_scenario(a, control)
        assert 2.9 <= elapsed < 4.5, elapsed
        assert lat["errors"] == 0 and lat["n"] > 300
        attempts.append((lat, ctl))
        if lat["p99"] < 5.0 + ctl["p99"]:
            break
    else:
        raise AssertionError(f"GET /json p99 over the control's + 5 ms twice: {attempts}")


def test_queue_1000_requests_answered_at_once_each_collected_once(actord_factory):
    a = actord_factory({"actors": {"worker": {"count": 16}},
                        "app": {"demo_work_ms": 20, "queue_concurrency": 16}})
    results = [None] * 10

    def client(k):
        results[k] = keepalive_requests(a.port, 100, lambda i: json.dumps(
            {"job_id": k * 100 + i}).encode(), "/queue")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for k, res in enumerate(results):
        assert [(s, txt) for s, txt, _ in res] == [(200, f"{k * 100 + i} add")
                                                   for i in range(100)]
        assert max(dt for _, _, dt in res) < 0.5       # at once, not after the work
    wait_until(lambda: len(messages(a, r"^Collected job: \d+$")) >= 1000, 20,
               "1000 jobs collected")
    collected = [int(m.split(": ")[1]) for m in messages(a, r"^Collected job: \d+$")]
    assert sorted(collected) == list(range(1000))      # each exactly once


def test_the_period_holds_under_load(actord_factory, tmp_path):
    """A 100 ms periodic task on a worker while wrk keeps the workers busy
    with POST /hash and the handler with GET /json: no slot run twice,
    hardly any missed, no drift (each run is due on its slot of the wall clock's grid), each run
    started within its own slot (it waits behind the hashes queued before
    it, and the shared machine adds its noise)."""
    period = 100
    a = actord_factory({"actors": {"worker": {"count": 4}}},
                       env={"ACTORD_TEST_TICK_MS": str(period)})
    script = tmp_path / "hash.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = \'{"password": "pw", "salt": "s", '
                      '"iterations": 10000}\'\n')
    url = f"http://127.0.0.1:{a.port}"
    loads = [subprocess.Popen(["wrk", "-t1", "-c6", "-d3s", "-s", str(script), url + "/hash"],
                              stdout=subprocess.PIPE),
             subprocess.Popen(["wrk", "-t1", "-c2", "-d3s", url + "/json"],
                              stdout=subprocess.PIPE)]
    for p in loads:
        out, _ = p.communicate(timeout=30)
        assert b"Non-2xx" not in out, out
    runs = [r for r in ticks(a)]
    window = [r for r in runs if r["start"] >= runs[0]["start"] + 200][:25]
    assert len(window) >= 20
    slots = [r["slot"] for r in window]
    # Each slot at most once, nearly none missed: a tick more than a whole
    # period late (the shared machine stalling the scheduler's thread) is
    # counted as skipped instead of running late twice.
    assert len(set(slots)) == len(slots)
    assert len(slots) >= 0.9 * (slots[-1] - slots[0] + 1), slots
    assert all(r["due"] == r["slot"] * period for r in window)
    late = sorted(r["start"] - r["due"] for r in window)
    assert late[-1] < period, late


FAKETIME = glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")


@pytest.mark.skipif(not FAKETIME, reason="libfaketime (package faketime) is not installed")
def test_a_wall_clock_stepped_back_does_not_stop_a_periodic_task(actord_factory, tmp_path):
    """The wall clock stepped back 60 s (an NTP step) under a running
    actord, through libfaketime: the task goes on, on the new clock's grid.
    Its timer, armed for the old clock's next slot, used to wait for the
    clock to come back: a minute of silence."""
    period = 100
    clock = tmp_path / "faketime"
    clock.write_text("+0\n")
    a = actord_factory({"actors": {"worker": {"count": 2}}},
                       env={"ACTORD_TEST_TICK_MS": str(period), "LD_PRELOAD": FAKETIME[0],
                            "FAKETIME_TIMESTAMP_FILE": str(clock), "FAKETIME_NO_CACHE": "1",
                            "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    wait_until(lambda: len(ticks(a)) >= 3, 10, "the first runs")
    last = ticks(a)[-1]["slot"]
    clock.write_text("-60\n")
    wait_until(lambda: len([r for r in ticks(a) if r["slot"] < last - 100]) >= 5, 5,
               "runs on the stepped-back clock")
    assert messages(a, r"^periodic test-tick: the wall clock went back \d+ ms")
    for r in ticks(a):
        assert r["due"] == r["slot"] * period and r["due"] <= r["start"] + 2
