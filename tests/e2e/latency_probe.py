"""A latency probe in its own process (no GIL shared with the load it
measures): GET `path` on one keep-alive connection every `interval_ms`
for `seconds`, then print one JSON line with the count, errors and
percentiles in milliseconds.

  python3 latency_probe.py PORT PATH SECONDS INTERVAL_MS
"""
import json
import socket
import sys
import time


def main():
    port, path, seconds, interval = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), \
        float(sys.argv[4]) / 1000
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode()
    lat, errors, buf = [], 0, b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        sock.sendall(req)
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, buf = buf.split(b"\r\n\r\n", 1)
        n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                 if ln.lower().startswith(b"content-length:")][0])
        while len(buf) < n:
            buf += sock.recv(65536)
        buf = buf[n:]
        lat.append((time.perf_counter() - t0) * 1000)
        if not head.startswith(b"HTTP/1.1 200"):
            errors += 1
        time.sleep(interval)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] if lat else None

    print(json.dumps({"n": len(lat), "errors": errors, "p50": pct(0.5), "p99": pct(0.99),
                      "max": lat[-1] if lat else None}))


if __name__ == "__main__":
    main()
