"""actorctl, the admin endpoint's command-line client, against a live
actord (issue: admin endpoint)."""
import json
import os
import re
import subprocess

from ws_util import RawWs
from admin_helpers import ACTORCTL, wait_admin
from conftest import BIN, ROOT, SLOW, free_port


def ctl(*args, env=None, timeout=30):
    full = {k: v for k, v in os.environ.items()
            if k not in ("ACTORD_ADMIN_TOKEN", "ACTORD_ADMIN_ADDR")}
    full.update(env or {})
    return subprocess.run([ACTORCTL, *args], capture_output=True, text=True,
                          timeout=timeout * SLOW, env=full)


def addr(a):
    return f"127.0.0.1:{a.admin_port}"


def test_help_and_usage_errors():
    r = ctl("--help")
    assert r.returncode == 0
    for word in ("stats", "top", "health", "reload", "--admin", "--token", "ACTORD_ADMIN_TOKEN"):
        assert word in r.stdout
    r = ctl()
    assert r.returncode == 2 and "no command given" in r.stderr
    r = ctl("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    assert ctl("-a", "nonsense", "stats").returncode == 2


def test_numbers_out_of_range_are_refused_not_wrapped():
    """4294967297 cast to int is 1: it must be refused, not taken as 1 ms."""
    for args, why in (
            (("-T", "4294967297", "health"), "--timeout: '4294967297' is not a whole number "
                                             "in 1..3600000 ms"),
            (("--wait", "4294967297", "upgrade"), "--wait: '4294967297' is not a whole number "
                                                  "in 1..3600 s"),
            (("-T", "", "health"), "--timeout: '' is not a whole number in 1..3600000 ms"),
            (("resize", "handler", ""), "resize KIND N: '' is not a whole number in 0..1000000")):
        r = ctl("-a", "127.0.0.1:1", *args)
        assert r.returncode == 2 and r.stderr == f"actorctl: {why}\n", (args, r.stderr)


def test_unreachable_endpoint_is_a_clear_error():
    where = f"127.0.0.1:{free_port()}"
    r = ctl("-a", where, "stats")
    assert r.returncode == 3
    assert r.stderr == f"actorctl: cannot reach the admin endpoint at {where}: Connection refused\n"


def test_stats_health_and_top_against_a_live_actord(actord):
    wait_admin(actord)
    actord.get("/plaintext")
    ws = RawWs(actord.port)                  # one WebSocket, one echo
    ws.send_frame(0x1, b"hi")
    assert ws.read_message() == (0x1, b"hi")
    r = ctl("-a", addr(actord), "stats")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("actord ") and lines[0].endswith(", ready")
    assert lines[1].startswith("websocket: 1 open, 1 messages in, 1 out, 0 dropped"), lines[1]
    assert lines[3].split()[:5] == ["ACTOR", "KIND", "DEPTH", "CAPACITY", "HIGHWATER"]
    ws.close()
    rows = {line.split()[0]: line.split() for line in lines[4:]}
    assert {"log-0", "handler-0", "net-0", "admin-0"} <= set(rows)
    assert rows["handler-0"][1:4] == ["handler", "0", "4096"]
    assert int(rows["handler-0"][6]) >= 1                # dequeued

    r = ctl("-a", addr(actord), "health", env={"ACTORD_ADMIN_ADDR": "127.0.0.1:1"})
    assert r.returncode == 0, r.stderr
    assert "live:  yes" in r.stdout and "ready: yes" in r.stdout
    checks = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[2:]}
    assert checks["serving"] == ["ok"] and checks["listeners"] == ["ok"]
    for name, rest in checks.items():        # backends (mongo) may be optional
        assert rest[0] == "ok" or rest[1] == "(optional)", (name, rest)
    # The address as a URL, as a browser or docs/ADMIN.md's curl lines show
    # it: its Host header must still be the endpoint's host:port (was 400).
    r = ctl("-a", f"http://{addr(actord)}/", "health")
    assert r.returncode == 0 and "ready: yes" in r.stdout, r.stdout + r.stderr

    r = ctl("top", "-n", "2", "-i", "0.1", env={"ACTORD_ADMIN_ADDR": addr(actord)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("actord ") == 2
    assert "MSGS/S" in r.stdout and "BUSY%" in r.stdout

    r = ctl("-a", addr(actord), "metrics")
    assert r.returncode == 0 and "actord_mailbox_depth{" in r.stdout
    r = ctl("-a", addr(actord), "config")
    assert r.returncode == 0 and json.loads(r.stdout)["admin_listen"] == addr(actord)


def test_reload_shows_the_outcome(actord):
    wait_admin(actord)
    r = ctl("-a", addr(actord), "reload")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"reloaded {actord.config_path}\n"
    cfg = dict(actord.cfg, http={"max_headers": 0})
    actord.write_config(cfg)
    r = ctl("-a", addr(actord), "reload")
    assert r.returncode == 1
    assert r.stderr.startswith("actorctl: reload refused (HTTP 422): ")
    assert "http.max_headers: 0 is out of range" in r.stderr


def test_token_from_option_file_or_environment(actord_factory, tmp_path):
    token = "ctl-token-42"
    a = wait_admin(actord_factory(env={"ACTORD_ADMIN_TOKEN": token}), token)
    r = ctl("-a", addr(a), "health")
    assert r.returncode == 1 and "(401)" in r.stderr and "ACTORD_ADMIN_TOKEN" in r.stderr
    r = ctl("-a", addr(a), "-t", "wrong", "health")
    assert r.returncode == 1 and "wrong token" in r.stderr
    assert ctl("-a", addr(a), "-t", token, "health").returncode == 0
    assert ctl("-a", addr(a), "health", env={"ACTORD_ADMIN_TOKEN": token}).returncode == 0
    f = tmp_path / "token"
    f.write_text(token + "\n")
    assert ctl("-a", addr(a), "--token-file", str(f), "stats").returncode == 0


def test_resize_grows_and_shrinks_a_pool(actord):
    from admin_helpers import wait_admin as _wait
    from conftest import wait_until
    a = _wait(actord)
    r = ctl("-a", addr(a), "resize", "handler", "3")
    assert r.returncode == 0 and r.stdout == "handler: 1 -> 3 actor(s)\n", r.stdout + r.stderr
    assert "handler-2" in ctl("-a", addr(a), "stats").stdout
    assert a.get("/plaintext").status == 200
    r = ctl("-a", addr(a), "resize", "handler", "1")
    assert r.returncode == 0 and r.stdout.startswith("handler: 3 -> 1 actor(s)"), r.stdout

    def handlers():
        doc = json.loads(ctl("-a", addr(a), "-T", "5000", "metrics").returncode == 0 and
                         a.admin("GET", "/admin/actors").body)
        return [x["name"] for x in doc["actors"] if x["kind"] == "handler"]
    wait_until(lambda: handlers() == ["handler-0"], 10, "handler-1 and -2 to leave")
    r = ctl("-a", addr(a), "resize", "log", "2")
    assert r.returncode == 1 and "fixed size" in r.stderr
    r = ctl("-a", addr(a), "resize", "handler")
    assert r.returncode == 2 and "resize KIND N" in r.stderr
    r = ctl("-a", addr(a), "--help")
    assert "resize KIND N" in r.stdout and "upgrade" in r.stdout


def documented_keys():
    """The first column of every table of docs/CONFIG.md headed `| key |`."""
    keys, in_keys = set(), False
    with open(os.path.join(ROOT, "docs", "CONFIG.md")) as f:
        for line in f:
            if not line.startswith("|"):
                in_keys = False
            elif re.match(r"\|\s*key\s*\|", line):
                in_keys = True
            elif in_keys:
                keys.update(re.findall(r"`([a-z0-9_<>.]+)`", line.split("|")[1]))
    return keys


def leaf_keys(obj, prefix=""):
    """Key paths of a configuration's values; arrays are values."""
    for k, v in obj.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from leaf_keys(v, path + ".")
        else:
            yield path


def test_config_shows_every_documented_key_and_round_trips_through_t(actord, tmp_path):
    wait_admin(actord)
    r = ctl("-a", addr(actord), "config")
    assert r.returncode == 0, r.stderr
    shown = set(leaf_keys(json.loads(r.stdout)))
    generic = {re.sub(r"^actors\.[a-z]+\.", "actors.<kind>.", k) for k in shown}
    documented = documented_keys()
    assert sorted(k for k in shown if k not in documented and
                  re.sub(r"^actors\.[a-z]+\.", "actors.<kind>.", k) not in documented) == []
    assert sorted(k for k in documented if k not in shown and k not in generic) == []
    # What actorctl shows is a file actord takes back.
    path = tmp_path / "roundtrip.json"
    path.write_text(r.stdout)
    t = subprocess.run([BIN, "-t", "-c", str(path)], capture_output=True, text=True,
                       timeout=10 * SLOW)
    assert t.returncode == 0, t.stderr


def test_another_server_is_not_taken_for_the_admin_endpoint(actord):
    # actord's public port answers every admin path 404 (JSON): stats used
    # to print an empty table and exit 0, health "live: NO" of a live process.
    wait_admin(actord)
    public = f"127.0.0.1:{actord.port}"
    for cmd, path in ((["stats"], "/admin/actors"), (["top", "-n", "1"], "/admin/actors"),
                      (["health"], "/livez"), (["metrics"], "/metrics"),
                      (["config"], "/admin/config")):
        r = ctl("-a", public, *cmd)
        assert r.returncode == 3, (cmd, r.returncode, r.stdout, r.stderr)
        assert r.stdout == "", (cmd, r.stdout)
        assert r.stderr == (f"actorctl: {public} is not actord's admin endpoint: GET {path} "
                            "answered HTTP 404 (the public port? the admin one is "
                            "admin_listen)\n"), (cmd, r.stderr)


def test_a_host_the_endpoint_refuses_is_explained(actord):
    # "127.1" reaches 127.0.0.1 but is a name to the Host check (421):
    # health used to say "live: NO" of a live process, stats "not JSON".
    wait_admin(actord)
    where = f"127.1:{actord.admin_port}"
    for cmd in ("health", "stats"):
        r = ctl("-a", where, cmd)
        assert r.returncode == 1 and r.stdout == "", (cmd, r.stdout, r.stderr)
        assert r.stderr.startswith(f"actorctl: the admin endpoint at {where} refused the "
                                   "request (421): this Host is not the admin endpoint's"), \
            (cmd, r.stderr)
