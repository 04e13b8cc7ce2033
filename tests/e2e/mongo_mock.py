"""A scriptable MongoDB for actord's end-to-end tests: MockupDB (Debian's
python3-mockupdb, MongoDB's wire-protocol test server) running in threads
of the test process, so a test can see every command actord's mongo
actors send and decide every reply.

FakeMongo answers the driver's handshake (libmongoc 1.23 opens with a
legacy isMaster, then uses OP_MSG: we announce wire version 13 and
helloOk) and pings itself; it serves `find` on world and fortune and the
bulk `update` on world from Python data (so updates persist), `aggregate`
for counts and `insert`; it records every command it received. A test
overrides one command with `fake.script[name] = fn(request)`, where fn
replies (request.replies / command_err / hangup) or returns without
replying (a server that never answers).
"""
import socket
import threading

import pytest
from mockupdb import MockupDB

from conftest import SLOW, Actord, base_config, merge

HELLO = {"ismaster": True, "helloOk": True, "maxWireVersion": 13, "minWireVersion": 0,
         "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48000000,
         "maxWriteBatchSize": 100000}

# TechEmpower's 12 fortunes (storage/sql/schema.sql holds the same rows).
FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. \u2014 Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    "<script>alert(\"This should not be displayed in a browser alert box.\");</script>",
    "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af",
]


def html_escape(s):
    """What hreq_write_html does: & < > " ' escaped, UTF-8 as is."""
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def fortunes_html(rows):
    """TechEmpower's exact page for (id, message) rows, extra row included."""
    rows = sorted(rows + [(0, "Additional fortune added at request time.")],
                  key=lambda r: r[1])
    body = "".join(f"<tr><td>{i}</td><td>{html_escape(m)}</td></tr>" for i, m in rows)
    return ("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
            "<tr><th>id</th><th>message</th></tr>" + body + "</table></body></html>")


class FakeMongo:
    def __init__(self):
        self.server = MockupDB(auto_ismaster=HELLO, request_timeout=int(10 * SLOW))
        self.server.autoresponds("hello", **HELLO)
        self.server.autoresponds("ping")
        self.lock = threading.Lock()
        self.commands = []      # (name, command document) in arrival order
        self.world = {i: (i * 7919) % 10000 + 1 for i in range(1, 10001)}
        self.fortunes = [{"_id": i, "id": i, "message": m} for i, m in enumerate(FORTUNES, 1)]
        self.script = {}        # command name -> fn(request)
        self.server.autoresponds(self._serve)
        self.port = None

    @property
    def uri(self):
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self):
        self.port = self.server.run()
        return self

    def stop(self):
        # MockupDB's accept loop polls once a second: a connection after
        # the stop flag wakes it at once, so stopping takes milliseconds.
        self.server._stopped = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self.server.stop()

    def sent(self, name):
        """Command documents named `name` received so far."""
        with self.lock:
            return [doc for n, doc in self.commands if n == name]

    def clear(self):
        with self.lock:
            self.commands.clear()

    def _serve(self, request):
        name = request.command_name
        if name in ("isMaster", "ismaster", "hello", "ping"):
            return False
        with self.lock:
            self.commands.append((name, dict(request.doc)))
            fn = self.script.get(name)
        if fn is not None:
            fn(request)
            return True
        if name == "find":
            return request.replies(self._find(request.doc))
        if name == "update":
            return request.replies(self._update(request.doc))
        if name == "aggregate":
            n = len(self.world) if request.doc["aggregate"] == "world" else len(self.fortunes)
            return request.replies({"cursor": {"id": 0, "ns": "x.y", "firstBatch": [{"n": n}]}})
        if name == "insert":
            return request.replies({"n": len(request.doc["documents"])})
        if name in ("drop", "createIndexes"):
            return request.replies()
        return request.command_err(code=59, errmsg=f"no such command: '{name}'")

    def _find(self, cmd):
        coll = cmd["find"]
        ns = f"{cmd['$db']}.{coll}"
        if coll == "fortune":
            docs = list(self.fortunes)
        elif coll == "world":
            i = cmd.get("filter", {}).get("id")
            with self.lock:
                docs = [{"_id": i, "id": i, "randomNumber": self.world[i]}] if i in self.world else []
        else:
            docs = []
        return {"cursor": {"id": 0, "ns": ns, "firstBatch": docs}}

    def _update(self, cmd):
        n = 0
        with self.lock:
            for u in cmd["updates"]:
                i = u["q"].get("id")
                if i in self.world:
                    self.world[i] = u["u"]["$set"]["randomNumber"]
                    n += 1
        return {"n": n, "nModified": n}


@pytest.fixture
def fake_mongo():
    f = FakeMongo().start()
    yield f
    f.stop()


def mongo_overrides(fake, **mongo):
    """actord settings for a mongo pool of 2 talking to `fake`."""
    section = {"uri": fake.uri, "server_selection_timeout_ms": 1000}
    section.update(mongo)
    return {"mongo": section, "actors": {"mongo": {"count": 2, "mailbox": 64}}}


SANITIZER_REPORTS = ("AddressSanitizer", "ThreadSanitizer", "runtime error:", "LeakSanitizer")


@pytest.fixture(scope="module")
def module_fake():
    """One FakeMongo for a whole test module (reset between tests by the
    module's own autouse fixture)."""
    f = FakeMongo().start()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def mongo_actord(module_fake, tmp_path_factory):
    """One actord for a whole module, its mongo pool on `module_fake`;
    checked like actord_factory's daemons when it stops."""
    d = str(tmp_path_factory.mktemp("mongo_actord"))
    a = Actord(d, merge(base_config(d), mongo_overrides(module_fake)), None).wait_ready()
    yield a
    rc = a.stop()
    err = a.stderr()
    assert rc == 0, f"actord exited {rc}:\n{err[-4000:]}"
    assert not any(bad in err for bad in SANITIZER_REPORTS), err[-8000:]


def admin_get(actord, path):
    """GET an admin endpoint; None when this build has no admin endpoint
    (it is built separately: what needs it is skipped until it exists)."""
    try:
        r = actord.admin("GET", path, timeout=5)
    except OSError:
        return None
    return None if r.status == 404 else r


def admin_json(actord, path):
    r = admin_get(actord, path)
    try:
        return r.json() if r is not None else None
    except ValueError:
        return None


def prometheus_samples(actord, family):
    """{labels text: value} of one family from /metrics (Prometheus text
    format), or None without an admin endpoint."""
    r = admin_get(actord, "/metrics")
    if r is None:
        return None
    out = {}
    for line in r.text.splitlines():
        if line.startswith(family + "{"):
            labels, value = line[len(family) + 1:].rsplit("} ", 1)
            out[labels] = float(value)
    return out


def find_check(doc, name):
    """The readiness entry `name` ({"ok": .., "reason": ..}) anywhere in `doc`."""
    if isinstance(doc, dict):
        if isinstance(doc.get(name), dict) and "ok" in doc[name]:
            return doc[name]
        for v in doc.values():
            found = find_check(v, name)
            if found is not None:
                return found
    elif isinstance(doc, list):
        for v in doc:
            found = find_check(v, name)
            if found is not None:
                return found
    return None
