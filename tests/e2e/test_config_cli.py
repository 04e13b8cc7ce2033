"""The command line and configuration checks of the real binary (issue:
daemon, configuration): `actord -t -c FILE` exit codes and messages for a
valid file and for each kind of invalid one, environment overrides,
--version / --help, bad usage, and a foreground start on a bad file."""
import json
import os
import socket
import subprocess

import pytest

from conftest import BIN, ROOT, SHIPPED_BIN, SLOW, free_port


def run(*args, env=None, timeout=10):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout * SLOW)


def write(tmp_path, text, name="actord.json"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_shipped_config_is_valid_and_t_only_checks_it():
    path = os.path.join(ROOT, "config", "actord.json")
    r = run("-t", "-c", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"actord: configuration file {path} is valid\n"
    assert r.stderr == ""
    # -t starts nothing: the shipped public address is still free (unless
    # a `make run` happens to be up on this machine).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 8080))
        except OSError:
            pytest.skip("127.0.0.1:8080 is in use by something else")


def test_the_shipped_binary_has_no_test_routes(tmp_path):
    path = write(tmp_path, '{"test_routes": true}')
    r = subprocess.run([SHIPPED_BIN, "-t", "-c", path], capture_output=True, text=True,
                       timeout=10 * SLOW)
    assert r.returncode == 1
    assert r.stderr == (f"actord: {path}: test_routes: this binary has no test routes "
                        "(the test suite's build/actord-test has them)\n")
    # The test suite's binary takes the same file.
    assert run("-t", "-c", path).returncode == 0
    # The shipped binary serves the shipped configuration.
    r = subprocess.run([SHIPPED_BIN, "-t", "-c", os.path.join(ROOT, "config", "actord.json")],
                       capture_output=True, text=True, timeout=10 * SLOW)
    assert r.returncode == 0, r.stderr


def test_relative_config_path_is_reported_absolute(tmp_path):
    write(tmp_path, "{}")
    r = subprocess.run([BIN, "-t", "-c", "actord.json"], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=10 * SLOW)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"actord: configuration file {tmp_path}/actord.json is valid\n"


# Each kind of invalid file and the exact message `actord -t` prints.
INVALID = {
    "unknown_key": ('{"http": {"max_bodybytes": 10}}',
                    'http.max_bodybytes: unknown key (did you mean "max_body_bytes"?)'),
    "duplicate_key": ('{"log": {"level": "info", "level": "debug"}}',
                      "log.level: duplicate key"),
    "wrong_type": ('{"http": {"backlog": "128"}}',
                   "http.backlog: expected an integer, got a string"),
    "wrong_type_section": ('{"actors": []}',
                           "actors: expected an object, got an array"),
    "out_of_range": ('{"actors": {"handler": {"count": 65}}}',
                     "actors.handler.count: 65 is out of range [1, 64]"),
    "negative": ('{"drain_timeout_ms": -1}',
                 "drain_timeout_ms: -1 is out of range [0, 3600000]"),
    "mailbox_not_power_of_two": ('{"actors": {"net": {"mailbox": 3000}}}',
                                 "actors.net.mailbox: 3000 is not a power of two >= 4"),
    "bad_enum": ('{"log": {"format": "xml"}}',
                 "log.format: 'xml' is not one of \"auto\", \"json\", \"text\""),
    "unresolvable_listen": ('{"listen": ["no-such-host.invalid:8080"]}',
                            "listen[0]: cannot resolve 'no-such-host.invalid': "),
    "unresolvable_backend": ('{"mysql": {"host": "no-such-host.invalid"}}',
                             "mysql.host: cannot resolve 'no-such-host.invalid': "),
    "bad_port": ('{"admin_listen": "127.0.0.1:99999"}',
                 "admin_listen: '127.0.0.1:99999': port must be 1..65535"),
    "same_address_twice": ('{"listen": ["127.0.0.1:7000"], "admin_listen": "127.0.0.1:7000"}',
                           "admin_listen: port 7000 is also listen[0]'s (127.0.0.1:7000): "
                           "the admin endpoint needs a port of its own"),
    "same_port_other_spelling": ('{"listen": ["127.0.0.1:7000"], "admin_listen": "127.1:7000"}',
                                 "admin_listen: port 7000 is also listen[0]'s"),
    "bad_json_with_position": ('{\n  // a comment\n  "http": {\n    "backlog": 10,\n  }\n}\n',
                               "(file): invalid JSON at line 5, column 3, near '}'"),
    "truncated_json": ('{"http": {', "(file): invalid JSON: unexpected end of file"),
    "not_an_object": ('["127.0.0.1:80"]',
                      "(file): expected a JSON object at the top, got an array"),
}


@pytest.mark.parametrize("kind", sorted(INVALID))
def test_invalid_file_is_refused_with_file_key_and_reason(tmp_path, kind):
    text, want = INVALID[kind]
    path = write(tmp_path, text)
    r = run("-t", "-c", path)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith(f"actord: {path}: {want}"), r.stderr
    assert r.stderr.count("\n") == 1


def test_missing_file_is_refused(tmp_path):
    path = str(tmp_path / "nope.json")
    r = run("-t", "-c", path)
    assert r.returncode == 1
    assert r.stderr == f"actord: {path}: (file): cannot open: No such file or directory\n"


def test_t_checks_that_the_log_files_and_pidfile_can_be_written(tmp_path):
    """Like nginx -t: a log file or pidfile in a directory that does not
    exist fails the check, not the start an hour later."""
    for key, cfg in (("log.file", {"log": {"file": "nodir/a.log"}}),
                     ("log.access_log", {"log": {"access_log": "nodir/a.log"}}),
                     ("pidfile", {"pidfile": "nodir/a.log"})):
        path = write(tmp_path, json.dumps(cfg))
        r = run("-t", "-c", path)
        assert r.returncode == 1, key
        assert r.stderr == (f"actord: {path}: {key}: cannot write '{tmp_path}/nodir/a.log': "
                            "No such file or directory\n")
    # Files yet to be made in a directory that exists are fine, and -t
    # makes none of them.
    path = write(tmp_path, '{"log": {"file": "a.log", "access_log": "b.log"},'
                           ' "pidfile": "a.pid"}')
    r = run("-t", "-c", path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["actord.json"]


def test_a_bad_file_stops_a_foreground_start_before_anything_listens(tmp_path):
    port = free_port()
    path = write(tmp_path, '{"listen": ["127.0.0.1:%d"], "http": {"max_headers": 0}}' % port)
    r = run("-c", path)
    assert r.returncode == 1
    assert r.stderr == f"actord: {path}: http.max_headers: 0 is out of range [1, 10000]\n"


def test_secrets_come_from_the_environment(tmp_path):
    path = write(tmp_path, '{"mysql": {"password": "in-the-file"}}')
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    assert run("-t", "-c", path, env={"ACTORD_MYSQL_PASSWORD": "x"}).returncode == 0
    assert run("-t", "-c", path, env={"ACTORD_MYSQL_PASSWORD_FILE": str(secret)}).returncode == 0
    r = run("-t", "-c", path, env={"ACTORD_MYSQL_PASSWORD_FILE": str(tmp_path / "missing")})
    assert r.returncode == 1
    assert r.stderr.startswith(f"actord: {path}: mysql.password: ACTORD_MYSQL_PASSWORD_FILE: "
                               f"cannot read '{tmp_path}/missing'")
    r = run("-t", "-c", path, env={"ACTORD_MONGO_URI": "postgres://x"})
    assert r.returncode == 1
    assert 'mongo.uri: must be "" (no MongoDB) or start with mongodb:// or mongodb+srv://' in r.stderr


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("actord ") and r.stdout.count("\n") == 1
    assert run("-v").stdout == r.stdout
    r = run("--help")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: actord ")
    for opt in ("--config", "--test", "--daemon", "--version", "--help", "SIGHUP", "SIGUSR1"):
        assert opt in r.stdout, opt


def test_bad_usage_exits_2_with_the_usage_on_stderr():
    r = run("--frobnicate")
    assert r.returncode == 2
    assert "Usage: actord " in r.stderr and r.stdout == ""
    r = run("-t", "extra")
    assert r.returncode == 2
    assert r.stderr.startswith("actord: unexpected argument 'extra'\n")
    r = run("-c")
    assert r.returncode == 2
