"""Redis Sentinel (issue 21): a primary, a replica and three Sentinels on
127.0.0.1, started here with their data in the test's tmp dir. actord is
told only the Sentinels (its redis.host/port point at a closed port). The
primary is killed (SIGKILL) while clients read a cached route and post
jobs: the cached route must answer 200 again within 2 s of the first
Sentinel naming the new primary, and every job answered 202 must end
`done` on the new primary (jobs.wait_replicas = 1: a 202 means the replica
had it); the WebSocket pub/sub connection subscribes again on the new
primary. Release build only; bounded to well under a minute.

Ports: ACTORD_TEST_SENTINEL_PORT names the first of five consecutive
ports (primary, replica, three Sentinels) so parallel runs on one machine
stay apart; unset, free ports are taken."""
import json
from collections import Counter
import os
import subprocess
import threading
import time

import pytest

from conftest import free_port, wait_until
from job_util import Client, job_states, metric, unique_prefix
from storage_util import Redis
from ws_util import RawWs

MASTER = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
WORLD_ROWS = 10000
READERS = 4
POSTERS = 2
RECOVERY_S = 2.0
BASE_PORT = int(os.environ.get("ACTORD_TEST_SENTINEL_PORT", "0"))
ROOM_CHANNEL = "actord:ws:chat:lobby"


def redis_up(port):
    try:
        r = Redis(port)
        try:
            return r.cmd("PING") == "PONG"
        finally:
            r.close()
    except (OSError, EOFError, RuntimeError):
        return False


class Servers:
    """The Redis primary and replica and three Sentinels: child processes
    with their files under `root`, all killed at teardown."""

    def __init__(self, root):
        self.root = root
        self.procs = {}
        ports = (list(range(BASE_PORT, BASE_PORT + 5)) if BASE_PORT
                 else [free_port() for _ in range(5)])
        self.primary, self.replica = ports[0], ports[1]
        self.sentinels = ports[2:]

    def _spawn(self, name, argv):
        d = os.path.join(self.root, name)
        os.makedirs(d, exist_ok=True)
        log = open(os.path.join(d, "out.log"), "wb")
        self.procs[name] = subprocess.Popen(argv, cwd=d, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return d

    def _redis(self, name, port, *extra):
        d = os.path.join(self.root, name)
        self._spawn(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--dir", d, "--save", "", "--appendonly", "yes",
                           "--appendfsync", "always", "--repl-diskless-sync", "yes",
                           "--repl-diskless-sync-delay", "0", *extra])

    def start(self):
        self._redis("primary", self.primary)
        self._redis("replica", self.replica, "--replicaof", "127.0.0.1", str(self.primary))
        for i, port in enumerate(self.sentinels):
            d = os.path.join(self.root, f"sentinel{i}")
            os.makedirs(d, exist_ok=True)
            conf = os.path.join(d, "sentinel.conf")
            with open(conf, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\ndir {d}\n"
                        f"sentinel monitor {MASTER} 127.0.0.1 {self.primary} 2\n"
                        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                        f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                        f"sentinel parallel-syncs {MASTER} 1\n")
            self._spawn(f"sentinel{i}", ["redis-sentinel", conf])
        for port in [self.primary, self.replica] + self.sentinels:
            wait_until(lambda: redis_up(port), 10, f"redis/sentinel on port {port}")

    def kill(self, name):
        self.procs[name].kill()
        self.procs[name].wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()

    def named_primary(self, port):
        """The primary Sentinel at `port` names, as a port (None if down)."""
        try:
            r = Redis(port)
            try:
                addr = r.cmd("SENTINEL", "get-master-addr-by-name", MASTER)
            finally:
                r.close()
        except (OSError, EOFError, RuntimeError):
            return None
        return int(addr[1]) if addr else None

    def numsub(self, port, channel):
        r = Redis(port)
        try:
            return r.cmd("PUBSUB", "NUMSUB", channel)[1]
        finally:
            r.close()

    def ready(self):
        """The replica is in sync and every Sentinel knows the replica and
        the two other Sentinels (failover needs both)."""
        r = Redis(self.primary)
        try:
            info = r.cmd("INFO", "replication").decode()
        finally:
            r.close()
        if "state=online" not in info:
            return False
        for port in self.sentinels:
            s = Redis(port)
            try:
                if (len(s.cmd("SENTINEL", "replicas", MASTER)) != 1 or
                        len(s.cmd("SENTINEL", "sentinels", MASTER)) != 2):
                    return False
            finally:
                s.close()
        return True


@pytest.fixture
def servers(tmp_path):
    s = Servers(str(tmp_path / "redis"))
    try:
        s.start()
        yield s
    finally:
        s.stop()


def load_worlds(port):
    r = Redis(port)
    try:
        for lo in range(1, WORLD_ROWS + 1, 1000):
            args = ["MSET"]
            for i in range(lo, min(lo + 1000, WORLD_ROWS + 1)):
                args += [f"world:{i}", json.dumps({"id": i, "randomNumber": i % 10000 + 1},
                                                  separators=(",", ":"))]
            r.cmd(*args)
        # The replica has them before anything is killed.
        assert r.cmd("WAIT", 1, 5000) == 1
    finally:
        r.close()


class Load:
    """Readers of /cached-queries and posters of `sleep` jobs, each on its
    own keep-alive connection, recording (time, status)."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.reads = []
        self.posts = []
        self.accepted = []
        self.threads = [threading.Thread(target=self.read) for _ in range(READERS)]
        self.threads += [threading.Thread(target=self.post) for _ in range(POSTERS)]
        for t in self.threads:
            t.start()

    def _request(self, c, method, path, body=None):
        try:
            return c.request(method, path, body)
        except OSError:
            return None, None, None

    def read(self):
        c = Client(self.port, timeout=5)
        while not self.stop.is_set():
            status, _, _ = self._request(c, "GET", "/cached-queries?count=5")
            with self.lock:
                self.reads.append((time.monotonic(), status))
        c.close()

    def post(self):
        c = Client(self.port, timeout=5)
        while not self.stop.is_set():
            status, _, body = self._request(c, "POST", "/jobs",
                                            {"type": "sleep", "payload": {"seconds": 0}})
            with self.lock:
                self.posts.append((time.monotonic(), status))
                if status == 202:
                    self.accepted.append(body["id"])
            if status != 202:
                time.sleep(0.01)
        c.close()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def start_actord(actord_factory, servers, prefix):
    """actord told only the Sentinels (redis.host/port name a closed port),
    serving the cached route through Redis (no near cache for the rows)
    and a job queue whose 202 waits for one replica."""
    a = actord_factory({
        "actors": {"cache": {"count": 2}, "job": {"count": 1}},
        "redis": {"port": free_port(),
                  "sentinels": [f"127.0.0.1:{p}" for p in servers.sentinels],
                  "sentinel_master": MASTER, "connect_timeout_ms": 500,
                  "command_timeout_ms": 1000, "reconnect_max_ms": 200},
        "app": {"world_near_cache": False},
        "websocket": {"redis": True},
        "jobs": {"prefix": prefix, "reclaim_idle_ms": 1000, "retry_poll_ms": 100,
                 "block_ms": 200, "wait_replicas": 1, "wait_timeout_ms": 500},
    })
    c = Client(a.port)
    wait_until(lambda: c.request("GET", "/cached-queries?count=1")[0] == 200, 10,
               "cached route served through Sentinel's primary")
    c.close()
    return a


def wait_all_done(port, prefix, ids):
    r = Redis(port)
    try:
        def all_done():
            states = job_states(r, prefix, ids, fields=("state",))
            return all(v["state"] == "done" for v in states.values())
        try:
            wait_until(all_done, 30, f"all {len(ids)} accepted jobs done")
        except AssertionError:
            states = job_states(r, prefix, ids, fields=("state",))
            raise AssertionError(f"job states: {Counter(v['state'] for v in states.values())}, "
                                 f"stream: {r.cmd('XINFO', 'GROUPS', prefix + ':stream')}")
    finally:
        r.close()


def test_failover_under_load_recovers_and_loses_no_job(actord_factory, servers):
    wait_until(servers.ready, 20, "replica in sync and Sentinels aware of each other")
    load_worlds(servers.primary)
    prefix = unique_prefix()
    a = start_actord(actord_factory, servers, prefix)
    member = RawWs(a.port, "/ws/chat/lobby")
    wait_until(lambda: servers.numsub(servers.primary, ROOM_CHANNEL) == 1, 10,
               "the pub/sub connection subscribed on the primary")
    load = Load(a.port)
    try:
        wait_until(lambda: len(load.accepted) >= 50, 10, "jobs accepted before the kill")
        t_kill = time.monotonic()
        servers.kill("primary")
        t_switch = None
        deadline = t_kill + 20
        while t_switch is None and time.monotonic() < deadline:
            if any(servers.named_primary(p) == servers.replica for p in servers.sentinels):
                t_switch = time.monotonic()
            else:
                time.sleep(0.02)
        assert t_switch is not None, "no Sentinel promoted the replica within 20 s"
        # The pub/sub connection follows as the others do.
        wait_until(lambda: servers.numsub(servers.replica, ROOM_CHANNEL) == 1, RECOVERY_S,
                   "the pub/sub connection subscribed again on the new primary")
        t_sub = time.monotonic() - t_switch
        time.sleep(max(0.0, t_switch + RECOVERY_S + 3.0 - time.monotonic()))
    finally:
        load.join()
    member.close()

    with load.lock:
        reads = list(load.reads)
        posts = list(load.posts)
        accepted = list(load.accepted)
    before = [s for t, s in reads if t < t_kill]
    after = [(t, s) for t, s in reads if t > t_switch + RECOVERY_S]
    assert before and set(before) == {200}, f"reads before the kill: {set(before)}"
    # Recovered within the failover time plus 2 s, and stayed recovered.
    assert len(after) > 50, "too few reads after the recovery window"
    bad = [(round(t - t_switch, 3), s) for t, s in after if s != 200]
    assert not bad, f"reads failing later than {RECOVERY_S}s after the switch: {bad[:10]}"
    # During the outage a failing read is a 503 (or 504), never a 500.
    assert {s for _, s in reads} <= {200, 503, 504}, {s for _, s in reads}
    assert {s for _, s in posts} <= {202, 503, 504}, {s for _, s in posts}

    # Every job answered 202 ends done on the new primary.
    wait_all_done(servers.replica, prefix, accepted)
    assert metric(a, "backend_failovers_total", 'backend="redis",actor="cache-0"') == 1
    assert metric(a, "backend_failovers_total", 'backend="redis-jobs",actor="job-0"') == 1
    assert metric(a, "backend_failovers_total",
                  'backend="redis_subscribe",actor="pubsub-0"') == 1
    fails = [t for t, s in reads if s != 200 and t > t_kill]
    print(f"failover: {t_switch - t_kill:.2f}s after the kill; {len(accepted)} jobs accepted; "
          f"{len(fails)} reads failed during it, the last "
          f"{(max(fails) - t_switch) if fails else 0:.2f}s after the switch; "
          f"pub/sub back {t_sub:.2f}s after the switch")


def test_switchover_moves_writes_to_the_new_primary(actord_factory, servers):
    """SENTINEL FAILOVER: the old primary stays up as a replica. Writes
    (job enqueues, which WAIT for a replica) keep being accepted after the
    switch, and every accepted job is done on the new primary: nothing was
    written to the demoted server."""
    wait_until(servers.ready, 20, "replica in sync and Sentinels aware of each other")
    load_worlds(servers.primary)
    prefix = unique_prefix()
    a = start_actord(actord_factory, servers, prefix)
    load = Load(a.port)
    try:
        wait_until(lambda: len(load.accepted) >= 50, 10, "jobs accepted before the switch")
        s = Redis(servers.sentinels[0])
        try:
            assert s.cmd("SENTINEL", "failover", MASTER) == "OK"
        finally:
            s.close()
        wait_until(lambda: servers.named_primary(servers.sentinels[0]) == servers.replica, 20,
                   "the replica promoted")
        t_switch = time.monotonic()
        n = len(load.accepted)
        wait_until(lambda: len(load.accepted) >= n + 50, 15 + RECOVERY_S,
                   "jobs accepted after the switch")
        time.sleep(0.5)
    finally:
        load.join()
    with load.lock:
        reads = list(load.reads)
        posts = list(load.posts)
        accepted = list(load.accepted)
    assert {s for _, s in reads} <= {200, 503, 504}, {s for _, s in reads}
    assert {s for _, s in posts} <= {202, 503, 504}, {s for _, s in posts}
    late = [s for t, s in reads if t > t_switch + RECOVERY_S]
    assert late and set(late) == {200}, f"reads {RECOVERY_S}s after the switch: {set(late)}"
    wait_all_done(servers.replica, prefix, accepted)
    assert metric(a, "backend_failovers_total", 'backend="redis",actor="cache-0"') == 1
