"""A tiny authoritative DNS server for the run-time DNS tests, on
127.0.0.1 UDP: answers A queries for the names in `records` (a dict the
test changes while it runs: name -> [IPv4 addresses]) with `ttl`, NODATA
for other types of a known name, NXDOMAIN for unknown names. A name in
`servfail` (a set the test changes) is answered SERVFAIL, one in `silent`
not at all: a resolver that fails, or one that is gone. Counts the queries
per name."""
import socket
import struct
import threading


class DnsServer:
    def __init__(self, records, ttl=1):
        self.records = records
        self.ttl = ttl
        self.queries = {}
        self.servfail = set()
        self.silent = set()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._loop, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def count(self, name):
        with self.lock:
            return self.queries.get(name, 0)

    def close(self):
        self.closing = True
        self.sock.close()

    def _loop(self):
        while not self.closing:
            try:
                data, peer = self.sock.recvfrom(2048)
            except OSError:
                return
            try:
                reply = self._answer(data)
            except (IndexError, struct.error):
                continue
            if reply is None:
                continue
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                return

    def _answer(self, q):
        qid, flags, qd = struct.unpack(">HHH", q[:6])
        labels, i = [], 12
        while q[i] != 0:
            n = q[i]
            labels.append(q[i + 1:i + 1 + n].decode("ascii").lower())
            i += 1 + n
        qtype, _qclass = struct.unpack(">HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels)
        with self.lock:
            self.queries[name] = self.queries.get(name, 0) + 1
            addrs = list(self.records.get(name, [])) if name in self.records else None
            if name in self.silent:
                return None
            servfail = name in self.servfail
        rd = flags & 0x0100
        if servfail:
            return struct.pack(">HHHHHH", qid, 0x8082 | rd, 1, 0, 0, 0) + question
        if addrs is None:
            return struct.pack(">HHHHHH", qid, 0x8083 | rd, 1, 0, 0, 0) + question
        answers = b""
        count = 0
        if qtype == 1:
            for a in addrs:
                answers += struct.pack(">HHHIH", 0xC00C, 1, 1, self.ttl, 4) + socket.inet_aton(a)
                count += 1
        return struct.pack(">HHHHHH", qid, 0x8080 | rd, 1, count, 0, 0) + question + answers
