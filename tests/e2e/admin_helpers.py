"""Helpers shared by the admin endpoint tests (test_admin*.py)."""
import os
import re
import socket

from conftest import ROOT, http, wait_until

BUILD_DIR = os.environ.get("ACTORD_BUILD_DIR", os.path.join(ROOT, "build"))
ACTORCTL = os.path.join(BUILD_DIR, "actorctl")
# POST /admin/reload takes JSON requests only (docs/ADMIN.md, "Reload").
JSON = {"Content-Type": "application/json"}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def body_reads(a):
    """(reads, bytes, reads cut) of the bodies routes read piece by piece,
    summed over the handler actors (handler/hreq_stream.h)."""
    m = metrics_of(a)
    return tuple(sum(v for (n, _), v in m.items() if n == f"actord_handler_body_{x}")
                 for x in ("reads_total", "read_bytes_total", "reads_cut_total"))


def undocumented_metrics(a):
    """(families a exports that docs/ADMIN.md does not name, how many it
    exports): every metric has its line there."""
    text = admin_get(a, "/metrics").text
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    with open(os.path.join(ROOT, "docs", "ADMIN.md")) as f:
        doc = f.read()
    return sorted(f for f in families if f"`{f}`" not in doc), len(families)


def wait_admin(a, token=None):
    """The admin listener starts after the public one: wait for it too."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def up():
        try:
            return admin_get(a, "/livez", headers=headers).status == 200
        except OSError:
            return False
    wait_until(up, 10, "the admin endpoint to answer")
    return a


def admin_get(a, path, headers=None, method="GET", body=None, timeout=10):
    return http(a.admin_port, method, path, headers=headers, body=body, timeout=timeout)


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} of a Prometheus text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    """The value of one sample; labels not given must match nothing else."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def metrics_of(a, headers=None):
    r = admin_get(a, "/metrics", headers=headers)
    assert r.status == 200, r.text
    return parse_metrics(r.text)


def actor_doc(a, name, headers=None):
    doc = admin_get(a, "/admin/actors", headers=headers).json()
    return next(x for x in doc["actors"] if x["name"] == name)


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)
