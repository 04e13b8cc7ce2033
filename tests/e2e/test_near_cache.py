"""The near cache against a real redis-server (tests/services.sh): values
read through it (/_test/near/get, the shipped wallpaper list) are kept in
the handler's memory and dropped when Redis reports a write, whoever made
it; when the invalidation path breaks (connection killed, Redis
restarted) or Redis is flushed, every near copy goes, and the near cache
works again once the path is back; a path that stays connected but
stalls (a relay, StallingProxy) is declared down within its heartbeat's
timeout; a handler reads its own write even when a read raced it; a
refused set-up is logged once. Delays are measured and bounded."""
import json
import select
import socket
import threading
import time

from admin_helpers import JSON, admin_get, metric, metrics_of, wait_admin
from conftest import SLOW, free_port, wait_until
from storage_util import Redis, service, storage_config

WALLPAPERS = "/client/v3/wallpaper_4d/wallpaperList.json"
# Redis' invalidation crosses one local connection and one thread: a few
# ms at most on an idle machine; the bound leaves room for a busy one.
INVALIDATION_BOUND_S = 0.25


def near_config(services, **near):
    cfg = storage_config(services)
    cfg["actors"]["mysql"] = {"count": 2}
    cfg["near_cache"] = {"heartbeat_ms": 50,
                         "prefixes": ["world:", "wallpaperList:", "nctest:"]}
    cfg["near_cache"].update(near)
    return cfg


def m(a, name, **labels):
    return metric(metrics_of(a), name, **labels)


def near_up(a):
    return m(a, "actord_near_cache_up") == 1


def started(actord_factory, services, **near):
    a = wait_admin(actord_factory(near_config(services, **near)))
    wait_until(lambda: near_up(a), 5, "the invalidation path to come up")
    return a


def get(a, key):
    """(status, value or None, came from the near cache)."""
    r = a.get(f"/_test/near/get?key={key}")
    return r.status, (r.body.decode() if r.status == 200 else None), \
        r.headers.get("x-near-hit") == "1"


def cached(a, key, value):
    """Read `key` until a read is served from the near cache (the second,
    unless a heartbeat was late and the path flapped on a busy machine);
    every read must return `value`."""
    def hit():
        status, v, from_near = get(a, key)
        assert (status, v) == (200, value)
        return from_near
    wait_until(hit, 2, f"{key} to be served from the near cache")


def test_a_value_changed_by_another_client_is_never_served_after_its_invalidation(
        actord_factory, services, redis):
    a = started(actord_factory, services)
    key = "nctest:coherence"
    delays = []
    redis.cmd("SET", key, "v0")
    cached(a, key, "v0")
    for i in range(1, 31):
        before = m(a, "actord_near_cache_invalidations_total")
        t0 = time.monotonic()
        redis.cmd("SET", key, f"v{i}")
        wait_until(lambda: m(a, "actord_near_cache_invalidations_total") > before,
                   2, "the invalidation to arrive", interval=0.001)
        delays.append(time.monotonic() - t0)
        # The invalidation has arrived: the old value is gone for good.
        status, v, hit = get(a, key)
        assert (status, v, hit) == (200, f"v{i}", False), (i, status, v, hit)
        assert get(a, key) == (200, f"v{i}", True)
    delays.sort()
    print(f"invalidation delay (SET acknowledged -> metric seen): median "
          f"{delays[len(delays) // 2] * 1e3:.2f} ms, max {delays[-1] * 1e3:.2f} ms")
    assert delays[-1] < INVALIDATION_BOUND_S * SLOW, delays
    # The heartbeat measures the same path inside actord.
    assert 0 < m(a, "actord_near_cache_invalidation_delay_seconds") < INVALIDATION_BOUND_S * SLOW
    assert m(a, "actord_near_cache_hits_total", actor="handler-0") >= 30


def test_a_burst_of_writes_leaves_only_the_last_value(actord_factory, services, redis):
    """Reads race writes: whatever is kept, once the last invalidation is
    in, every read returns the last value."""
    a = started(actord_factory, services)
    key = "nctest:burst"
    redis.cmd("SET", key, "w0")
    for i in range(1, 101):
        redis.cmd("SET", key, f"w{i}")
        get(a, key)
    before = m(a, "actord_near_cache_invalidations_total")
    redis.cmd("SET", key, "last")
    wait_until(lambda: m(a, "actord_near_cache_invalidations_total") > before, 2,
               "the last invalidation", interval=0.001)
    for _ in range(20):
        assert get(a, key)[1] == "last"


def test_keys_outside_the_tracked_prefixes_are_never_kept(actord_factory, services, redis):
    a = started(actord_factory, services)
    redis.cmd("SET", "untracked:k", "u")
    for _ in range(3):
        assert get(a, "untracked:k") == (200, "u", False)
    # A route's own switch: near=0 reads Redis every time.
    redis.cmd("SET", "nctest:off", "o")
    for _ in range(3):
        r = a.get("/_test/near/get?key=nctest:off&near=0")
        assert (r.status, r.headers["x-near-hit"]) == (200, "0")


def test_the_invalidation_connection_killed_flushes_and_recovers(
        actord_factory, services, redis):
    a = started(actord_factory, services)
    key = "nctest:kill"
    redis.cmd("SET", key, "before")
    cached(a, key, "before")
    clients = redis.cmd("CLIENT", "LIST").decode().splitlines()
    ids = [c.split(" ")[0].split("=")[1] for c in clients if "name=actord-nearcache" in c]
    assert len(ids) == 1, clients
    losses = m(a, "actord_near_cache_path_losses_total")
    flushes = m(a, "actord_near_cache_flushes_total", actor="handler-0")
    # The write lands while nobody tracks for actord: no invalidation is
    # ever sent for it. Only the flush on loss keeps "before" from being
    # served.
    assert redis.pipeline([["CLIENT", "KILL", "ID", ids[0]], ["SET", key, "after"]]) == \
        [1, "OK"]
    wait_until(lambda: m(a, "actord_near_cache_path_losses_total") > losses, 2,
               "the loss to be noticed", interval=0.005)
    assert get(a, key)[1] == "after"
    wait_until(lambda: near_up(a), 5, "the invalidation path to come back")
    cached(a, key, "after")
    # Down and up again: the handler flushed once at least (twice if it
    # looked while the path was down).
    assert m(a, "actord_near_cache_flushes_total", actor="handler-0") > flushes


def test_redis_restarted_flushes_and_recovers(actord_factory, services, redis):
    a = started(actord_factory, services)
    key = "nctest:restart"
    redis.cmd("SET", key, "old")
    cached(a, key, "old")
    service(services, "kill", "redis")
    try:
        wait_until(lambda: not near_up(a), 2, "the path to go down")
        # Redis is down and the near copy is gone: 503, never "old".
        r = a.get(f"/_test/near/get?key={key}")
        assert r.status == 503, r.text
    finally:
        service(services, "start", "redis")
    r2 = Redis(services["redis_port"])

    def written():
        try:
            return r2.cmd("SET", key, "new") == "OK"
        except RuntimeError as e:   # LOADING: replaying its append-only file
            if "LOADING" not in str(e):
                raise
            return False
    try:
        wait_until(written, 10, "Redis to load its data")
        wait_until(lambda: near_up(a), 5, "the path to come back")
        assert get(a, key)[1] == "new"
        cached(a, key, "new")
    finally:
        r2.close()


def test_flushall_flushes_every_near_copy(actord_factory, services, redis):
    a = started(actord_factory, services)
    key = "nctest:flush"
    redis.cmd("SET", key, "kept")
    cached(a, key, "kept")
    orders = m(a, "actord_near_cache_flush_orders_total")
    redis.cmd("FLUSHALL")
    wait_until(lambda: m(a, "actord_near_cache_flush_orders_total") > orders, 2,
               "the flush to arrive", interval=0.005)
    assert get(a, key) == (404, None, False)
    redis.cmd("SET", key, "again")
    cached(a, key, "again")


def test_the_memory_bound_is_enforced(actord_factory, services, redis):
    limit = 64 * 1024
    a = started(actord_factory, services, max_bytes=limit)
    value = "x" * 1000
    redis.pipeline([["SET", f"nctest:mem:{i}", value] for i in range(300)])
    for i in range(300):
        assert get(a, f"nctest:mem:{i}")[1] == value
    held = m(a, "actord_near_cache_bytes", actor="handler-0")
    assert 0 < held <= limit
    assert m(a, "actord_near_cache_entries", actor="handler-0") < 300
    assert m(a, "actord_near_cache_evictions_total", actor="handler-0") > 0
    # Least recently used out first: the newest is here, the oldest not.
    assert get(a, "nctest:mem:299")[2] is True
    assert get(a, "nctest:mem:0")[2] is False


def test_a_write_through_one_instance_invalidates_the_others_copy(
        actord_factory, services, redis):
    a = started(actord_factory, services)
    b = started(actord_factory, services)
    key = "nctest:two"
    redis.cmd("SET", key, "first")
    cached(a, key, "first")
    cached(b, key, "first")
    t0 = time.monotonic()
    assert a.get(f"/_test/near/set?key={key}&value=second").status == 204
    # The writer's own copy went before the write: read-your-writes.
    assert get(a, key)[1] == "second"
    wait_until(lambda: get(b, key)[1] == "second", 2, "the other instance to see it",
               interval=0.001)
    delay = time.monotonic() - t0
    print(f"write through one instance -> the other serves it: {delay * 1e3:.2f} ms")
    assert delay < INVALIDATION_BOUND_S * SLOW
    for _ in range(20):
        assert get(b, key)[1] == "second"
    cached(b, key, "second")


def test_the_wallpaper_list_reads_through_the_near_cache(actord_factory, services, redis):
    a = started(actord_factory, services)
    page = WALLPAPERS + "?pageSize=3"
    first = a.get(page)
    assert first.status == 200
    wait_until(lambda: redis.cmd("EXISTS", "wallpaperList:3") == 1, 5, "the page in Redis")
    hits = m(a, "actord_near_cache_hits_total", actor="handler-0")
    for _ in range(5):
        assert a.get(page).body == first.body
    assert m(a, "actord_near_cache_hits_total", actor="handler-0") >= hits + 3
    # Somebody else rewrites the cached page: it is served once Redis said so.
    body = b'{"code":0,"data":[]}'
    redis.cmd("SET", "wallpaperList:3", body, "PX", 60000)
    wait_until(lambda: a.get(page).body == body, 2, "the new page", interval=0.002)
    redis.cmd("DEL", "wallpaperList:3")


def test_the_routes_own_switch_turns_the_near_cache_off(actord_factory, services, redis):
    cfg = near_config(services)
    cfg["app"] = {"wallpaper_near_cache": False, "world_near_cache": False}
    a = wait_admin(actord_factory(cfg))
    wait_until(lambda: near_up(a), 5, "the invalidation path to come up")
    for _ in range(5):
        assert a.get(WALLPAPERS + "?pageSize=2").status == 200
        assert a.get("/cached-queries?count=5").status == 200
    assert m(a, "actord_near_cache_hits_total", actor="handler-0") == 0


class StallingProxy:
    """A TCP relay between actord and the session's Redis that can stall
    what Redis sends to the near cache's invalidation connection (the one
    named actord-nearcache) while every other connection flows: a path
    that stays connected but carries nothing; and hold back one write on
    its way to Redis. `heartbeats` holds when each heartbeat write passed
    (monotonic)."""

    def __init__(self, redis_port):
        self.redis_port = redis_port
        self.stalled = False
        # A SET of this key (and what follows it on its connection) waits
        # in the relay while `holding`; `held` is set once one waits.
        self.hold_key = None
        self.holding = False
        self.held = threading.Event()
        self.heartbeats = []
        self.lsock = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.lsock.getsockname()[1]
        self.socks = [self.lsock]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.redis_port))
            self.socks += [c, s]
            threading.Thread(target=self._relay, args=(c, s), daemon=True).start()

    def _relay(self, c, s):
        is_sub = False
        queued = []
        try:
            while True:
                if queued and not self.holding:
                    s.sendall(b"".join(queued))
                    queued = []
                # Nothing is read from Redis for a stalled invalidation
                # connection: its messages wait in Redis' output buffer.
                watch = [c] if is_sub and self.stalled else [c, s]
                ready, _, _ = select.select(watch, [], [], 0.01)
                for r in ready:
                    if r is s and is_sub and self.stalled:
                        continue   # stalled while select() waited
                    data = r.recv(65536)
                    if not data:
                        return
                    if r is c:
                        is_sub = is_sub or b"actord-nearcache" in data
                        if b"actord:nearcache:hb:" in data:
                            self.heartbeats.append(time.monotonic())
                        if self.holding and (queued or (
                                self.hold_key is not None and self.hold_key in data
                                and b"SET\r\n" in data)):
                            queued.append(data)
                            self.held.set()
                            continue
                    (s if r is c else c).sendall(data)
        except OSError:
            return
        finally:
            c.close()
            s.close()

    def close(self):
        for x in self.socks:
            x.close()


def test_a_stalled_invalidation_connection_is_declared_down_within_the_timeout(
        actord_factory, services, redis):
    """The invalidation connection stays open but delivers nothing (a
    stalled peer, a half-dead network path): the write below is never
    reported. The heartbeat sent next must be missed, and the near cache
    bypassed, redis.command_timeout_ms after it left, not a whole
    heartbeat period later; while bypassed every lookup counts a miss."""
    proxy = StallingProxy(services["redis_port"])
    timeout_ms, period_ms = 200, 2500
    try:
        cfg = near_config(services, heartbeat_ms=period_ms)
        cfg["redis"].update({"port": proxy.port, "command_timeout_ms": timeout_ms})
        a = wait_admin(actord_factory(cfg))
        wait_until(lambda: near_up(a), 5, "the invalidation path to come up")
        key = "nctest:stall"
        redis.cmd("SET", key, "before")
        cached(a, key, "before")
        proxy.stalled = True
        redis.cmd("SET", key, "after")
        beats = len(proxy.heartbeats)
        wait_until(lambda: len(proxy.heartbeats) > beats, 2 * period_ms / 1000,
                   "the next heartbeat")
        sent = proxy.heartbeats[beats]
        # Until the path is declared down the old value may be served: no
        # longer than the heartbeat's timeout after it left.
        wait_until(lambda: get(a, key)[1] == "after", period_ms / 1000,
                   "the stale value to go", interval=0.005)
        late = time.monotonic() - sent
        print(f"stalled path: stale value served {late * 1e3:.0f} ms after the heartbeat")
        # Without the deadline it was a whole period (2.5 s).
        assert late < (timeout_ms / 1000 + 1.0) * SLOW, late
        assert not near_up(a)
        misses = m(a, "actord_near_cache_misses_total", actor="handler-0")
        for _ in range(5):
            assert get(a, key) == (200, "after", False)
        assert m(a, "actord_near_cache_misses_total", actor="handler-0") >= misses + 5
        proxy.stalled = False
        wait_until(lambda: near_up(a), 5, "the path to be remade")
        cached(a, key, "after")
    finally:
        proxy.close()


def test_a_retired_handlers_near_cache_shows_it_holds_nothing(
        actord_factory, services, redis):
    """The handler pool shrinks: the retired handler's near cache is freed,
    and its gauges say so (the process' near memory is their sum)."""
    cfg = near_config(services)
    cfg["actors"]["handler"] = {"count": 2}
    a = wait_admin(actord_factory(cfg))
    wait_until(lambda: near_up(a), 5, "the invalidation path to come up")
    redis.pipeline([["SET", f"nctest:retire:{i}", "v"] for i in range(20)])

    def both_hold():
        for i in range(20):
            get(a, f"nctest:retire:{i}")
        return all(m(a, "actord_near_cache_entries", actor=f"handler-{h}") > 0
                   for h in (0, 1))
    wait_until(both_hold, 5, "both handlers to keep values")

    def shrink():
        r = admin_get(a, "/admin/actors/handler", method="POST", headers=JSON,
                      body=json.dumps({"count": 1}).encode())
        assert r.status in (200, 503), r.text
        return r.status == 200
    wait_until(shrink, 5, "the pool to shrink")
    wait_until(lambda: m(a, "actord_near_cache_entries", actor="handler-1") == 0, 5,
               "the retired handler's entries gauge to fall to 0")
    assert m(a, "actord_near_cache_bytes", actor="handler-1") == 0


def test_a_handler_reads_its_own_write_even_when_a_read_raced_it(
        actord_factory, services, redis):
    """hreq_cache_forget, then a write that takes a while; meanwhile a read
    of the same key leaves on another cache connection, after an unrelated
    invalidation (a heartbeat) came in, and brings the old value back.
    Once the write is answered, this handler must not serve that old value
    even if the write's own invalidation is still on its way."""
    proxy = StallingProxy(services["redis_port"])
    try:
        cfg = near_config(services)
        cfg["redis"]["port"] = proxy.port
        cfg["actors"]["cache"] = {"count": 2}   # the read takes the other one
        a = wait_admin(actord_factory(cfg))
        wait_until(lambda: near_up(a), 5, "the invalidation path to come up")
        key = "nctest:ryw"
        redis.cmd("SET", key, "old")
        cached(a, key, "old")
        proxy.hold_key, proxy.holding = key.encode(), True
        done = {}
        writer = threading.Thread(target=lambda: done.setdefault(
            "status", a.get(f"/_test/near/set?key={key}&value=new").status))
        writer.start()
        assert proxy.held.wait(5 * SLOW), "the write never reached the relay"
        beats = m(a, "actord_near_cache_heartbeats_total")
        wait_until(lambda: m(a, "actord_near_cache_heartbeats_total") > beats, 2,
                   "a heartbeat after the forget", interval=0.005)
        # The write's invalidation will be late: nothing reaches the near
        # actor from now on (less than redis.command_timeout_ms).
        proxy.stalled = True
        assert get(a, key)[1] == "old"   # read while the write is held
        proxy.holding = False
        writer.join(5 * SLOW)
        assert done.get("status") == 204
        assert get(a, key)[1] == "new"
        proxy.stalled = False
    finally:
        proxy.holding = proxy.stalled = False
        proxy.close()


def test_a_refused_set_up_is_logged_once_and_asked_again(actord_factory, services, redis):
    """Redis refuses CLIENT TRACKING (here an ACL; an old Redis alike): the
    near cache stays bypassed, the refusal is logged once, not every
    redis.command_timeout_ms with a reconnection each time, and set-up is
    asked again on the same connection, so fixing the ACL brings it up."""
    redis.cmd("ACL", "SETUSER", "default", "-client|tracking")
    try:
        cfg = near_config(services)
        cfg["redis"]["command_timeout_ms"] = 200
        a = wait_admin(actord_factory(cfg))
        wait_until(lambda: "refused CLIENT TRACKING" in a.stderr(), 5, "the refusal")
        time.sleep(1.5)   # asked again at 0.4 s and 1.2 s: quietly
        log = a.stderr()
        assert log.count("refused CLIENT TRACKING") == 1, log
        assert "set-up did not complete" not in log, log
        assert not near_up(a)
    finally:
        redis.cmd("ACL", "SETUSER", "default", "+client|tracking")
    wait_until(lambda: near_up(a), 5, "the path to come up once allowed")
