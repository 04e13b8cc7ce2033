"""The job queue against the real Redis and MariaDB of the `services`
fixture: POST /jobs and GET /jobs/:id, their 400s and 404s, idempotency
keys, a 202 only once the job is in Redis, retries with the backoff
schedule ending in the dead-letter stream, a worker killed mid-job whose
job another instance takes over, a job longer than the reclaim idle time
that is not taken over, a SIGTERM that leaves running jobs pending, and
two instances draining one queue together; and Redis misbehaving: writes
refused for now (503), scripts flushed, a stream key of another type, a
stored payload its type refuses, stream entries and job hashes another
client wrote badly, a connection lost after an enqueue was sent (504).
Each test has a queue of its own (a unique key prefix)."""
import datetime
import signal
import threading
import time
import uuid

import pytest

from conftest import SLOW, free_port, wait_until
from job_util import (Client, ensure_job_results, job_states, jobs_config, metric, start,
                      stream_entries, unique_prefix)
from storage_util import Redis, mariadb, service


@pytest.fixture
def prefix():
    return unique_prefix()


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def get_job(a, job_id):
    status, _, body = Client(a.port).request("GET", f"/jobs/{job_id}")
    return status, body


def wait_state(a, job_id, states, timeout=10):
    def reached():
        status, body = get_job(a, job_id)
        return status == 200 and body["state"] in states and body
    return wait_until(reached, timeout, f"job {job_id} to reach {states}", interval=0.05)


def test_a_posted_job_runs_and_reports_its_result(actord_factory, services, prefix):
    a = start(actord_factory, jobs_config(services, prefix))
    c = Client(a.port)
    status, headers, body = c.post_job("sleep", {"seconds": 0.1})
    assert status == 202 and headers["content-type"] == "application/json"
    assert body["state"] == "queued" and len(body["id"]) == 32
    assert "idempotent-replayed" not in headers
    job = wait_state(a, body["id"], ["done"])
    assert job["id"] == body["id"] and job["type"] == "sleep"
    assert job["result"] == {"id": body["id"]}
    assert job["attempts"] == 1 and job["redeliveries"] == 0 and job["failures"] == []
    assert job["payload"] == {"seconds": 0.1}
    assert ts(job["created_at"]) <= ts(job["started_at"]) <= ts(job["finished_at"])
    assert ts(job["finished_at"]) - ts(job["started_at"]) >= 0.09
    assert job["worker"].endswith("-0")
    # The session's Redis runs with appendonly yes + appendfsync always.
    assert "jobs: redis runs with" not in a.stderr()


def test_a_job_type_runs_its_cpu_work_on_a_worker(actord_factory, services, prefix):
    """The `hash` job type submits PBKDF2 to the worker actors with job_call
    (the job actor never blocks) and stores the worker's result."""
    import hashlib
    a = start(actord_factory, jobs_config(services, prefix))
    c = Client(a.port)
    status, _, body = c.post_job("hash", {"password": "pw", "salt": "s", "iterations": 2000})
    assert status == 202
    job = wait_state(a, body["id"], ["done"])
    assert job["result"] == {"hash": hashlib.pbkdf2_hmac("sha256", b"pw", b"s", 2000).hex()}
    status, _, body = c.post_job("hash", {"password": "pw", "salt": "s", "iterations": 0})
    assert status == 400 and "iterations" in body["error"]


def test_the_sql_job_applies_its_effect_once_per_job_id(actord_factory, services, prefix):
    ensure_job_results(services)
    a = start(actord_factory, jobs_config(services, prefix))
    _, _, body = Client(a.port).post_job("sql", {"args": [prefix]})
    job = wait_state(a, body["id"], ["done"])
    assert job["result"] == {"applied": True, "affected": 1}
    rows = mariadb(services, f"SELECT job_id, note FROM job_results WHERE job_id = '{body['id']}'")
    assert rows == [[body["id"], prefix]]


@pytest.mark.parametrize("body,message", [
    (b"not json", "malformed JSON at byte 0"),
    (b'{"type": "nope"} junk', "malformed JSON: data after the value at byte 17"),
    (b"[1, 2]", "JSON object"),
    (b'{"payload": {}}', '"type" must be a string'),
    (b'{"type": 7}', '"type" must be a string'),
    (b'{"type": "mine-bitcoin"}', "unknown job type 'mine-bitcoin'"),
    (b'{"type": "sleep", "payload": [1]}', '"payload" must be a JSON object'),
    (b'{"type": "sleep", "payload": {"seconds": "soon"}}', '"seconds" must be a number'),
    (b'{"type": "sleep", "payload": {"seconds": -1}}', '"seconds" must be a number'),
    (b'{"type": "sleep", "payload": {"seconds": 61}}', "not shorter than jobs.timeout_ms"),
    (b'{"type": "sql", "payload": {"args": "x"}}', '"args" must be an array'),
    (b'{"type": "sql", "payload": {"args": [{}]}}', '"args" must hold'),
    (b'{"type": "sleep", "payload": {"pad": "' + b"x" * 2000 + b'"}}',
     "more than jobs.max_payload_bytes (1024)"),
])
def test_bad_jobs_are_refused_with_400_and_a_message(actord_factory, services, prefix, redis,
                                                     body, message):
    a = start(actord_factory, jobs_config(services, prefix, max_payload_bytes=1024))
    r = a.request("POST", "/jobs", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert message in r.json()["error"]
    assert redis.cmd("EXISTS", f"{prefix}:stream") in (0, 1)
    assert redis.cmd("XLEN", f"{prefix}:stream") == 0


@pytest.mark.parametrize("key", ["", "has space", "x" * 201])
def test_a_malformed_idempotency_key_is_400(actord_factory, services, prefix, key):
    a = start(actord_factory, jobs_config(services, prefix))
    r = a.request("POST", "/jobs", body=b'{"type": "sleep"}', headers={"Idempotency-Key": key})
    assert r.status == 400 and "Idempotency-Key" in r.json()["error"]


@pytest.mark.parametrize("path", ["/jobs/0123456789abcdef0123456789abcdef", "/jobs/nope",
                                  "/jobs/0123456789ABCDEF0123456789ABCDEF"])
def test_an_unknown_job_is_404(actord_factory, services, prefix, path):
    a = start(actord_factory, jobs_config(services, prefix))
    r = a.get(path)
    assert r.status == 404 and r.json() == {"error": "no such job"}


def test_an_idempotency_key_returns_the_same_job(actord_factory, services, prefix, redis):
    a = start(actord_factory, jobs_config(services, prefix))
    c = Client(a.port)
    s1, h1, b1 = c.post_job("sleep", {"seconds": 0}, key="order-42")
    s2, h2, b2 = c.post_job("sleep", {"seconds": 0}, key="order-42")
    s3, _, b3 = c.post_job("sleep", {"seconds": 0}, key="order-43")
    assert (s1, s2, s3) == (202, 202, 202)
    assert b1["id"] == b2["id"] != b3["id"]
    assert "idempotent-replayed" not in h1 and h2["idempotent-replayed"] == "true"
    wait_state(a, b3["id"], ["done"])
    wait_state(a, b1["id"], ["done"])
    assert len(stream_entries(redis, f"{prefix}:stream")) == 0
    assert len(redis.cmd("KEYS", f"{prefix}:job:*")) == 2
    assert redis.cmd("TTL", f"{prefix}:idem:order-42") > 0


def test_202_means_the_job_is_in_redis_and_a_redis_outage_is_503(actord_factory, services,
                                                                   prefix, redis):
    a = start(actord_factory, jobs_config(services, prefix, concurrency=0))   # enqueue only
    c = Client(a.port)
    status, _, body = c.post_job("sleep", {"seconds": 0})
    assert status == 202
    # Nothing consumes here: the job must be waiting in the stream.
    assert redis.cmd("HGET", f"{prefix}:job:{body['id']}", "state") == b"queued"
    assert [f["id"] for _, f in stream_entries(redis, f"{prefix}:stream")] == [body["id"]]
    service(services, "kill", "redis")
    try:
        r = a.request("POST", "/jobs", body=b'{"type": "sleep"}')
        assert r.status == 503 and r.headers.get("retry-after") == "1"
    finally:
        service(services, "start", "redis")
    redis.__init__(services["redis_port"])
    wait_until(lambda: a.request("POST", "/jobs", body=b'{"type": "sleep"}').status == 202, 5,
               "POST /jobs to work again")
    # appendfsync always: the job accepted before the kill survived it.
    assert redis.cmd("HGET", f"{prefix}:job:{body['id']}", "state") == b"queued"


@pytest.mark.parametrize("setting,value", [("min-replicas-to-write", "1"), ("maxmemory", "1")])
def test_a_redis_refusing_writes_for_now_is_503_with_its_reason_logged(actord_factory, services,
                                                                     prefix, redis, setting,
                                                                     value):
    """NOREPLICAS (min-replicas-to-write, docs/JOBS.md's advice for a cut-off
    primary) and OOM (noeviction) refuse the write until the server
    recovers: a retryable 503, not a 500."""
    a = start(actord_factory, jobs_config(services, prefix, concurrency=0))
    old = redis.cmd("CONFIG", "GET", setting)[1]
    redis.cmd("CONFIG", "SET", setting, value)
    try:
        r = a.request("POST", "/jobs", body=b'{"type": "sleep"}')
    finally:
        redis.cmd("CONFIG", "SET", setting, old)
    assert r.status == 503 and r.headers.get("retry-after") == "1"
    assert redis.cmd("XLEN", f"{prefix}:stream") == 0
    wait_until(lambda: "jobs: redis refused job enqueue for now: "
               + ("NOREPLICAS" if value == "1" and setting.startswith("min") else "OOM")
               in a.stderr(), 5, "the reason in the log")
    assert a.request("POST", "/jobs", body=b'{"type": "sleep"}').status == 202


def cached_scripts(redis):
    info = redis.cmd("INFO", "memory").decode()
    return int(info.split("number_of_cached_scripts:")[1].split()[0])


def test_a_script_flush_costs_no_503_and_no_reclaim_wait(actord_factory, services, prefix, redis):
    """Redis forgetting the scripts (SCRIPT FLUSH, a restart without them)
    answers NOSCRIPT: the script did not run, so the job actor sends it
    again whole instead of answering 503 or leaving a delivery pending for
    reclaim_idle_ms."""
    a = start(actord_factory, jobs_config(services, prefix, reclaim_idle_ms=60000))
    c = Client(a.port)
    _, _, body = c.post_job("sleep", {})
    wait_state(a, body["id"], ["done"])
    # A job written by another producer: START is the first script after the flush.
    job_id = uuid.uuid4().hex
    redis.cmd("HSET", f"{prefix}:job:{job_id}", "type", "sleep", "payload", "{}",
              "state", "queued", "attempts", "0", "redeliveries", "0")
    redis.cmd("SCRIPT", "FLUSH")
    redis.cmd("XADD", f"{prefix}:stream", "*", "id", job_id)
    job = wait_state(a, job_id, ["done"], timeout=5)
    assert job["attempts"] == 1 and job["redeliveries"] == 0
    assert metric(a, "jobs_reclaimed_total") in (None, 0)
    # The enqueue is the first script after the next flush.
    wait_until(lambda: cached_scripts(redis) >= 7, 5, "the scripts to be loaded again")
    redis.cmd("SCRIPT", "FLUSH")
    status, _, body = c.post_job("sleep", {})
    assert status == 202
    wait_state(a, body["id"], ["done"], timeout=5)
    assert "redis no longer has the job scripts" in a.stderr()


def test_a_stored_payload_its_type_refuses_fails_without_running(actord_factory, services,
                                                                prefix, redis):
    """A job that did not come through POST /jobs is checked before it runs:
    a negative sleep would be an out-of-range conversion in run_sleep."""
    a = start(actord_factory, jobs_config(services, prefix, max_attempts=1))
    for payload, error in (('{"seconds": -5}', "sleep: \"seconds\" must be a number"),
                           ('[1]', "not a JSON object")):
        job_id = uuid.uuid4().hex
        redis.cmd("HSET", f"{prefix}:job:{job_id}", "type", "sleep", "payload", payload,
                  "state", "queued", "attempts", "0", "redeliveries", "0")
        redis.cmd("XADD", f"{prefix}:stream", "*", "id", job_id)
        job = wait_state(a, job_id, ["dead"], timeout=5)
        assert error in job["error"], job


@pytest.mark.parametrize("kept", [3, 0])
def test_the_dead_letter_stream_keeps_only_the_newest_dead_max_jobs(actord_factory, services,
                                                                   prefix, redis, kept):
    """A job type that fails for days must not fill Redis with dead letters:
    each new one cuts the stream to the newest `jobs.dead_max_jobs` (0:
    never cut). The dead job's hash stays readable either way."""
    for n in range(5):
        redis.cmd("XADD", f"{prefix}:dead", "*", "id", f"old-{n}")
    a = start(actord_factory, jobs_config(services, prefix, max_attempts=1,
                                          dead_max_jobs=kept))
    job_id = uuid.uuid4().hex
    redis.cmd("HSET", f"{prefix}:job:{job_id}", "type", "sleep", "payload", "[1]",
              "state", "queued", "attempts", "0", "redeliveries", "0")
    redis.cmd("XADD", f"{prefix}:stream", "*", "id", job_id)
    assert wait_state(a, job_id, ["dead"], timeout=5)["attempts"] == 1
    ids = [fields["id"] for _, fields in stream_entries(redis, f"{prefix}:dead")]
    if kept:
        assert ids == ["old-3", "old-4", job_id]
    else:
        assert ids == [f"old-{n}" for n in range(5)] + [job_id]


def test_a_stream_key_of_another_type_is_retried_with_backoff_until_fixed(actord_factory,
                                                                          services, prefix,
                                                                          redis):
    """XGROUP CREATE refused (WRONGTYPE: the stream's key holds a string) is
    an operator's mistake: logged and asked again with backoff (it was
    every 50 ms, a warning each time), and the queue works once it is
    fixed."""
    redis.cmd("SET", f"{prefix}:stream", "not a stream")
    a = start(actord_factory, jobs_config(services, prefix))
    wait_until(lambda: "WRONGTYPE" in a.stderr(), 5, "the refusal in the log")
    time.sleep(2)
    refusals = a.stderr().count("jobs: redis refused XGROUP CREATE")
    assert 1 <= refusals <= 8, refusals
    redis.cmd("DEL", f"{prefix}:stream")
    _, _, body = Client(a.port).post_job("sleep", {})
    wait_state(a, body["id"], ["done"], timeout=10)


def test_a_done_whose_reply_was_lost_counts_as_done_not_stale(actord_factory, services, prefix,
                                                             redis):
    """Redis busy past redis.command_timeout_ms while a DONE waits in its
    input: the DONE times out in actord, is stored once Redis is free, and
    the DONE sent again finds the job done by this very run."""
    cfg = jobs_config(services, prefix)
    cfg["redis"]["command_timeout_ms"] = 300
    a = start(actord_factory, cfg)
    _, _, body = Client(a.port).post_job("sleep", {"seconds": 0.4})
    wait_state(a, body["id"], ["running"])
    hold_redis(services, 1.5)
    job = wait_state(a, body["id"], ["done"], timeout=10)
    assert job["attempts"] == 1
    wait_until(lambda: metric(a, "jobs_completed_total", 'outcome="done"') == 1, 5,
               "the run counted as done")
    assert metric(a, "jobs_stale_total") == 0


def hold_redis(services, seconds):
    """A script holds Redis for `seconds` (below busy-reply-threshold: the
    other clients' commands wait in their input)."""
    busy = Redis(services["redis_port"])
    busy.cmd("EVAL", "local s = redis.call('TIME') "
             "repeat local t = redis.call('TIME') "
             f"until (t[1] - s[1]) * 1000000 + (t[2] - s[2]) > {int(seconds * 1e6)} return 1", "0")
    busy.close()


@pytest.mark.parametrize("max_attempts,outcome,state", [(3, "failed", "failed"),
                                                        (1, "dead", "dead")])
def test_a_fail_whose_reply_was_lost_counts_as_failed_not_stale(actord_factory, services,
                                                                prefix, redis, max_attempts,
                                                                outcome, state):
    """The same for FAIL: a run that times out (jobs.timeout_ms) while Redis
    is busy past redis.command_timeout_ms; its FAIL is stored once Redis is
    free, and the FAIL sent again finds this very run's failure recorded
    (the same attempt, started at the same time): counted as it was stored
    (a retry scheduled, or dead), recorded once, not stale."""
    ensure_job_results(services)
    cfg = jobs_config(services, prefix, max_attempts=max_attempts, timeout_ms=400,
                      backoff_base_ms=60000, backoff_max_ms=60000,
                      sql_statement="SELECT SLEEP(2) FROM DUAL WHERE ? IS NOT NULL")
    cfg["redis"]["command_timeout_ms"] = 300
    cfg["mysql"]["query_timeout_ms"] = 1000
    a = start(actord_factory, cfg)
    _, _, body = Client(a.port).post_job("sql")
    wait_state(a, body["id"], ["running"])
    hold_redis(services, 1.5)
    job = wait_state(a, body["id"], [state], timeout=10)
    assert job["attempts"] == 1
    assert [f["attempt"] for f in job["failures"]] == [1], job["failures"]
    assert "timed out" in job["error"]
    wait_until(lambda: metric(a, "jobs_completed_total", f'outcome="{outcome}"') == 1, 5,
               f"the run counted as {outcome}")
    assert metric(a, "jobs_stale_total") == 0
    assert redis.cmd("XLEN", f"{prefix}:stream") == 0
    assert redis.cmd("ZCARD", f"{prefix}:delayed") == (1 if state == "failed" else 0)
    assert redis.cmd("XLEN", f"{prefix}:dead") == (1 if state == "dead" else 0)


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_start_whose_reply_was_lost_runs_at_once_as_one_run(actord_factory, services, prefix,
                                                             redis, max_attempts):
    """A START stuck behind a slow command on the job actor's connection
    (an enqueue's WAIT for a replica that does not exist) times out in
    actord, then runs in Redis: the job is "running" for nobody. It used to
    stay so until a reclaim, jobs.reclaim_idle_ms later (a minute here), and
    that reclaim counted a redelivery, which with max_attempts 1 made the
    job dead without a single run. The job actor sends START again under the
    same run token: the job runs as soon as Redis answers, as its first
    attempt, with no redelivery."""
    cfg = jobs_config(services, prefix, reclaim_idle_ms=60000, wait_replicas=1,
                      wait_timeout_ms=1500, max_attempts=max_attempts)
    cfg["redis"]["command_timeout_ms"] = 300
    a = start(actord_factory, cfg)
    posted = {}
    poster = threading.Thread(target=lambda: posted.update(
        r=Client(a.port).post_job("sleep", {})))
    poster.start()
    # The enqueue is stored: its WAIT now holds the connection for 1.5 s.
    wait_until(lambda: redis.cmd("KEYS", f"{prefix}:job:*"), 5, "the enqueue")
    job_id = uuid.uuid4().hex      # another producer's job: its START waits behind the WAIT
    redis.cmd("HSET", f"{prefix}:job:{job_id}", "type", "sleep", "payload", "{}",
              "state", "queued", "attempts", "0", "redeliveries", "0")
    redis.cmd("XADD", f"{prefix}:stream", "*", "id", job_id)
    poster.join(10)
    assert posted["r"][0] == 503    # no replica: stored, not confirmed
    job = wait_state(a, job_id, ["done", "dead"], timeout=8)
    assert job["state"] == "done", job
    assert job["attempts"] == 1 and job["redeliveries"] == 0, job
    wait_until(lambda: f"jobs: cannot start job {job_id} yet: retrying" in a.stderr(), 5,
               "the retry in the log")
    wait_until(lambda: metric(a, "jobs_started_total") == 2, 5, "both jobs to have started")
    assert metric(a, "jobs_redelivered_total") == 0


def test_a_job_that_always_fails_ends_dead_after_its_attempts_with_backoff(actord_factory,
                                                                           services, prefix,
                                                                           redis):
    base_ms, max_ms, attempts = 200, 600, 4
    a = start(actord_factory, jobs_config(services, prefix, max_attempts=attempts,
                                   backoff_base_ms=base_ms, backoff_max_ms=max_ms,
                                   backoff_jitter_pct=50,
                                   sql_statement="INSERT INTO no_such_table (id) VALUES (?)"))
    _, _, body = Client(a.port).post_job("sql")
    job = wait_state(a, body["id"], ["dead"], timeout=10)
    assert job["attempts"] == attempts
    assert "refused" in job["error"]
    failures = job["failures"]
    assert [f["attempt"] for f in failures] == list(range(1, attempts + 1))
    for n in range(1, attempts):
        wait_s = ts(failures[n]["started_at"]) - ts(failures[n - 1]["failed_at"])
        full = min(base_ms * 2 ** (n - 1), max_ms) / 1000
        assert full * 0.5 - 0.005 <= wait_s <= full + 0.5 * SLOW, (n, wait_s, full)
    dead = stream_entries(redis, f"{prefix}:dead")
    assert len(dead) == 1
    entry = dead[0][1]
    assert entry["id"] == body["id"] and entry["type"] == "sql"
    assert entry["attempts"] == str(attempts) and "refused" in entry["error"]
    assert redis.cmd("XLEN", f"{prefix}:stream") == 0
    assert redis.cmd("ZCARD", f"{prefix}:delayed") == 0
    assert redis.cmd("TTL", f"{prefix}:job:{body['id']}") > 0
    dead_total = metric(a, "jobs_dead_total")
    if dead_total is not None:
        assert dead_total == 1
        assert metric(a, "jobs_completed_total", 'outcome="failed"') == attempts - 1


def test_a_worker_killed_mid_job_has_its_job_taken_over_by_another(actord_factory, services,
                                                                   prefix):
    a = start(actord_factory, jobs_config(services, prefix))
    _, _, body = Client(a.port).post_job("sleep", {"seconds": 1})
    running = wait_state(a, body["id"], ["running"])
    a.check_exit = False
    a.proc.kill()
    a.proc.wait(10)
    b = start(actord_factory, jobs_config(services, prefix))    # another port: another consumer
    t_b = time.monotonic()
    job = wait_state(b, body["id"], ["done"], timeout=10)
    assert job["worker"] != running["worker"]
    assert job["attempts"] == 2 and job["redeliveries"] == 1
    # Taken over once the delivery had been idle for reclaim_idle_ms.
    assert time.monotonic() - t_b >= 1.0
    reclaimed = metric(b, "jobs_reclaimed_total")
    if reclaimed is not None:
        assert reclaimed == 1


def test_sigterm_leaves_running_jobs_pending_and_a_restart_runs_them(actord_factory, services,
                                                                     prefix, redis):
    port = free_port()
    cfg = jobs_config(services, prefix, port=port, reclaim_idle_ms=60000)
    a = start(actord_factory, cfg)
    _, _, body = Client(a.port).post_job("sleep", {"seconds": 0.5})
    wait_state(a, body["id"], ["running"])
    a.signal(signal.SIGTERM)
    assert a.proc.wait(10 * SLOW) == 0
    # Not acknowledged half-done: still pending for its consumer.
    pending = redis.cmd("XPENDING", f"{prefix}:stream", "actord")
    assert pending[0] == 1
    assert redis.cmd("HGET", f"{prefix}:job:{body['id']}", "state") == b"running"
    b = start(actord_factory, cfg)   # same port: same consumer, finds it at once
    job = wait_state(b, body["id"], ["done"], timeout=5)
    assert job["attempts"] == 2 and job["redeliveries"] == 1


def test_two_instances_drain_one_queue_without_losing_or_duplicating(actord_factory, services,
                                                                     prefix, redis):
    cfg = dict(concurrency=8, reclaim_idle_ms=1000)
    a = start(actord_factory, jobs_config(services, prefix, **cfg))
    b = start(actord_factory, jobs_config(services, prefix, **cfg))
    ca, cb = Client(a.port), Client(b.port)
    ids = []
    # Some jobs longer than the reclaim idle time: they must not be taken over.
    for i in range(200):
        c = ca if i % 2 else cb
        seconds = 1.5 if i % 50 == 0 else 0.02
        status, _, body = c.post_job("sleep", {"seconds": seconds})
        assert status == 202
        ids.append(body["id"])

    def all_done():
        states = job_states(redis, prefix, ids, ("state", "attempts", "redeliveries", "worker",
                                                 "result"))
        return all(s["state"] == "done" for s in states.values()) and states
    states = wait_until(all_done, 30, "every job to be done", interval=0.1)
    assert all(s["attempts"] == "1" and s["redeliveries"] == "0" for s in states.values())
    for j, s in states.items():
        assert s["result"] == '{"id":"%s"}' % j
    workers = {s["worker"].rsplit(":", 1)[1] for s in states.values()}
    assert workers == {f"{a.port}-0", f"{b.port}-0"}, workers
    assert redis.cmd("XLEN", f"{prefix}:stream") == 0
    assert redis.cmd("XLEN", f"{prefix}:dead") == 0
    started = [metric(x, "jobs_started_total") for x in (a, b)]
    if None not in started:
        assert sum(started) == len(ids)
        assert metric(a, "jobs_reclaimed_total") == metric(b, "jobs_reclaimed_total") == 0


def test_an_entry_that_is_no_job_leaves_the_stream(actord_factory, services, prefix, redis):
    """An entry another client wrote without a valid job id is acknowledged
    and deleted: the stream holds exactly the jobs not finished (XLEN, the
    jobs_pending gauge), so it must not count one that never ends."""
    a = start(actord_factory, jobs_config(services, prefix))
    redis.cmd("XADD", f"{prefix}:stream", "*", "id", "not-a-job-id")
    redis.cmd("XADD", f"{prefix}:stream", "*", "other", "field")
    wait_until(lambda: a.stderr().count("is not a job: acknowledged") == 2, 5,
               "both entries discarded")
    wait_until(lambda: redis.cmd("XLEN", f"{prefix}:stream") == 0, 5, "an empty stream")
    wait_until(lambda: metric(a, "jobs_pending") == 0, 5, "no job pending")


def test_a_run_whose_job_another_run_finished_first_is_stale(actord_factory, services, prefix,
                                                             redis):
    """Two runs of one job (a worker cut from Redis past reclaim_idle_ms, and
    the worker that took it over): the first outcome stored wins and the
    second is stale. Here the test stores the older run's outcome while
    actord's run, the last one started (its `worker` and `attempts` in the
    hash), still sleeps: actord's DONE is not the one stored, so it is
    counted stale, not done."""
    a = start(actord_factory, jobs_config(services, prefix))
    _, _, body = Client(a.port).post_job("sleep", {"seconds": 0.5})
    job = wait_state(a, body["id"], ["running"])
    (entry, _), = stream_entries(redis, f"{prefix}:stream")
    redis.cmd("XACK", f"{prefix}:stream", "actord", entry)
    redis.cmd("XDEL", f"{prefix}:stream", entry)
    redis.cmd("HSET", f"{prefix}:job:{body['id']}", "state", "done", "result", '"older run"',
              "done_run", "0123456789abcdef")
    wait_until(lambda: metric(a, "jobs_stale_total") == 1, 5, "the run counted as stale")
    assert metric(a, "jobs_completed_total", 'outcome="done"') == 0
    assert get_job(a, body["id"])[1]["result"] == "older run"
    assert job["attempts"] == 1


def test_a_job_hash_with_a_corrupt_failure_list_still_fails_with_its_reason(
        actord_factory, services, prefix, redis):
    """A job hash another client wrote with `failures` that is not a JSON
    list: FAIL records the failure in a fresh list. It stopped with a Lua
    error after acknowledging the delivery, and Redis keeps a script's
    writes made before an error: the job stayed "running" for ever, in no
    stream and no retry set."""
    a = start(actord_factory, jobs_config(services, prefix, max_attempts=1))
    job_id = uuid.uuid4().hex
    redis.cmd("HSET", f"{prefix}:job:{job_id}", "type", "sleep", "payload", '{"seconds": -5}',
              "state", "queued", "attempts", "0", "redeliveries", "0", "failures", "{oops")
    redis.cmd("XADD", f"{prefix}:stream", "*", "id", job_id)
    job = wait_state(a, job_id, ["dead"], timeout=5)
    assert 'sleep: "seconds" must be a number' in job["error"], job
    assert [f["attempt"] for f in job["failures"]] == [1] and job["redeliveries"] == 0


def test_an_enqueue_whose_connection_dropped_after_the_send_is_504_not_503(
        actord_factory, services, prefix, redis):
    """Redis ran the enqueue and then lost the connection before its reply
    left: the job is stored and will run, so the answer must not be 503
    ("not stored"), on which a client without an Idempotency-Key posts it
    again, but 504 ("may have been stored"). Here a script holds Redis while
    the enqueue and then a CLIENT KILL of actord's connections wait in
    Redis' input, and Redis runs them in that order."""
    a = start(actord_factory, jobs_config(services, prefix))
    Client(a.port).request("GET", "/jobs/" + "0" * 32)
    busy, killer = Redis(services["redis_port"]), Redis(services["redis_port"])
    ours = {redis.cmd("CLIENT", "ID"), busy.cmd("CLIENT", "ID"), killer.cmd("CLIENT", "ID")}
    actord_ids = [int(f[3:]) for line in redis.cmd("CLIENT", "LIST").decode().split("\n")
                  for f in line.split() if f.startswith("id=") and int(f[3:]) not in ours]
    hold = threading.Thread(target=lambda: busy.cmd(
        "EVAL", "local s = redis.call('TIME') repeat local t = redis.call('TIME') "
        "until (t[1] - s[1]) * 1000000 + (t[2] - s[2]) > 600000 return 1", "0"))
    hold.start()
    time.sleep(0.1)
    answer = {}
    post = threading.Thread(target=lambda: answer.update(r=Client(a.port).post_job("sleep")))
    post.start()
    time.sleep(0.2)
    killer.pipeline([["CLIENT", "KILL", "ID", i] for i in actord_ids])   # after the hold
    hold.join()
    post.join()
    busy.close()
    killer.close()
    (key,) = redis.cmd("KEYS", f"{prefix}:job:*")      # the enqueue ran before the kill
    status, _, body = answer["r"]
    assert status == 504, (status, body)
    wait_state(a, key.decode().rsplit(":", 1)[1], ["done"])


def test_a_reclaim_and_a_read_together_never_exceed_the_concurrency(actord_factory, services,
                                                                    prefix, redis):
    """jobs.concurrency bounds the runs of a job actor. Its blocking read
    waits for as many entries as it had free slots, and a reclaim meanwhile
    asked for as many again: a dead consumer's two deliveries taken over,
    then two new jobs, ran four at once with a concurrency of 2. What a
    full actor is delivered stays pending for it and starts when a slot
    frees."""
    stream = f"{prefix}:stream"
    redis.cmd("XGROUP", "CREATE", stream, "actord", "0", "MKSTREAM")
    for _ in range(2):
        job_id = uuid.uuid4().hex
        redis.cmd("HSET", f"{prefix}:job:{job_id}", "type", "sleep", "payload",
                  '{"seconds": 1.5}', "state", "queued", "attempts", "0", "redeliveries", "0")
        redis.cmd("XADD", stream, "*", "id", job_id)
    redis.cmd("XREADGROUP", "GROUP", "actord", "ghost", "COUNT", "2", "STREAMS", stream, ">")
    a = start(actord_factory, jobs_config(services, prefix, concurrency=2, reclaim_idle_ms=300))
    wait_until(lambda: metric(a, "jobs_reclaimed_total") == 2, 5, "the ghost's jobs taken over")
    c = Client(a.port)
    ids = [c.post_job("sleep", {"seconds": 0.5})[2]["id"] for _ in range(2)]
    most = 0
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        most = max(most, metric(a, "jobs_inflight"))
        time.sleep(0.02)
    assert most == 2
    for job_id in ids:
        assert wait_state(a, job_id, ["done"], timeout=10)["attempts"] == 1
