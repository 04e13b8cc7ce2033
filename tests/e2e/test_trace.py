"""W3C Trace Context (issue 21): one request followed by its trace id in
actord's access log, in the headers the upstream received, and in the
error log (JSON lines); a missing, malformed or repeated traceparent
starts a new trace, and only a valid one's tracestate is passed on."""
import json
import os
import re

from conftest import RawClient, wait_until
from upstream_server import proxied, upstream  # noqa: F401 (fixtures)

ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
GOOD = f"00-{ID}-{PARENT}-01"
STATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def start(proxied, tmp_path):
    path = str(tmp_path / "access.log")
    a = proxied(overrides={"log": {"access_log": path, "format": "json"}})
    return a, path


def json_lines(text):
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def access_line(path, target, nth=1):
    """The `nth` access log line of `target` (awaited: the log actor
    writes it after the answer)."""
    found = []

    def written():
        if not os.path.exists(path):
            return False
        with open(path) as f:
            found[:] = [j for j in json_lines(f.read()) if j.get("path") == target]
        return len(found) == nth
    wait_until(written, 5, f"access log line {nth} of {target}")
    return found[-1]


def received(upstream, path):
    """The header fields (lower-case names) of the only request the
    upstream saw for `path`."""
    with upstream.lock:
        seen = [h for p, h in upstream.received if p == path]
    assert seen, f"the upstream saw no {path}"
    fields = {}
    for k, v in seen[-1]:
        fields.setdefault(k.lower(), []).append(v)
    return fields


def sent_trace(fields):
    """(trace id, span id, flags) of the one traceparent the upstream got."""
    assert len(fields.get("traceparent", [])) == 1, fields
    m = TRACEPARENT.match(fields["traceparent"][0])
    assert m, fields["traceparent"]
    return m.groups()


def test_one_trace_id_in_access_log_upstream_headers_and_error_log(proxied, upstream, tmp_path):
    a, log = start(proxied, tmp_path)
    r = a.get("/proxy/garbage", headers={"traceparent": GOOD, "tracestate": STATE})
    assert r.status == 502

    # Access log: the caller's trace id, actord's own span, the caller's span as parent.
    acc = access_line(log, "/proxy/garbage")
    assert acc["trace_id"] == ID
    assert acc["parent_id"] == PARENT
    assert re.fullmatch(r"[0-9a-f]{16}", acc["span_id"]) and acc["span_id"] != PARENT

    # Upstream: the same trace id, a new child span per call, the flags
    # and the tracestate as received.
    fields = received(upstream, "/garbage")
    trace_id, span, flags = sent_trace(fields)
    assert trace_id == ID
    assert span not in (PARENT, acc["span_id"], "0" * 16)
    assert flags == "01"
    assert fields["tracestate"] == [STATE]

    # Error log (stderr, JSON): the handler's 502 line and the upstream
    # actor's "malformed response" warning both carry the trace.
    def errors():
        return [j for j in json_lines(a.stderr()) if j.get("trace_id") == ID]
    wait_until(lambda: any("/proxy/garbage" in j["msg"] for j in errors()) and
               any("malformed response" in j["msg"] and j["actor"].startswith("upstream")
                   for j in errors()), 5, "error log lines with the trace id")
    handler = [j for j in errors() if "/proxy/garbage" in j["msg"]]
    assert handler[0]["level"] == "warn" and "502" in handler[0]["msg"]
    assert handler[0]["span_id"] == acc["span_id"]
    # Lines of other requests carry their own trace, never this one.
    assert a.get("/proxy/hello").status == 200
    assert access_line(log, "/proxy/hello")["trace_id"] != ID


def test_no_traceparent_starts_a_trace_the_upstream_continues(proxied, upstream, tmp_path):
    a, log = start(proxied, tmp_path)
    assert a.get("/proxy/echo", headers={"tracestate": STATE}).status == 200
    acc = access_line(log, "/proxy/echo")
    assert "parent_id" not in acc
    assert re.fullmatch(r"[0-9a-f]{32}", acc["trace_id"]) and acc["trace_id"] != "0" * 32
    fields = received(upstream, "/echo")
    trace_id, _, flags = sent_trace(fields)
    assert trace_id == acc["trace_id"]
    assert flags == "01"
    # A tracestate without a valid traceparent is dropped.
    assert "tracestate" not in fields


def test_malformed_traceparent_starts_a_new_trace(proxied, upstream, tmp_path):
    a, log = start(proxied, tmp_path)
    bad = [f"00-{ID.upper()}-{PARENT}-01",       # uppercase
           f"ff-{ID}-{PARENT}-01",               # version ff
           f"00-{'0' * 32}-{PARENT}-01",          # all-zero trace id
           f"00-{ID}-{PARENT}-01-extra",          # version 00 is exactly 55 chars
           f"00-{ID}-{PARENT}"]                  # short
    ids = set()
    for i, v in enumerate(bad):
        r = a.get("/proxy/echo", headers={"traceparent": v, "tracestate": STATE})
        assert r.status == 200
        acc = access_line(log, "/proxy/echo", i + 1)
        assert acc["trace_id"] != ID and "parent_id" not in acc, (v, acc)
        sent = [h for k, h in r.json()["headers"] if k.lower() == "traceparent"]
        assert len(sent) == 1 and sent[0].split("-")[1] == acc["trace_id"], (v, sent)
        assert not [k for k, _ in r.json()["headers"] if k.lower() == "tracestate"], v
        ids.add(acc["trace_id"])
    assert len(ids) == len(bad)

    # Two traceparent fields: which one is meant is unknown, so neither.
    c = RawClient(a.port)
    c.send(f"GET /proxy/echo HTTP/1.1\r\nHost: x\r\ntraceparent: {GOOD}\r\n"
           f"traceparent: 00-{'1' * 32}-{PARENT}-01\r\nConnection: close\r\n\r\n".encode())
    resp = c.read_response()
    c.close()
    assert resp.status == 200
    acc = access_line(log, "/proxy/echo", len(bad) + 1)
    assert acc["trace_id"] not in (ID, "1" * 32)
    sent = [h for k, h in resp.json()["headers"] if k.lower() == "traceparent"]
    assert [s.split("-")[1] for s in sent] == [acc["trace_id"]]


def test_a_later_version_is_continued_as_version_00(proxied, upstream, tmp_path):
    a, log = start(proxied, tmp_path)
    v = f"01-{ID}-{PARENT}-00-some-future-field"
    r = a.get("/proxy/echo", headers={"traceparent": v, "tracestate": "k=v"})
    assert r.status == 200
    acc = access_line(log, "/proxy/echo")
    assert acc["trace_id"] == ID and acc["parent_id"] == PARENT
    headers = r.json()["headers"]
    sent = [h for k, h in headers if k.lower() == "traceparent"]
    assert len(sent) == 1
    assert sent[0].startswith(f"00-{ID}-") and sent[0].endswith("-00")
    assert [h for k, h in headers if k.lower() == "tracestate"] == ["k=v"]
