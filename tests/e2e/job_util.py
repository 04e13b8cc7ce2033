"""Helpers for the job queue tests: actord settings for a queue of its own
(a unique key prefix per test, so tests never see each other's jobs),
keep-alive HTTP clients, and reading job hashes straight from Redis."""
import http.client
import json
import uuid

from conftest import SLOW, free_port, wait_until
from storage_util import mariadb, storage_config


def unique_prefix():
    return "t" + uuid.uuid4().hex[:12]


def jobs_config(services, prefix, port=None, **jobs):
    """actord overrides: the test services, and a job queue under `prefix`.
    `port` fixes the listen address (a restarted actord keeps its consumer
    names, which default to <hostname>:<port>)."""
    cfg = storage_config(services)
    cfg["actors"]["job"] = {"count": 1}
    cfg["jobs"] = dict({"prefix": prefix, "reclaim_idle_ms": 1000, "retry_poll_ms": 100,
                        "result_ttl_s": 600}, **jobs)
    if port is not None:
        cfg["listen"] = [f"127.0.0.1:{port}"]
        cfg["admin_listen"] = f"127.0.0.1:{free_port()}"
    return cfg


def start(actord_factory, cfg, **kw):
    """An actord whose job queue answers (Redis may still be loading its
    append-only file, which is a 503 until it is done)."""
    a = actord_factory(cfg, **kw)
    wait_until(lambda: Client(a.port).request("GET", "/jobs/" + "0" * 32)[0] == 404, 30,
               "the job queue to answer")
    return a


def ensure_job_results(services):
    """The sql job's sink (storage/sql/schema.sql), for a MariaDB loaded
    before the table existed."""
    mariadb(services, "CREATE TABLE IF NOT EXISTS job_results (job_id CHAR(32) NOT NULL "
                      "PRIMARY KEY, note VARCHAR(255) NULL, created_at TIMESTAMP(3) NOT NULL "
                      "DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB")


class Client:
    """One keep-alive connection; reconnects after any error."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.timeout = timeout * SLOW
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, headers, parsed JSON body); raises OSError-like errors
        (connection refused or reset) after dropping the connection."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {})
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            r = self.conn.getresponse()
            raw = r.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(raw) if raw else None

    def post_job(self, type_, payload=None, key=None):
        body = {"type": type_}
        if payload is not None:
            body["payload"] = payload
        return self.request("POST", "/jobs", body, {"Idempotency-Key": key} if key else None)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def job_states(redis, prefix, ids, fields=("state", "attempts", "redeliveries")):
    """{id: {field: value}} for each job id, read with one pipeline."""
    out = {}
    ids = list(ids)
    for i in range(0, len(ids), 2000):
        chunk = ids[i:i + 2000]
        replies = redis.pipeline([["HMGET", f"{prefix}:job:{j}", *fields] for j in chunk])
        for j, vals in zip(chunk, replies):
            out[j] = {f: (v.decode() if v is not None else None) for f, v in zip(fields, vals)}
    return out


def stream_entries(redis, key):
    """XRANGE key - + as [(entry id, {field: value})]."""
    out = []
    for eid, fields in redis.cmd("XRANGE", key, "-", "+"):
        out.append((eid.decode(), {fields[i].decode(): fields[i + 1].decode()
                                   for i in range(0, len(fields), 2)}))
    return out


def metric(actord, name, labels=""):
    """A sample from the admin endpoint's /metrics, or None when this build
    has no admin endpoint."""
    try:
        r = actord.admin("GET", "/metrics", timeout=5)
    except OSError:
        return None
    if r.status != 200:
        return None
    want = f"actord_{name}{{{labels}}}" if labels else f"actord_{name}"
    for line in r.text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None
