"""End-to-end test harness: a real build/actord-test over real sockets on
127.0.0.1, and (for the storage tests) real redis-server and mariadbd
started by tests/services.sh with project-local data.

Fixtures
  actord_factory  start(overrides=None, env=None, check_exit=True) -> Actord;
                  every started daemon is stopped (SIGTERM) at teardown and,
                  unless check_exit=False, must exit 0.
  actord          one daemon with test routes and default settings.
  services        session-wide Redis + MariaDB (ports ACTORD_TEST_REDIS_PORT,
                  ACTORD_TEST_MYSQL_PORT; defaults 26379 / 23306).
                  test_sentinel.py starts its own Redis and Sentinels on
                  ACTORD_TEST_SENTINEL_PORT .. +4 (unset: free ports).
  redis           a connection to the services' Redis (storage_util.Redis),
                  closed at teardown.

Environment: ACTORD_BIN (the binary under test: actord-test, the shipped
server plus the test suite's /_test/ routes; ctest sets it to the build
being tested, so the sanitizer builds run these tests too) and
ACTORD_SHIPPED_BIN (build/actord, the shipped binary).
"""
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from storage_util import Redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ACTORD_BIN", os.path.join(ROOT, "build", "actord-test"))
SHIPPED_BIN = os.environ.get("ACTORD_SHIPPED_BIN", os.path.join(ROOT, "build", "actord"))
REDIS_PORT = int(os.environ.get("ACTORD_TEST_REDIS_PORT", "26379"))
MYSQL_PORT = int(os.environ.get("ACTORD_TEST_MYSQL_PORT", "23306"))
# Sanitizer builds are several times slower: scale time limits with this.
SLOW = float(os.environ.get("ACTORD_TEST_SLOW", "1"))


# Ports for the tests' listeners come from one cursor shared by every test
# process, C or Python (tests/unit/common/port_registry.h says why and keeps the
# same algorithm): below the kernel's ephemeral range, each handed out once
# per trip round the range, so tests running in parallel never get the same
# port, as binding port 0 and closing could.
PORTS_FILE = os.environ.get("ACTORD_TEST_PORTS_FILE") or f"/tmp/actord-test-ports-{os.getuid()}"
PORT_LO, PORT_HI = 17000, 22999


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    fd = os.open(PORTS_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.pread(fd, 16, 0).decode().strip()
        cursor = int(text) if text else PORT_LO
        for _ in range(PORT_HI - PORT_LO + 1):
            cursor = PORT_LO if cursor >= PORT_HI or cursor < PORT_LO else cursor + 1
            if _bindable(cursor):
                break
        else:
            raise AssertionError(f"no free port in {PORT_LO}-{PORT_HI}")
        data = f"{cursor}\n".encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        return cursor
    finally:
        os.close(fd)  # releases the lock


def wait_until(cond, timeout, what, interval=0.02):
    """Poll `cond` until it returns a true value; fail with `what`."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting for {what}")
        time.sleep(interval)


def merge(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers        # dict, lower-case names
        self.body = body              # bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8")


def http(port, method, path, body=None, headers=None, timeout=10):
    """One request on its own connection (urllib raises on 4xx/5xx: we do not)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


class Actord:
    def __init__(self, tmp, cfg, env):
        self.dir = tmp
        self.cfg = cfg
        self.port = int(cfg["listen"][0].rsplit(":", 1)[1])
        self.admin_port = int(cfg["admin_listen"].rsplit(":", 1)[1])
        self.config_path = os.path.join(tmp, "actord.json")
        self.stderr_path = os.path.join(tmp, "stderr.log")
        self.write_config(cfg)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([BIN, "-c", self.config_path], stdout=self._err,
                                     stderr=self._err, env=full_env)
        self.expected_exit = 0

    def write_config(self, cfg):
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)

    def wait_ready(self, timeout=10):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"actord exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                # Both listeners: the admin actor opens its own a moment
                # after the network actors open theirs.
                for addr in addrs:
                    socket.create_connection(addr, timeout=0.2).close()
                return True
            except OSError:
                return False
        admin_host = self.cfg["admin_listen"].rsplit(":", 1)[0].strip("[]")
        addrs = [("127.0.0.1", self.port),
                 ("127.0.0.1" if admin_host in ("0.0.0.0", "::") else admin_host, self.admin_port)]
        wait_until(up, timeout, "actord to listen")
        return self

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, path, **kw):
        return http(self.port, "GET", path, **kw)

    def request(self, method, path, **kw):
        return http(self.port, method, path, **kw)

    def admin(self, method, path, **kw):
        return http(self.admin_port, method, path, **kw)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("actord did not stop within the drain timeout:\n" + self.stderr())
        self._err.close()
        return self.proc.returncode


def free_ports(n):
    """`n` different free ports (actord refuses one port for listen and
    admin_listen; free_port never repeats within a trip round its range)."""
    return [free_port() for _ in range(n)]


def base_config(tmp):
    http_port, admin_port = free_ports(2)
    return {
        "listen": [f"127.0.0.1:{http_port}"],
        "admin_listen": f"127.0.0.1:{admin_port}",
        "test_routes": True,
        "log": {"level": "info", "format": "json"},
        # No storage actors unless a test asks for them (storage_util's
        # storage_config): without the services they would keep actord
        # unready and log connection failures.
        "actors": {"cache": {"count": 0}, "mysql": {"count": 0}, "job": {"count": 0}},
        # WebSocket channels stay on this instance unless a test asks
        # (test_websocket_redis.py): the pubsub actor needs no Redis then.
        "websocket": {"redis": False},
        "redis": {"host": "127.0.0.1", "port": REDIS_PORT},
        "mysql": {"host": "127.0.0.1", "port": MYSQL_PORT},
        # The longest a request may wait before work starts (admission),
        # scaled like every other server-side time for the sanitizer
        # builds; the admission tests set their own.
        "admission": {"target_ms": int(1000 * SLOW)},
    }


@pytest.fixture
def actord_factory(tmp_path):
    started = []

    def start(overrides=None, env=None, check_exit=True, wait=True):
        d = tmp_path / f"actord{len(started)}"
        d.mkdir()
        cfg = merge(base_config(str(d)), overrides or {})
        a = Actord(str(d), cfg, env)
        a.check_exit = check_exit
        started.append(a)
        return a.wait_ready() if wait else a

    yield start
    failures = []
    for a in started:
        rc = a.stop()
        if a.check_exit and rc != a.expected_exit:
            failures.append(f"actord exited {rc}, expected {a.expected_exit}:\n{a.stderr()[-4000:]}")
        for bad in ("AddressSanitizer", "ThreadSanitizer", "runtime error:", "LeakSanitizer"):
            if bad in a.stderr():
                failures.append(f"sanitizer report in actord's output:\n{a.stderr()[-8000:]}")
                break
    assert not failures, "\n".join(failures)


@pytest.fixture
def actord(actord_factory):
    return actord_factory()


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """Redis and MariaDB for the whole session, loaded with the seed data."""
    run_dir = os.environ.get("ACTORD_TEST_RUN_DIR") or str(tmp_path_factory.mktemp("services"))
    env = dict(os.environ, ACTORD_RUN_DIR=run_dir, ACTORD_REDIS_PORT=str(REDIS_PORT),
               ACTORD_MYSQL_PORT=str(MYSQL_PORT))
    try:
        subprocess.run([os.path.join(ROOT, "tests", "services.sh"), "start"], check=True, env=env)
    except subprocess.CalledProcessError:
        # Half started (Redis up, MariaDB not): stop what did start, or the
        # next test file would find its ports taken by servers it cannot
        # stop (their pidfiles live in this session's directory).
        subprocess.run([os.path.join(ROOT, "tests", "services.sh"), "stop"], check=False, env=env)
        raise
    yield {"redis_port": REDIS_PORT, "mysql_port": MYSQL_PORT, "run_dir": run_dir, "env": env}
    subprocess.run([os.path.join(ROOT, "tests", "services.sh"), "stop"], check=False, env=env)


@pytest.fixture
def redis(services):
    r = Redis(services["redis_port"])
    yield r
    r.close()


class RawClient:
    """A plain socket for what urllib cannot do: pipelining, partial
    requests, clients that never read."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def recv_some(self):
        data = self.sock.recv(65536)
        self.buf += data
        return data

    def closed(self, timeout=5):
        """True once the server closed (EOF or reset) within `timeout`."""
        self.sock.settimeout(timeout * SLOW)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def read_response(self, head=False):
        """Parse one response (Content-Length framed) from the stream."""
        while b"\r\n\r\n" not in self.buf:
            if not self.recv_some():
                raise EOFError("connection closed before a full response; got %r" % self.buf)
        head_bytes, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if head or status in (100, 204, 304) else int(headers.get("content-length", "0"))
        while len(rest) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed inside a body")
            rest += data
        self.buf = rest[n:]
        return Response(status, headers, rest[:n])

    def close(self):
        self.sock.close()
