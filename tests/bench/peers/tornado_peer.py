#!/usr/bin/python3
"""tornado_peer.py - the comparison peer of actord's benchmarks.

What it is: the seed application's stack, the way people build it in Python
(Tornado, aiomysql, redis.asyncio, one process per core with
tornado.process.fork_processes), serving the routes actord is measured on,
with the same SQL, the same cache keys and the same JSON. It is not part of
actord and no test depends on it: it exists so that every "x times the
Tornado peer" figure in docs/PERFORMANCE.md is measured against code in
this repository.

Routes:
  GET  /plaintext, /json                     TechEmpower types 1 and 2
  GET  /db, /queries?queries=N, /updates?queries=N, /fortunes
                                             TechEmpower's database types
                                             (N clamped to 1..500)
  GET  /cached-queries?count=N               World rows cache-aside in Redis
                                             (keys world:ID, 300 s)
  GET  /client/v3/wallpaper_4d/wallpaperList.json?pageSize=N
                                             the seed's list: the newest N
                                             (1..100, default 20) wallpapers,
                                             cache-aside in Redis (key
                                             wallpaperList:N, --cache-ttl s)
  GET  /upstream                             fetches --upstream with
                                             AsyncHTTPClient, then answers
  GET  /digest?url=U                         fetches U with AsyncHTTPClient's
                                             streaming_callback, hashing the
                                             body as it arrives: JSON
                                             {"bytes", "sha256"}
  POST|PUT /upload-digest                    @stream_request_body: the
                                             request body hashed as it
                                             arrives, the same JSON
  POST /demo/login                           the seed's login (issue 18): _xsrf
                                             check, the user's row from MariaDB,
                                             PBKDF2 in the executor, a session in
                                             Redis behind a signed cookie, 303
  GET  /ws/chat/ROOM                         WebSocket chat room: every text
                                             message to every member, as a
                                             JSON envelope (one process)
  POST /jobs, GET /jobs/ID                   the seed's producer-consumer
                                             pattern: a dict of job states
                                             in memory, jobs (time.sleep of
                                             {"seconds": S}, default 0.01)
                                             run by 20 threads; nothing is
                                             stored, nothing survives a crash
  POST /hash, POST /hash-process             PBKDF2-HMAC-SHA256 of
                                             {"password", "salt",
                                             "iterations"} with hashlib, run
                                             with run_in_executor on a
                                             ThreadPoolExecutor (hashlib
                                             releases the GIL) or a
                                             ProcessPoolExecutor, each of
                                             --hash-workers (default 2)

The database is the one tests/services.sh loads (storage/sql/schema.sql:
hello_world with World, Fortune and wallpaper). Every process opens its own
MariaDB pool and Redis pool at start, so both must be up before it starts
(except with --no-storage: then only /plaintext, /json, /upstream, /digest,
/upload-digest and the hash routes work).

How the benchmarks use it (each starts it against its own throwaway Redis
and MariaDB and stops it, forked workers included, at the end):
  tests/bench/storage_bench.sh   --procs 2: the storage routes and ab
  tests/bench/jobs_bench.sh      one process: POST /jobs {"seconds": 0}
  tests/bench/upstream_bench.sh  --procs 2 --upstream URL: GET /upstream
  tests/bench/login_bench.sh     --procs 2: POST /demo/login
  tests/bench/worker_bench.sh    one process: POST /hash and /hash-process
  tests/bench/ws_bench.sh        one process: GET /ws/chat/ROOM (WebSocket)
  tests/bench/proxy_stream_bench.sh  one process, --no-storage: GET /digest,
                                 PUT /upload-digest
Each takes another peer from BENCH_PEER. Needs Debian's python3-tornado,
python3-aiomysql and python3-redis (.ci/install-deps installs them).

  /usr/bin/python3 tests/bench/peers/tornado_peer.py --port 8888 --procs 2 \\
      --mysql-port 13306 --redis-port 16379
"""
import argparse
import asyncio
import hashlib
import hmac
import json
import random
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import aiomysql
import redis.asyncio as aioredis
import tornado.escape
import tornado.httpclient
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.process
import tornado.web

WALLPAPER_PATH = "/client/v3/wallpaper_4d/wallpaperList.json"
EXTRA_FORTUNE = (0, "Additional fortune added at request time.")


class Peer:
    """Per-process state: options, then the pools opened after the fork."""
    opts = None
    mysql = None
    redis = None
    executor = None
    jobs = {}   # job id -> "queued" | "done"


def query_count(raw):
    """TechEmpower's rule: a missing or bad count is 1, at most 500."""
    try:
        return max(1, min(500, int(raw)))
    except (TypeError, ValueError):
        return 1


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


async def random_world(cur):
    await cur.execute("SELECT id, randomNumber FROM World WHERE id = %s",
                      (random.randint(1, 10000),))
    wid, number = await cur.fetchone()
    return {"id": wid, "randomNumber": number}


class Handler(tornado.web.RequestHandler):
    def set_default_headers(self):
        self.set_header("Server", "tornado-peer")

    def send(self, body, content_type="application/json"):
        self.set_header("Content-Type", content_type)
        self.finish(body)

    def send_json(self, obj, status=200):
        self.set_status(status)
        self.send(compact(obj))


class Plaintext(Handler):
    def get(self):
        self.send(b"Hello, World!", "text/plain")


class Json(Handler):
    def get(self):
        self.send_json({"message": "Hello, World!"})


class Db(Handler):
    async def get(self):
        async with Peer.mysql.acquire() as conn:
            async with conn.cursor() as cur:
                world = await random_world(cur)
        self.send_json(world)


class Queries(Handler):
    async def get(self):
        n = query_count(self.get_argument("queries", None))
        async with Peer.mysql.acquire() as conn:
            async with conn.cursor() as cur:
                worlds = [await random_world(cur) for _ in range(n)]
        self.send_json(worlds)


class Updates(Handler):
    async def get(self):
        n = query_count(self.get_argument("queries", None))
        async with Peer.mysql.acquire() as conn:
            async with conn.cursor() as cur:
                worlds = [await random_world(cur) for _ in range(n)]
                for w in worlds:
                    w["randomNumber"] = random.randint(1, 10000)
                # One statement per row, one commit for the request.
                await cur.executemany("UPDATE World SET randomNumber=%s WHERE id=%s",
                                      [(w["randomNumber"], w["id"]) for w in worlds])
            await conn.commit()
        self.send_json(worlds)


class Fortunes(Handler):
    async def get(self):
        async with Peer.mysql.acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute("SELECT id, message FROM Fortune")
                fortunes = list(await cur.fetchall())
        fortunes.append(EXTRA_FORTUNE)
        fortunes.sort(key=lambda f: f[1])
        esc = tornado.escape.xhtml_escape
        html = ["<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>",
                "<tr><th>id</th><th>message</th></tr>"]
        html += ["<tr><td>%d</td><td>%s</td></tr>" % (fid, esc(msg)) for fid, msg in fortunes]
        html.append("</table></body></html>")
        self.send("".join(html), "text/html; charset=UTF-8")


class CachedQueries(Handler):
    async def get(self):
        n = query_count(self.get_argument("count", None))
        ids = [random.randint(1, 10000) for _ in range(n)]
        cached = await Peer.redis.mget([f"world:{i}" for i in ids])
        worlds = [json.loads(v) for v in cached if v is not None]
        misses = [i for i, v in zip(ids, cached) if v is None]
        if misses:
            # Rows read from MariaDB follow the cached ones, one query each.
            async with Peer.mysql.acquire() as conn:
                async with conn.cursor() as cur:
                    for i in misses:
                        await cur.execute("SELECT id, randomNumber FROM World WHERE id=%s", (i,))
                        wid, number = await cur.fetchone()
                        world = {"id": wid, "randomNumber": number}
                        await Peer.redis.set(f"world:{i}", json.dumps(world), ex=300)
                        worlds.append(world)
        self.send_json(worlds)


class WallpaperList(Handler):
    """The seed's benchmarked endpoint: the newest wallpapers, cache-aside."""

    async def get(self):
        try:
            size = int(self.get_argument("pageSize", "20"))
        except ValueError:
            size = 20
        size = max(1, min(100, size))
        key = f"wallpaperList:{size}"
        body = await Peer.redis.get(key)
        if body is None:
            async with Peer.mysql.acquire() as conn:
                async with conn.cursor(aiomysql.DictCursor) as cur:
                    await cur.execute(
                        "SELECT id, title, url, width, height, tags, downloads FROM wallpaper "
                        "ORDER BY created_at DESC LIMIT %s", (size,))
                    rows = await cur.fetchall()
            body = compact({"code": 0, "data": rows})
            await Peer.redis.set(key, body, ex=Peer.opts.cache_ttl)
        self.send(body)


class Upstream(Handler):
    """The seed's AsyncHTTPClient benchmark: call a local HTTP service, then answer."""

    async def get(self):
        await tornado.httpclient.AsyncHTTPClient().fetch(Peer.opts.upstream)
        self.send(b"Hello, world", "text/plain")


class Digest(Handler):
    """A large upstream body read as it arrives (actord's hreq_read_upstream)."""

    async def get(self):
        h, n = hashlib.sha256(), 0

        def piece(data):
            nonlocal n
            h.update(data)
            n += len(data)

        await tornado.httpclient.AsyncHTTPClient().fetch(
            self.get_argument("url"), streaming_callback=piece, request_timeout=600)
        self.send(compact({"bytes": n, "sha256": h.hexdigest()}))


@tornado.web.stream_request_body
class UploadDigest(Handler):
    """A large request body read as it arrives (actord's hreq_read_body)."""

    def prepare(self):
        self.sha, self.n = hashlib.sha256(), 0
        self.request.connection.set_max_body_size(1 << 40)

    def data_received(self, chunk):
        self.sha.update(chunk)
        self.n += len(chunk)

    def post(self):
        self.send(compact({"bytes": self.n, "sha256": self.sha.hexdigest()}))

    put = post


def run_job(seconds, job_id):
    time.sleep(seconds)
    return job_id


class Jobs(Handler):
    """Accept at once (202), run in the thread pool; the state lives in a dict."""

    async def post(self):
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self.send_json({"error": "invalid json"}, 400)
            return
        job_id = uuid.uuid4().hex
        Peer.jobs[job_id] = "queued"
        done = asyncio.get_running_loop().run_in_executor(
            Peer.executor, run_job, float(body.get("seconds", 0.01)), job_id)
        done.add_done_callback(lambda _: Peer.jobs.__setitem__(job_id, "done"))
        self.send_json({"id": job_id, "state": "queued"}, 202)


class JobStatus(Handler):
    def get(self, job_id):
        state = Peer.jobs.get(job_id)
        if state is None:
            self.send_json({"error": "no such job"}, 404)
        else:
            self.send_json({"id": job_id, "state": state})


# ---- issue 18 (web applications): the login demo's POST /demo/login -------
# What actord's app/demo.c does, the way a Tornado application does it:
# the _xsrf check, the user's row (salt, hash, iterations: the users table of
# storage/sql/schema.sql), PBKDF2-HMAC-SHA256 in the executor (the seed's
# run_in_executor; hashlib releases the GIL), a session in Redis under a
# random id, the id in a signed cookie, 303 See Other.
DEMO_COOKIE_SECRET = "tornado-peer-demo-secret-0123456789"


def demo_pbkdf2(password, salt, iterations):
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)


class DemoLogin(Handler):
    async def post(self):
        self.check_xsrf_cookie()
        user = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "").encode()
        async with Peer.mysql.acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute("SELECT salt, hash, iterations FROM users WHERE username = %s",
                                  (user,))
                row = await cur.fetchone()
        salt, want, rounds = (bytes.fromhex(row[0]), bytes.fromhex(row[1]), row[2]) if row \
            else (bytes(16), b"", 100000)
        got = await asyncio.get_running_loop().run_in_executor(
            Peer.executor, demo_pbkdf2, password, salt, rounds)
        if not row or not hmac.compare_digest(got, want):
            self.set_status(401)
            self.finish("Wrong username or password.")
            return
        sid = uuid.uuid4().hex
        await Peer.redis.set("session:" + sid, compact({"user": user}), ex=1800)
        self.set_cookie("sid", tornado.web.create_signed_value(DEMO_COOKIE_SECRET, "sid", sid),
                        httponly=True, samesite="Lax")
        self.redirect("/demo/me", status=303)


ISSUE18_ROUTES = [(r"/demo/login", DemoLogin)]
# ---- end of issue 18 --------------------------------------------------------
# ---- BEGIN issue 16 (worker_bench.sh): CPU-bound work on an executor -------
# The seed's answer to work that would block the event loop: run_in_executor
# on a thread pool (hashlib releases the GIL while it hashes) or on a
# process pool (no GIL at all, at the cost of pickling each call).

def pbkdf2_hex(password, salt, iterations):
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()


class HashOnExecutor(Handler):
    def initialize(self, pool):
        self.pool = pool

    async def post(self):
        try:
            b = json.loads(self.request.body)
            args = (str(b["password"]), str(b["salt"]), int(b["iterations"]))
        except (ValueError, KeyError, TypeError):
            self.send_json({"error": "expected password, salt, iterations"}, 400)
            return
        executor = Peer.hash_threads if self.pool == "threads" else Peer.hash_procs
        h = await asyncio.get_running_loop().run_in_executor(executor, pbkdf2_hex, *args)
        self.send_json({"hash": h})


HASH_ROUTES = [(r"/hash", HashOnExecutor, {"pool": "threads"}),
               (r"/hash-process", HashOnExecutor, {"pool": "processes"})]


def open_hash_executors():
    Peer.hash_threads = ThreadPoolExecutor(Peer.opts.hash_workers)
    Peer.hash_procs = ProcessPoolExecutor(Peer.opts.hash_workers)
# ---- END issue 16 -----------------------------------------------------------
# --- WebSocket chat (issue 17: tests/bench/ws_bench.sh) -----------------------
# GET /ws/chat/ROOM: the Tornado course's chat room, as actord's shipped
# /ws/chat/:room does it: each text message a member sends goes to every
# member of the room as the JSON envelope {"type","room","sender","time",
# "text"}; a broadcast is write_message to each member in turn (one
# process: the rooms live in its memory).
import tornado.websocket  # noqa: E402


class ChatSocket(tornado.websocket.WebSocketHandler):
    rooms = {}

    def check_origin(self, origin):
        return True

    def open(self, room):
        self.room = room
        self.sender = "%s:%s" % tuple(self.request.connection.context.address[:2])
        ChatSocket.rooms.setdefault(room, set()).add(self)

    def on_message(self, message):
        if isinstance(message, bytes):
            self.close(1003, "text messages only")
            return
        envelope = json.dumps({"type": "message", "room": self.room, "sender": self.sender,
                               "time": int(time.time() * 1000), "text": message},
                              separators=(",", ":"))
        for member in list(ChatSocket.rooms.get(self.room, ())):
            try:
                member.write_message(envelope)
            except tornado.websocket.WebSocketClosedError:
                pass

    def on_close(self):
        members = ChatSocket.rooms.get(getattr(self, "room", None))
        if members is not None:
            members.discard(self)
            if not members:
                del ChatSocket.rooms[self.room]


WS_ROUTES = [(r"/ws/chat/([^/]+)", ChatSocket)]
# --- end WebSocket chat ---------------------------------------------------------


async def open_pools():
    o = Peer.opts
    Peer.executor = ThreadPoolExecutor(20)
    open_hash_executors()
    if o.no_storage:
        return
    Peer.mysql = await aiomysql.create_pool(
        host=o.mysql_host, port=o.mysql_port, user=o.mysql_user, password=o.mysql_password,
        db="hello_world", charset="utf8mb4", minsize=o.pool, maxsize=o.pool, autocommit=False)
    Peer.redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool(
        host="127.0.0.1", port=o.redis_port, max_connections=o.pool, timeout=30))


def parse_args():
    p = argparse.ArgumentParser(description="Tornado comparison peer of actord's benchmarks")
    p.add_argument("--port", type=int, default=8888, help="HTTP port on 127.0.0.1")
    p.add_argument("--procs", type=int, default=1,
                   help="processes sharing the socket (0: one per core)")
    p.add_argument("--mysql-host", default="127.0.0.1")
    p.add_argument("--mysql-port", type=int, default=3306)
    p.add_argument("--mysql-user", default="benchmarkdbuser")
    p.add_argument("--mysql-password", default="benchmarkdbpass")
    p.add_argument("--redis-port", type=int, default=6379, help="Redis on 127.0.0.1")
    p.add_argument("--pool", type=int, default=16,
                   help="MariaDB and Redis connections per process")
    p.add_argument("--cache-ttl", type=int, default=60, help="wallpaper list cache, seconds")
    p.add_argument("--upstream", default="http://127.0.0.1:9000/", help="URL /upstream fetches")
    p.add_argument("--no-storage", action="store_true",
                   help="open no MariaDB or Redis pool (routes that need them fail)")
    p.add_argument("--hash-workers", type=int, default=2,
                   help="threads / processes of the /hash executors")
    return p.parse_args()


def main():
    Peer.opts = parse_args()
    # /digest streams bodies of any size (SimpleAsyncHTTPClient stops at 100 MiB).
    tornado.httpclient.AsyncHTTPClient.configure(None, max_body_size=1 << 40)
    app = tornado.web.Application([
        (r"/plaintext", Plaintext), (r"/json", Json), (r"/db", Db), (r"/queries", Queries),
        (r"/updates", Updates), (r"/fortunes", Fortunes), (r"/cached-queries", CachedQueries),
        (WALLPAPER_PATH, WallpaperList), (r"/upstream", Upstream), (r"/digest", Digest),
        (r"/upload-digest", UploadDigest),
        (r"/jobs", Jobs), (r"/jobs/([0-9a-f]+)", JobStatus),
        *ISSUE18_ROUTES,
    ] + HASH_ROUTES + WS_ROUTES, log_function=lambda handler: None)   # no access log
    sockets = tornado.netutil.bind_sockets(Peer.opts.port, address="127.0.0.1", backlog=65535)
    if Peer.opts.procs != 1:
        tornado.process.fork_processes(Peer.opts.procs)   # the parent only waits
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    loop = tornado.ioloop.IOLoop.current()
    loop.run_sync(open_pools)
    loop.start()


if __name__ == "__main__":
    main()
