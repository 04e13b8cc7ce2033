"""Worker actors end to end: the seed's demo routes (GET / and GET /queue
with a JSON body, POST /hash), the answers of a busy pool (503, 504), the
scheduler's queue retries and periodic task, SIGTERM with tasks running,
and the warning for a route that holds its handler.

Functional and cheap, so the sanitizer builds run it too; the seed's load
scenario and the latency checks are in test_worker_load.py (Release)."""
import hashlib
import json
import re
import signal
import threading
import time

from conftest import RawClient, SLOW, wait_until


def get_json_body(a, path, body, **kw):
    return a.request("GET", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"}, **kw)


def log_lines(a):
    out = []
    for line in a.stderr().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def messages(a, pattern):
    rx = re.compile(pattern)
    return [m for m in (l.get("msg", "") for l in log_lines(a)) if rx.search(m)]


def metric(a, name):
    """Sum of every sample of `name` on the admin endpoint (-1 while the
    admin listener, started after the public one, does not answer yet)."""
    try:
        text = a.admin("GET", "/metrics").text
    except OSError:
        return -1
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def parallel(n, fn):
    """Run fn(i) for i in range(n) on n threads; return the results in order."""
    out = [None] * n

    def run(i):
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the caller's asserts
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * SLOW)
    return out


def small_work(workers=4, work_ms=50, **extra):
    cfg = {"actors": {"worker": {"count": workers}}, "app": {"demo_work_ms": work_ms}}
    for k, v in extra.items():
        cfg.setdefault(k, {}).update(v)
    return cfg


# ---- GET / (run_on_executor) ------------------------------------------------

def test_get_root_runs_the_blocking_work_on_a_worker(actord_factory):
    a = actord_factory(small_work(work_ms=200))
    t0 = time.monotonic()
    r = get_json_body(a, "/", {"job_id": 42})
    assert r.status == 200 and r.text == "42 done"
    assert time.monotonic() - t0 >= 0.2                  # the work really ran
    assert get_json_body(a, "/", {"job_id": "abc"}).text == "abc done"
    # The handler stayed free meanwhile: other routes are unaffected.
    assert a.get("/json").json() == {"message": "Hello, World!"}
    assert metric(a, "actord_worker_tasks_total") == 2


def test_get_root_needs_a_job_id(actord_factory):
    a = actord_factory(small_work())
    for body in (None, b"", b"not json", b'{"id": 1}', b'{"job_id": 1.5}', b'{"job_id": [1]}'):
        r = a.request("GET", "/", body=body)
        assert r.status == 400, body
        assert "job_id" in r.json()["error"]
    assert a.request("POST", "/", body=b'{"job_id": 1}').status == 405


def test_a_get_body_is_framed_like_any_body(actord_factory):
    """The seed's clients send a body on GET: the network actor must hand it
    over and keep the next pipelined request intact."""
    a = actord_factory(small_work(work_ms=10))
    c = RawClient(a.port)
    body = b'{"job_id": 7}'
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
           b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n" % (len(body), body))
    r1, r2 = c.read_response(), c.read_response()
    assert (r1.status, r1.body) == (200, b"7 done")
    assert (r2.status, r2.body) == (200, b"Hello, World!")
    c.close()


# ---- A busy pool: 503 at once, 504 at the deadline, never a hang -------------

def test_a_full_pool_answers_503_at_once_and_loses_nothing(actord_factory):
    a = actord_factory(small_work(workers=1, work_ms=int(150 * SLOW),
                                  actors={"worker": {"count": 1, "mailbox": 4}}))
    n = 14

    def one(i):
        t0 = time.monotonic()
        r = get_json_body(a, "/", {"job_id": i})
        return r, time.monotonic() - t0

    res = parallel(n, one)
    assert all(not isinstance(x, Exception) for x in res), res
    done = [i for i, (r, _) in enumerate(res) if r.status == 200]
    full = [(r, dt) for r, dt in res if r.status == 503]
    assert len(done) + len(full) == n                    # every request answered once
    assert done and full                                 # 1 running + 4 queued at a time
    for i in done:
        assert res[i][0].text == f"{i} done"             # each its own answer
    for r, dt in full:
        assert r.headers.get("retry-after") == "1"
        assert "overloaded" in r.json()["error"]
        assert dt < 0.1 + 0.5 * SLOW                    # at once, not after a wait


def test_a_request_that_cannot_get_a_worker_in_time_gets_504(actord_factory):
    """Fewer workers than waiting requests: each is answered 200, 503 or
    504 by its deadline; tasks whose deadline passed in the queue never run."""
    timeout_ms = int(1000 * SLOW)
    a = actord_factory(small_work(workers=2, work_ms=int(600 * SLOW),
                                  actors={"worker": {"count": 2, "mailbox": 8}},
                                  http={"request_timeout_ms": timeout_ms}))

    def one(i):
        t0 = time.monotonic()
        r = get_json_body(a, "/", {"job_id": i})
        return r.status, time.monotonic() - t0

    res = parallel(10, one)
    statuses = sorted(s for s, _ in res)
    assert set(statuses) <= {200, 503, 504}, statuses
    assert statuses.count(200) == 2 and 504 in statuses
    assert max(dt for _, dt in res) < timeout_ms / 1000 + 1.0 * SLOW    # never a hang
    # The queued tasks whose deadline passed were answered without running.
    wait_until(lambda: metric(a, "actord_worker_expired_total") >= 1, 10, "expired tasks")
    assert metric(a, "actord_worker_tasks_total") <= 4


# ---- POST /hash (CPU-bound) -------------------------------------------------

def test_hash_is_pbkdf2_hmac_sha256(actord_factory):
    a = actord_factory(small_work())
    body = {"password": "correct horse", "salt": "NaCl\u00e9", "iterations": 1000}
    r = a.request("POST", "/hash", body=json.dumps(body).encode())
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    want = hashlib.pbkdf2_hmac("sha256", body["password"].encode(), body["salt"].encode(),
                               1000).hex()
    assert r.json() == {"hash": want}


def test_hash_refuses_bad_input(actord_factory):
    a = actord_factory(small_work(app={"hash_max_iterations": 5000}))
    for body in (b"", b"{", b'{"password": "p", "salt": "s"}',
                 b'{"password": 1, "salt": "s", "iterations": 10}',
                 b'{"password": "p", "salt": "s", "iterations": 0}',
                 b'{"password": "p", "salt": "s", "iterations": 2.5}',
                 b'{"password": "p", "salt": "s", "iterations": 5001}'):
        r = a.request("POST", "/hash", body=body)
        assert r.status == 400, body
        assert "5000" in r.json()["error"]
    assert a.request("POST", "/hash", body=b'{"password": "p", "salt": "s", '
                                           b'"iterations": 5000}').status == 200
    assert a.get("/hash").status == 405


def test_hash_refuses_what_it_would_cut(actord_factory):
    """A C string ends at a NUL: "ab\\u0000cd" used to hash "ab"; a body
    with junk after the object used to be taken for the object."""
    a = actord_factory(small_work())
    r = a.request("POST", "/hash", body=b'{"password": "ab\\u0000cd", "salt": "s", "iterations": 1}')
    assert r.status == 400
    assert r.json()["error"].startswith("unsupported JSON: \\u0000 in a string at byte 16; ")
    r = a.request("POST", "/hash", body=b'{"password": "p", "salt": "s", "iterations": 1} junk')
    assert r.status == 400
    assert r.json()["error"].startswith("malformed JSON: data after the value at byte 48; ")
    r = a.request("GET", "/", body=b'{"job_id": 1}{"job_id": 2}')
    assert r.status == 400 and "data after the value at byte 13" in r.json()["error"]


def test_a_task_that_fails_itself_is_not_blamed_on_the_pool(actord_factory):
    """A task whose own blocking call timed out (or found something busy)
    returns -ETIMEDOUT / -EAGAIN, the pool's own codes: the answer says the
    task ran and failed, and the metrics count an error, not an expiry."""
    a = actord_factory(small_work(workers=1))
    r = a.get("/_test/work-errno?rc=ETIMEDOUT&ms=20")
    assert r.status == 504
    assert r.json()["error"] == "work: the task itself failed: timed out"
    r = a.get("/_test/work-errno?rc=EAGAIN")
    assert r.status == 503
    assert r.json()["error"] == "work: the task itself failed: overloaded, retry later"
    assert a.get("/_test/work-errno").text == "ran"
    assert metric(a, "actord_worker_task_errors_total") == 2
    assert metric(a, "actord_worker_expired_total") == 0


def test_no_workers_means_503(actord_factory):
    a = actord_factory({"actors": {"worker": {"count": 0}}})
    r = get_json_body(a, "/", {"job_id": 1})
    assert r.status == 503 and r.headers.get("retry-after") == "1"


# ---- GET /queue (producer-consumer) -----------------------------------------

def test_queue_answers_at_once_and_collects_later(actord_factory):
    a = actord_factory(small_work(work_ms=300))
    t0 = time.monotonic()
    r = get_json_body(a, "/queue", {"job_id": 5})
    assert (r.status, r.text) == (200, "5 add")
    assert time.monotonic() - t0 < 0.25 * SLOW          # before the work is done
    wait_until(lambda: messages(a, r"^Collected job: 5$"), 5, "the job to be collected")


def test_a_failing_queue_item_is_retried_then_dropped(actord_factory):
    a = actord_factory(small_work())
    for i in range(5):
        assert get_json_body(a, "/_test/queue-flaky", {"job_id": f"j{i}"}).status == 200
    assert get_json_body(a, "/_test/queue-flaky", {"job_id": "dead-1"}).status == 200
    wait_until(lambda: len(messages(a, r"^flaky job j\d: attempt 2 ok$")) == 5, 10,
               "every flaky job to succeed on its second attempt")
    wait_until(lambda: messages(a, r"item 'dead-1' failed 3 time\(s\) \(last: the task itself "
                                   r"failed: Input/output error\): dropped"), 10,
               "the always-failing item to be dropped")
    for i in range(5):   # each ran exactly twice: one failure, one success
        assert len(messages(a, rf"^flaky job j{i}: attempt")) == 2
    assert len(messages(a, r"^flaky job dead-1: attempt \d failed$")) == 3
    assert metric(a, 'actord_queue_retried_total{queue="test-flaky"}') == 7


def test_a_periodic_run_the_full_pool_refused_says_it_never_ran(actord_factory):
    a = actord_factory(small_work(workers=1, work_ms=300,
                                  actors={"worker": {"count": 1, "mailbox": 4}}),
                       env={"ACTORD_TEST_TICK_MS": "50"})
    wait_until(lambda: ticks(a), 5, "a first run")
    statuses = parallel(8, lambda i: get_json_body(a, "/", {"job_id": i}).status)
    assert 503 in statuses
    wait_until(lambda: messages(a, r"^periodic test-tick: the run for slot \d+ failed: it never "
                                   r"ran: every worker busy and the worker mailbox full$"),
               5, "the refused run logged")


def test_a_full_queue_answers_503(actord_factory):
    a = actord_factory(small_work(workers=1, work_ms=int(400 * SLOW),
                                  app={"queue_capacity": 3, "queue_concurrency": 1}))
    statuses = [get_json_body(a, "/queue", {"job_id": i}).status for i in range(6)]
    # One running, three waiting, the rest refused at once.
    assert statuses == [200, 200, 200, 200, 503, 503]
    wait_until(lambda: len(messages(a, r"^Collected job: [0-3]$")) == 4, 10,
               "the four accepted jobs")


# ---- Periodic tasks ----------------------------------------------------------

def ticks(a):
    out = []
    for m in messages(a, r"^test-tick "):
        f = dict(kv.split("=") for kv in m.split()[1:])
        out.append({k: int(v) for k, v in f.items()})
    return out


def test_a_periodic_task_keeps_its_schedule_never_overlaps_and_logs_failures(actord_factory):
    period = 100
    a = actord_factory(small_work(), env={"ACTORD_TEST_TICK_MS": str(period),
                                          "ACTORD_TEST_TICK_SLEEP_MS": "250",
                                          "ACTORD_TEST_TICK_FAIL_EVERY": "2"})
    wait_until(lambda: len(ticks(a)) >= 6, 10, "six runs of test-tick")
    runs = ticks(a)
    for r in runs:
        assert r["due"] == r["slot"] * period            # the wall clock's grid
        assert r["due"] <= r["start"] + 2                 # never early
        assert r["start"] - r["due"] < period * SLOW      # started within its slot
    for prev, nxt in zip(runs, runs[1:]):
        assert nxt["start"] >= prev["end"]                # never overlapping
        assert 3 <= nxt["slot"] - prev["slot"] <= 5        # 250 ms runs skip 2 ticks
    failed = messages(a, r"^periodic test-tick: the run for slot \d+ failed")
    assert failed and all(int(re.search(r"slot (\d+)", m).group(1)) % 2 == 0 for m in failed)
    # The function's own -EIO, worded as its own (not ad_strerror's texts
    # for the pool's codes, which a task may return too).
    assert all(m.endswith("failed: the task itself failed: Input/output error") for m in failed)
    assert metric(a, 'actord_periodic_skipped_total{task="test-tick"}') >= 2


# ---- SIGTERM -----------------------------------------------------------------

def test_sigterm_drains_the_running_tasks(actord_factory):
    a = actord_factory(small_work(workers=2, work_ms=int(700 * SLOW),
                                  app={"queue_concurrency": 1}))
    res = {}

    def one(i):
        res[i] = get_json_body(a, "/", {"job_id": i}, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    wait_until(lambda: metric(a, "actord_worker_busy") == 2, 10, "both workers busy")
    a.signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert res[1].text == "1 done" and res[2].text == "2 done"
    assert a.proc.wait(30 * SLOW) == 0                    # exits by itself, 0


def test_sigterm_logs_the_queue_items_it_drops(actord_factory):
    a = actord_factory(small_work(workers=1, work_ms=int(500 * SLOW),
                                  app={"queue_concurrency": 1}))
    for i in range(4):
        assert get_json_body(a, "/queue", {"job_id": i}).status == 200
    wait_until(lambda: metric(a, "actord_worker_busy") == 1, 10, "the first item running")
    assert a.stop() == 0
    # The running item finished; the three waiting ones are named as dropped.
    assert messages(a, r"^Collected job: 0$")
    assert messages(a, r"^queue collect: 3 item\(s\) not run at shutdown: dropped$")



def test_sigterm_does_not_wait_past_the_drain_for_a_task_that_runs_on(actord_factory):
    # A task nothing can interrupt (it sleeps 20 s) outlives the drain
    # (1 s): the stop does not wait for it past the drain's time (and a
    # moment per kind of actor), then the process ends anyway.
    a = actord_factory({"drain_timeout_ms": 1000, "actors": {"worker": {"count": 1}},
                        "http": {"request_timeout_ms": 30000}})
    def client_get():
        try:
            a.get("/_test/work-errno?rc=EIO&ms=20000", timeout=30)
        except OSError:
            pass                     # closed at the drain's end: expected
    client = threading.Thread(target=client_get, daemon=True)
    client.start()
    wait_until(lambda: metric(a, "actord_worker_busy") == 1, 10, "the worker busy")
    t0 = time.monotonic()
    a.signal(signal.SIGTERM)
    assert a.proc.wait(15 * SLOW) == 0
    took = time.monotonic() - t0
    assert took < 1 + 3 * SLOW, took                 # the drain, 0.2 s a kind, a margin
    assert messages(a, r"^worker-0: still busy \(inside a task or a driver call\) at the "
                       r"stop deadline: not waited for$")
    assert messages(a, r"^actord stopped, leaving 1 thread\(s\) inside a task")

# ---- The warning for a route that holds its handler --------------------------

def test_a_route_that_blocks_its_handler_is_logged_once_per_second(actord_factory):
    a = actord_factory({"http": {"slow_handler_ms": 100}})
    assert a.get("/_test/block?ms=250").status == 200
    assert a.get("/_test/block?ms=250").status == 200
    assert a.get("/_test/block?ms=20").status == 200      # under the threshold
    warned = messages(a, r"route /_test/block: its function held the handler for \d+ ms")
    assert len(warned) == 1                               # rate-limited
    assert metric(a, "actord_handler_slow_total") == 2
