"""Nothing accepted is lost: 10,000 `sql` jobs posted by concurrent
keep-alive clients while actord is killed with SIGKILL and restarted three
times on the same configuration. Every job that got a 202 reaches `done`,
each job's effect (its row in job_results, keyed by the job id) exists
exactly once, no logical job was created twice (each client retries with
its Idempotency-Key until it gets a 202), and the runs the kills cut short
were redelivered and counted."""
import itertools
import threading
import time

from conftest import SLOW, free_port, wait_until
from job_util import (Client, ensure_job_results, job_states, jobs_config, metric, start,
                      unique_prefix)
from storage_util import Redis, mariadb

JOBS = 10000
CLIENTS = 16
KILLS = 3
SLEEPERS = 8          # long jobs surely running at each kill


class Posters:
    """CLIENTS threads posting JOBS sql jobs, each retried with its key
    until it is accepted."""

    def __init__(self, port, prefix):
        self.port = port
        self.prefix = prefix
        self.ids = {}
        self.errors = 0
        self.lock = threading.Lock()
        self.next = itertools.count()
        self.deadline = time.monotonic() + 90 * SLOW
        self.threads = [threading.Thread(target=self.run) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def run(self):
        c = Client(self.port, timeout=5)
        for i in iter(lambda: next(self.next), None):
            if i >= JOBS:
                break
            while time.monotonic() < self.deadline:
                try:
                    status, _, body = c.post_job("sql", {"args": [self.prefix]},
                                                 key=f"{self.prefix}-{i}")
                except OSError:
                    status, body = None, None
                if status == 202:
                    with self.lock:
                        self.ids[i] = body["id"]
                    break
                with self.lock:
                    self.errors += 1
                time.sleep(0.01)
        c.close()

    def accepted(self):
        with self.lock:
            return len(self.ids)

    def join(self):
        for t in self.threads:
            t.join(120)


def test_ten_thousand_jobs_survive_three_sigkills(actord_factory, services):
    ensure_job_results(services)
    prefix = unique_prefix()
    cfg = jobs_config(services, prefix, port=free_port(), concurrency=128, max_attempts=10)
    cfg["actors"]["mysql"] = {"count": 4}
    redis = Redis(services["redis_port"])
    a = start(actord_factory, cfg)
    t0 = time.monotonic()
    posters = Posters(a.port, prefix)
    sleepers = []
    for k in range(KILLS):
        wait_until(lambda: posters.accepted() >= (k + 1) * JOBS // (KILLS + 1), 60,
                   f"{(k + 1) * JOBS // (KILLS + 1)} accepted jobs")
        c = Client(a.port)
        ids = [c.post_job("sleep", {"seconds": 1}, key=f"{prefix}-sleep-{k}-{j}")[2]["id"]
               for j in range(SLEEPERS)]
        c.close()
        sleepers += ids
        wait_until(lambda: all(s["state"] == "running"
                               for s in job_states(redis, prefix, ids).values()), 10,
                   "the long jobs to run")
        a.check_exit = False
        a.proc.kill()
        a.proc.wait(10)
        a = start(actord_factory, cfg)
    posters.join()
    t_posted = time.monotonic()
    assert len(posters.ids) == JOBS, f"only {len(posters.ids)} of {JOBS} jobs accepted"
    ids = list(posters.ids.values())
    assert len(set(ids)) == JOBS, "two logical jobs got the same id"

    def all_done():
        states = job_states(redis, prefix, ids + sleepers)
        return all(s["state"] == "done" for s in states.values()) and states
    states = wait_until(all_done, 60, "every accepted job to be done", interval=0.2)
    t_done = time.monotonic()

    # No logical job was created twice: one hash per accepted job.
    keys = set()
    cursor = b"0"
    while True:
        cursor, batch = redis.cmd("SCAN", cursor, "MATCH", f"{prefix}:job:*", "COUNT", 10000)
        keys.update(batch)
        if cursor == b"0":
            break
    assert len(keys) == JOBS + len(sleepers)
    # Exactly one effect per job id.
    rows = mariadb(services, f"SELECT job_id, COUNT(*) FROM job_results WHERE note = '{prefix}' "
                             "GROUP BY job_id")
    assert len(rows) == JOBS
    assert all(n == "1" for _, n in rows)
    assert {j for j, _ in rows} == set(ids)
    # The kills cut runs short; those runs were redelivered and counted.
    for s in sleepers:
        assert int(states[s]["redeliveries"]) >= 1, (s, states[s])
    redelivered = sum(int(s["redeliveries"]) for s in states.values())
    assert redelivered >= KILLS * SLEEPERS
    reclaimed = metric(a, "jobs_reclaimed_total")
    if reclaimed is not None:
        assert reclaimed >= SLEEPERS     # the last restart recovered its own deliveries
    assert redis.cmd("XLEN", f"{prefix}:stream") == 0
    print(f"\n{JOBS} jobs: accepted in {t_posted - t0:.1f}s with {KILLS} kills "
          f"({posters.errors} refused or reset posts retried), all done "
          f"{t_done - t_posted:.1f}s later; {redelivered} redelivered runs")
    redis.close()
