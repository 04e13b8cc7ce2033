"""Run-time DNS for the upstream client (issue 19): a name whose address
changes while actord runs, answered by a test resolver (dns_server.py)
that upstream.resolver points at."""
import socket
import time

import pytest

from admin_helpers import metric, metrics_of, undocumented_metrics, wait_admin
from conftest import SLOW, wait_until
from dns_server import DnsServer
from tls_upstream import stderr_has
from upstream_server import UpstreamServer, upstream  # noqa: F401 (fixture)


@pytest.fixture
def two_upstreams():
    """The same port on 127.0.0.1 and 127.0.0.2 (both loopback)."""
    a = UpstreamServer("127.0.0.1")
    b = UpstreamServer("127.0.0.2", a.port)
    yield a, b
    a.close()
    b.close()


def dns_config(dns, port, **up):
    cfg = {"url": f"http://svc.test:{port}/bye", "resolver": dns.address,
           "dns_ttl_min_ms": 100, "dns_ttl_max_ms": 60000,
           "proxy": [{"prefix": "/svc/", "to": f"http://svc.test:{port}/"},
                     {"prefix": "/nowhere/", "to": f"http://nowhere.test:{port}/"}]}
    cfg.update(up)
    return {"upstream": cfg}


def test_new_connections_follow_an_address_change_within_the_ttl(actord_factory, two_upstreams):
    a_srv, b_srv = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1"]}, ttl=1)
    try:
        a = actord_factory(dns_config(dns, a_srv.port))
        # /bye closes each connection: every call opens a new one.
        for _ in range(5):
            r = a.get("/svc/bye")
            assert (r.status, r.body) == (200, b"bye 127.0.0.1")
        assert dns.count("svc.test") >= 1
        dns.records["svc.test"] = ["127.0.0.2"]

        def moved():
            return a.get("/svc/bye").body == b"bye 127.0.0.2"
        # TTL 1 s: new connections must have moved within about that.
        wait_until(moved, 3, "calls to reach the new address")
        for _ in range(5):
            assert a.get("/svc/bye").body == b"bye 127.0.0.2"
    finally:
        dns.close()


def test_connections_spread_over_every_address(actord_factory, two_upstreams):
    a_srv, b_srv = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1", "127.0.0.2"]}, ttl=60)
    try:
        a = actord_factory(dns_config(dns, a_srv.port))
        seen = [a.get("/svc/bye").body for _ in range(10)]
        assert seen.count(b"bye 127.0.0.1") == 5
        assert seen.count(b"bye 127.0.0.2") == 5
        assert dns.count("svc.test") <= 2      # A (+ AAAA) once: cached for the TTL
    finally:
        dns.close()


def test_a_connect_failure_looks_the_name_up_again(actord_factory, two_upstreams):
    a_srv, b_srv = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1"]}, ttl=3600)
    try:
        a = actord_factory(dns_config(dns, a_srv.port))
        assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        asked = dns.count("svc.test")
        # The service moves; the old address refuses. The TTL is an hour.
        dns.records["svc.test"] = ["127.0.0.2"]
        a_srv.close()
        wait_until(lambda: a.get("/svc/bye").body == b"bye 127.0.0.2", 5,
                   "the call after a refused connect to reach the new address")
        assert dns.count("svc.test") > asked
    finally:
        dns.close()


def test_a_name_that_does_not_resolve_is_503_with_the_reason(actord_factory, two_upstreams):
    a_srv, _ = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1"]})
    try:
        a = actord_factory(dns_config(dns, a_srv.port))
        r = a.get("/nowhere/bye")
        assert r.status == 503
        assert r.headers.get("retry-after") == "1"
        assert stderr_has(a, "cannot resolve the host (Domain name not found)")
        # The admin listener starts after the public one (slow under TSan).
        assert 'kind="dns"' in wait_admin(a).admin("GET", "/metrics").text
        # The rest keeps working.
        assert a.get("/svc/bye").status == 200
    finally:
        dns.close()


def test_a_silent_resolver_is_a_timeout_not_a_hang(actord_factory, two_upstreams):
    a_srv, _ = two_upstreams
    dns = DnsServer({})
    dns.close()                 # nothing answers on that port any more
    a = actord_factory(dns_config(dns, a_srv.port, connect_timeout_ms=500))
    r = a.get("/svc/bye")
    assert r.status in (503, 504)
    assert stderr_has(a, "upstream svc.test")


def test_the_ttl_floor_and_ceiling_bound_how_long_an_answer_is_kept(actord_factory,
                                                                     two_upstreams):
    a_srv, b_srv = two_upstreams
    # Ceiling: the resolver says an hour, dns_ttl_max_ms says 300 ms.
    dns = DnsServer({"svc.test": ["127.0.0.1"]}, ttl=3600)
    try:
        a = actord_factory(dns_config(dns, a_srv.port, dns_ttl_min_ms=0, dns_ttl_max_ms=300))
        assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        dns.records["svc.test"] = ["127.0.0.2"]
        wait_until(lambda: a.get("/svc/bye").body == b"bye 127.0.0.2", 3,
                   "the capped TTL to expire")
    finally:
        dns.close()
    # Floor: the resolver says 0 s, dns_ttl_min_ms keeps the answer 60 s.
    dns = DnsServer({"svc.test": ["127.0.0.1"]}, ttl=0)
    try:
        a = actord_factory(dns_config(dns, a_srv.port, dns_ttl_min_ms=60000))
        for _ in range(10):
            assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        assert dns.count("svc.test") <= 2          # one lookup (A and AAAA)
    finally:
        dns.close()



def refusing(host, port):
    """A socket bound to host:port that does not listen: connects to it
    are refused (UpstreamServer.close leaves its socket listening while
    its accept thread waits)."""
    s = socket.socket()
    s.bind((host, port))
    return s


def test_a_refused_address_goes_on_to_the_next_one(actord_factory, upstream):
    dead = refusing("127.0.0.2", upstream.port)
    dns = DnsServer({"svc.test": ["127.0.0.2", "127.0.0.1"]}, ttl=60)
    try:
        a = actord_factory(dns_config(dns, upstream.port))
        # Round-robin hands 127.0.0.2 to every other new connection
        # (/bye closes each): none of the calls may fail for it.
        for _ in range(6):
            r = a.get("/svc/bye")
            assert (r.status, r.body) == (200, b"bye 127.0.0.1")
        assert stderr_has(a, "connect failed, trying the next address (127.0.0.2: ")
        assert dns.count("svc.test") <= 2      # not looked up again: one address answers
    finally:
        dns.close()
        dead.close()


def test_every_address_refusing_is_one_503(actord_factory):
    dead = [refusing("127.0.0.1", 0)]
    port = dead[0].getsockname()[1]
    dead.append(refusing("127.0.0.2", port))
    dns = DnsServer({"svc.test": ["127.0.0.1", "127.0.0.2"]}, ttl=60)
    try:
        a = actord_factory(dns_config(dns, port))
        r = a.get("/svc/bye")
        assert r.status == 503
        assert stderr_has(a, "connect failed, trying the next address (127.0.0.1: ")
        assert stderr_has(a, "connect failed (connection refused)")
    finally:
        dns.close()
        for s in dead:
            s.close()


def test_an_address_that_drops_the_syn_leaves_time_for_the_next_one(actord_factory, upstream):
    # 127.0.0.2: a listener whose accept queue is full drops the SYN.
    lst = socket.socket()
    lst.bind(("127.0.0.2", upstream.port))
    lst.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.2", upstream.port))
        fillers.append(s)
    time.sleep(0.2)
    dns = DnsServer({"svc.test": ["127.0.0.2", "127.0.0.1"]}, ttl=60)
    try:
        a = actord_factory(dns_config(dns, upstream.port, connect_timeout_ms=1000))
        for _ in range(4):
            t0 = time.monotonic()
            r = a.get("/svc/bye")
            assert (r.status, r.body) == (200, b"bye 127.0.0.1")
            assert time.monotonic() - t0 < 0.9    # half the connect timeout, then the next
        assert stderr_has(a, "connect timed out, trying the next address (127.0.0.2: ")
    finally:
        dns.close()
        for s in fillers:
            s.close()
        lst.close()


def test_every_address_dropping_the_syn_is_one_504_at_the_connect_timeout(actord_factory):
    held, dead = [], []
    for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        lst = socket.socket()
        lst.bind((host, dead[0].getsockname()[1] if dead else 0))
        lst.listen(0)
        dead.append(lst)
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(lst.getsockname())
            held.append(s)
    time.sleep(0.2)
    dns = DnsServer({"svc.test": ["127.0.0.1", "127.0.0.2", "127.0.0.3"]}, ttl=60)
    try:
        a = actord_factory(dns_config(dns, dead[0].getsockname()[1], connect_timeout_ms=900))
        t0 = time.monotonic()
        r = a.get("/svc/bye")
        # A third of the timeout each, then the last share: 504 at about
        # the connect timeout, never early, never a hang.
        assert r.status == 504
        assert 0.8 < time.monotonic() - t0 < 3
        assert stderr_has(a, "connect timed out (")
    finally:
        dns.close()
        for s in held + dead:
            s.close()


def upstream_metric(a, name, port):
    return metric(metrics_of(wait_admin(a)), f"actord_upstream_{name}",
                  upstream=f"svc.test:{port}", actor="upstream-0")


def test_a_refused_address_is_skipped_by_new_connections_for_a_while(actord_factory, upstream):
    dead = refusing("127.0.0.2", upstream.port)
    dns = DnsServer({"svc.test": ["127.0.0.2", "127.0.0.1"]}, ttl=60)
    try:
        a = actord_factory(dns_config(dns, upstream.port))
        # /bye closes each connection: eight calls, eight new connections.
        for _ in range(8):
            r = a.get("/svc/bye")
            assert (r.status, r.body) == (200, b"bye 127.0.0.1")
        # One refused connect marks 127.0.0.2 down: the seven connections
        # after it skip it instead of paying a refused connect each
        # (round-robin alone would hand it to every other one).
        assert upstream_metric(a, "connections_opened_total", upstream.port) == 8 + 1
        assert upstream_metric(a, "addresses_marked_down_total", upstream.port) == 1
        assert undocumented_metrics(a)[0] == []        # docs/ADMIN.md names every family
    finally:
        dns.close()
        dead.close()


@pytest.mark.parametrize("period", [0.3, 0])
def test_fail_timeout_ms_sets_how_long_a_refused_address_is_skipped(actord_factory, upstream,
                                                                   period):
    """upstream.fail_timeout_ms (nginx's fail_timeout): a short period,
    then the address is tried again (and marked again); 0: never skipped,
    so round robin hands it to every other new connection."""
    fail_timeout_ms = int(period * SLOW * 1000)
    dead = refusing("127.0.0.2", upstream.port)
    dns = DnsServer({"svc.test": ["127.0.0.2", "127.0.0.1"]}, ttl=60)
    try:
        a = actord_factory(dns_config(dns, upstream.port, fail_timeout_ms=fail_timeout_ms))
        for _ in range(4):
            assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        time.sleep(fail_timeout_ms / 1000 + 0.2)
        for _ in range(4):
            assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        refused = upstream_metric(a, "connections_opened_total", upstream.port) - 8
        marked = upstream_metric(a, "addresses_marked_down_total", upstream.port)
        if fail_timeout_ms:
            assert (refused, marked) == (2, 2)     # once per period
        else:
            assert (refused, marked) == (4, 0)     # every other connection
    finally:
        dns.close()
        dead.close()


def test_addresses_all_marked_down_are_still_tried(actord_factory):
    dead = [refusing("127.0.0.1", 0)]
    port = dead[0].getsockname()[1]
    dead.append(refusing("127.0.0.2", port))
    dns = DnsServer({"svc.test": ["127.0.0.1", "127.0.0.2"]}, ttl=60)
    srv = None
    try:
        a = actord_factory(dns_config(dns, port))
        assert a.get("/svc/bye").status == 503          # both refused: both marked down
        assert upstream_metric(a, "addresses_marked_down_total", port) == 2
        # One comes back within the down period: being marked refuses nothing.
        dead.pop().close()
        srv = UpstreamServer("127.0.0.2", port)
        r = a.get("/svc/bye")
        assert (r.status, r.body) == (200, b"bye 127.0.0.2")
    finally:
        dns.close()
        for s in dead:
            s.close()
        if srv is not None:
            srv.close()


def test_a_failing_resolver_keeps_the_last_good_addresses(actord_factory, two_upstreams):
    a_srv, _ = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1"]}, ttl=0)
    try:
        # The answer expires after 100 ms: every call after that asks again.
        a = actord_factory(dns_config(dns, a_srv.port, dns_ttl_min_ms=0, dns_ttl_max_ms=100))
        assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        asked = dns.count("svc.test")
        dns.servfail.add("svc.test")
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            r = a.get("/svc/bye")
            assert (r.status, r.body) == (200, b"bye 127.0.0.1")
            time.sleep(0.1)
        assert dns.count("svc.test") > asked          # it did ask, and was refused
        assert stderr_has(a, "name lookup failed, using the last good addresses (")
        assert upstream_metric(a, "dns_stale_total", a_srv.port) >= 1
        # The resolver recovers with a new address: followed again.
        dns.records["svc.test"] = ["127.0.0.2"]
        dns.servfail.clear()
        wait_until(lambda: a.get("/svc/bye").body == b"bye 127.0.0.2", 5,
                   "the recovered resolver's answer to be used")
    finally:
        dns.close()


def test_a_silent_resolver_neither_delays_nor_fails_calls_to_a_resolved_name(actord_factory,
                                                                             two_upstreams):
    a_srv, _ = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1"]}, ttl=0)
    try:
        a = actord_factory(dns_config(dns, a_srv.port, dns_ttl_min_ms=0, dns_ttl_max_ms=100,
                                      connect_timeout_ms=int(500 * SLOW)))
        assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        dns.silent.add("svc.test")
        time.sleep(0.2)                                # the answer expired
        # The refresh waits on a resolver that never answers (c-ares'
        # timeouts are seconds): the expired answer serves meanwhile, well
        # within the connect timeout a waiting call would hit.
        for _ in range(10):
            t0 = time.monotonic()
            r = a.get("/svc/bye")
            assert (r.status, r.body) == (200, b"bye 127.0.0.1")
            assert time.monotonic() - t0 < 0.4 * SLOW
            time.sleep(0.1)
    finally:
        dns.close()


def test_a_name_that_never_resolved_fails_when_the_resolver_fails(actord_factory, two_upstreams):
    a_srv, _ = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1"]})
    dns.servfail.add("svc.test")
    try:
        a = actord_factory(dns_config(dns, a_srv.port))
        r = a.get("/svc/bye")
        assert r.status == 503
        assert stderr_has(a, "cannot resolve the host (")
    finally:
        dns.close()


def test_a_name_whose_answer_says_it_is_gone_fails_its_calls(actord_factory, two_upstreams):
    # NXDOMAIN is an answer about the name, not a resolver failing: the
    # last good addresses are not kept for it.
    a_srv, _ = two_upstreams
    dns = DnsServer({"svc.test": ["127.0.0.1"]}, ttl=0)
    try:
        a = actord_factory(dns_config(dns, a_srv.port, dns_ttl_min_ms=0, dns_ttl_max_ms=100))
        assert a.get("/svc/bye").body == b"bye 127.0.0.1"
        del dns.records["svc.test"]
        wait_until(lambda: a.get("/svc/bye").status == 503, 3, "calls to the gone name to fail")
        assert stderr_has(a, "cannot resolve the host (Domain name not found)")
    finally:
        dns.close()
