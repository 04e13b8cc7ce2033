"""Helpers for the storage tests: a minimal Redis client, the mariadb
command-line client, and the actord settings that point at the test
services."""
import json
import os
import socket
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVICES_SH = os.path.join(ROOT, "tests", "services.sh")


def storage_config(services, **extra):
    """actord overrides for the session's Redis and MariaDB."""
    cfg = {
        "actors": {"cache": {"count": 1}, "mysql": {"count": 4}},
        "redis": {"host": "127.0.0.1", "port": services["redis_port"]},
        "mysql": {"host": "127.0.0.1", "port": services["mysql_port"],
                  "user": "benchmarkdbuser", "password": "benchmarkdbpass",
                  "database": "hello_world"},
    }
    for k, v in extra.items():
        cfg.setdefault(k, {}).update(v)
    return cfg


def service(services, action, name):
    """tests/services.sh ACTION NAME for this test session's services."""
    subprocess.run([SERVICES_SH, action, name], check=True, env=services["env"],
                   stdout=subprocess.DEVNULL)


class Redis:
    """Just enough RESP2 to set up and inspect the cache."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("redis closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def pipeline(self, commands):
        # Pieces joined once: growing one bytes object command by command
        # copies it every time (10,000 SETs took minutes on a busy machine).
        out = []
        for args in commands:
            args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
            out.append(b"*%d\r\n" % len(args))
            for a in args:
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return [self._reply() for _ in commands]

    def cmd(self, *args):
        return self.pipeline([args])[0]


def mariadb(services, sql):
    """Rows of `sql` (tab-separated text) through the mariadb client."""
    out = subprocess.run(
        ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(services["mysql_port"]),
         "-u", "benchmarkdbuser", "-pbenchmarkdbpass", "--default-character-set=utf8mb4",
         "-N", "-B", "-r", "hello_world", "-e", sql],
        check=True, capture_output=True, timeout=30)
    return [line.split("\t") for line in out.stdout.decode("utf-8").splitlines()]


def worlds_ok(items):
    """Each item is a World object with id and randomNumber in 1..10000."""
    for w in items:
        assert set(w) == {"id", "randomNumber"}, w
        assert 1 <= w["id"] <= 10000 and 1 <= w["randomNumber"] <= 10000, w
    return True


def json_of(resp):
    assert resp.headers["content-type"] == "application/json", resp.headers
    return json.loads(resp.body)
