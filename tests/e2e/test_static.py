"""Static files (issue: web applications): configured mounts served by the
file actors and each handler's cache, ETag / Last-Modified with 304, one
Range -> 206 (416 past the end), HEAD, index files, no listing, sendfile
for large files, gzip / brotli negotiation and precompressed siblings,
bounded staleness, and nothing outside the directory: "..", encoded dot
segments, NUL bytes, dotfiles and symlinks that lead out."""
import gzip
import os
import signal
import time

import brotli
import pytest

from conftest import RawClient, wait_until

SMALL = ("static file line with some repeated words words words\n" * 60).encode()  # ~3.3 KB
BIG_BIN = os.urandom(600 * 1024)            # > static.cache_file_bytes: sendfile
BIG_TXT = ("a large text file, larger than the cache limit\n" * 9000).encode()  # ~430 KB


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "small.txt").write_bytes(SMALL)
    (root / "big.bin").write_bytes(BIG_BIN)
    (root / "big.txt").write_bytes(BIG_TXT)
    (root / "big.txt.gz").write_bytes(gzip.compress(BIG_TXT))
    (root / "tiny.txt").write_bytes(b"tiny\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 4000)
    (root / "pre.css").write_bytes(b"body { color: red; }\n" * 100)
    (root / "pre.css.gz").write_bytes(gzip.compress(b"body { color: red; }\n" * 100, 1))
    (root / "pre.css.br").write_bytes(brotli.compress(b"body { color: red; }\n" * 100, quality=1))
    (root / "sub" / "index.html").write_bytes(b"<!DOCTYPE html><p>sub index</p>\n")
    (root / ".hidden").write_bytes(b"secret\n")
    (tmp_path / "outside.txt").write_bytes(b"outside the mount\n")
    os.symlink(tmp_path / "outside.txt", root / "link_out")
    os.symlink("small.txt", root / "link_in")
    os.symlink("/", root / "rootlink")
    return root


@pytest.fixture
def a(actord_factory, site):
    return actord_factory({"static": {
        "mounts": [{"prefix": "/s/", "dir": str(site), "index": "index.html", "max_age_s": 60},
                   {"prefix": "/noindex/", "dir": str(site)}],
        "revalidate_ms": 200}})


def raw(a, path, method="GET", headers=None):
    """One request with the path sent byte for byte (urllib would normalise it)."""
    c = RawClient(a.port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    c.send(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    r = c.read_response(head=method == "HEAD")
    c.close()
    return r


def test_type_validators_and_304(a):
    r = a.get("/s/small.txt")
    assert r.status == 200 and r.body == SMALL
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "max-age=60"
    assert r.headers["accept-ranges"] == "bytes"
    etag, lm = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('"') and lm.endswith("GMT")
    assert a.get("/s/logo.png").headers["content-type"] == "image/png"
    assert a.get("/s/pre.css").headers["content-type"] == "text/css; charset=utf-8"

    r = a.get("/s/small.txt", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and r.headers["etag"] == etag
    assert "content-length" not in r.headers and "content-type" not in r.headers
    assert a.get("/s/small.txt", headers={"If-None-Match": f'"nope", W/{etag}'}).status == 304
    assert a.get("/s/small.txt", headers={"If-None-Match": "*"}).status == 304
    assert a.get("/s/small.txt", headers={"If-None-Match": '"other"'}).status == 200
    assert a.get("/s/small.txt", headers={"If-Modified-Since": lm}).status == 304
    old = "Sat, 01 Jan 2000 00:00:00 GMT"
    assert a.get("/s/small.txt", headers={"If-Modified-Since": old}).status == 200
    # If-None-Match wins over If-Modified-Since.
    assert a.get("/s/small.txt", headers={"If-None-Match": '"other"',
                                          "If-Modified-Since": lm}).status == 200
    # The same validators for the large file (the sendfile path).
    r = a.get("/s/big.bin")
    assert r.status == 200 and r.body == BIG_BIN
    assert r.headers["content-type"] == "application/octet-stream"
    assert a.get("/s/big.bin", headers={"If-None-Match": r.headers["etag"]}).status == 304


def test_head_sends_the_length_without_the_body(a):
    for path, body in (("/s/small.txt", SMALL), ("/s/big.bin", BIG_BIN)):
        c = RawClient(a.port)
        c.send(f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /s/tiny.txt HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        r = c.read_response(head=True)
        assert r.status == 200 and int(r.headers["content-length"]) == len(body)
        assert c.read_response().body == b"tiny\n"   # nothing of the body came between
        c.close()


@pytest.mark.parametrize("path", ["/s/small.txt", "/s/big.bin"])
def test_ranges(a, path):
    data = SMALL if path == "/s/small.txt" else BIG_BIN
    n = len(data)

    def rng(v, **extra):
        return a.get(path, headers=dict({"Range": v, "Accept-Encoding": "gzip, br"}, **extra))

    for spec, first, last in (("bytes=0-9", 0, 9), ("bytes=10-", 10, n - 1),
                              ("bytes=-5", n - 5, n - 1), ("bytes=0-0", 0, 0),
                              (f"bytes=100-{n + 1000}", 100, n - 1), (f"bytes=-{n * 2}", 0, n - 1),
                              # Past 2^64: still to the end (it was a 200 with everything).
                              ("bytes=0-99999999999999999999", 0, n - 1),
                              ("bytes=-99999999999999999999", 0, n - 1)):
        r = rng(spec)
        assert r.status == 206, spec
        assert r.headers["content-range"] == f"bytes {first}-{last}/{n}", spec
        assert r.body == data[first:last + 1], spec
        assert "content-encoding" not in r.headers, "a range is never compressed"
    for spec in (f"bytes={n}-", f"bytes={n + 5}-{n + 9}", "bytes=-0", "bytes=99999999999999999999-"):
        r = rng(spec)
        assert r.status == 416, spec
        assert r.headers["content-range"] == f"bytes */{n}"
    # Several ranges, a reversed one, junk: the whole file.
    for spec in ("bytes=0-1,5-6", "bytes=9-2", "pages=1-2", "bytes=x-"):
        r = rng(spec)
        assert r.status == 200 and "content-range" not in r.headers, spec
    etag = a.get(path).headers["etag"]
    assert rng("bytes=0-3", **{"If-Range": etag}).status == 206
    r = rng("bytes=0-3", **{"If-Range": '"old"'})
    assert r.status == 200


def test_sendfile_bodies_keep_pipelined_answers_in_order(a):
    c = RawClient(a.port)
    c.send(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /s/small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-1999\r\n\r\n"
           b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.read_response().body == BIG_BIN
    assert c.read_response().body == SMALL
    r = c.read_response()
    assert r.status == 206 and r.body == BIG_BIN[1000:2000]
    assert c.read_response().body == BIG_BIN
    assert c.read_response().body == b"Hello, World!"
    c.close()


def test_index_files_and_no_listing(a):
    r = a.get("/s/sub/")
    assert r.status == 200 and r.body == b"<!DOCTYPE html><p>sub index</p>\n"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert a.get("/noindex/sub/").status == 404      # no index: no listing either
    assert a.get("/noindex/").status == 404
    assert a.get("/s/").status == 404                  # no index.html at the top
    r = raw(a, "/s/sub")
    assert r.status == 301 and r.headers["location"] == "/s/sub/"
    r = raw(a, "/s/sub?x=1&y=a%20b")                   # the query kept, as sent
    assert r.status == 301 and r.headers["location"] == "/s/sub/?x=1&y=a%20b"
    assert raw(a, "/noindex/sub").status == 404
    assert a.get("/s/missing.txt").status == 404


@pytest.mark.parametrize("path", [
    "/s/../outside.txt", "/s/sub/../../outside.txt", "/s/%2e%2e/outside.txt",
    "/s/%2E%2E%2Foutside.txt", "/s/sub/%2e%2e/%2e%2e/outside.txt", "/s/..%2f..%2fetc%2fpasswd",
    "/s/./small.txt", "/s/%2e/small.txt", "/s//small.txt", "/s/sub//index.html",
    "/s/.hidden", "/s/%2ehidden", "/s/link_out", "/s/rootlink/etc/passwd",
    "/s/small.txt/", "/s/small.txt/x", "/s/..", "/s/%2e%2e",
])
def test_nothing_outside_the_directory(a, path):
    r = raw(a, path)
    assert r.status in (400, 404), (path, r.status)
    assert b"outside the mount" not in r.body and b"root:" not in r.body


@pytest.mark.parametrize("path", ["/s/small.txt%00.png", "/s/%00", "/s/sm%zzall.txt"])
def test_nul_bytes_and_bad_escapes_are_400(a, path):
    assert raw(a, path).status == 400


def test_symlinks_inside_the_directory_are_served(a):
    r = a.get("/s/link_in")
    assert r.status == 200 and r.body == SMALL


def test_compression_negotiation(a):
    def get(path, ae):
        return a.get(path, headers={"Accept-Encoding": ae} if ae is not None else {})

    r = get("/s/small.txt", "gzip")
    assert r.headers["content-encoding"] == "gzip" and gzip.decompress(r.body) == SMALL
    assert r.headers["vary"] == "Accept-Encoding" and r.headers["etag"].endswith('-gz"')
    r = get("/s/small.txt", "gzip, deflate, br")
    assert r.headers["content-encoding"] == "br" and brotli.decompress(r.body) == SMALL
    assert r.headers["etag"].endswith('-br"')
    assert get("/s/small.txt", "br;q=0.5, gzip").headers["content-encoding"] == "gzip"
    assert get("/s/small.txt", "gzip;q=0.2, br;q=0.9").headers["content-encoding"] == "br"
    assert get("/s/small.txt", "*").headers["content-encoding"] == "br"
    assert get("/s/small.txt", "*, br;q=0").headers["content-encoding"] == "gzip"
    for ae in (None, "identity", "gzip;q=0, br;q=0", "deflate", "*;q=0", "gzip;q=x"):
        r = get("/s/small.txt", ae)
        assert "content-encoding" not in r.headers and r.body == SMALL, ae
        assert r.headers["vary"] == "Accept-Encoding"
    # A 304 for the compressed variant's tag too.
    etag = get("/s/small.txt", "gzip").headers["etag"]
    assert a.get("/s/small.txt", headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}).status == 304
    # Never: already compressed types, bodies under compress.min_bytes.
    for path in ("/s/logo.png", "/s/tiny.txt", "/s/big.bin"):
        r = get(path, "gzip, br")
        assert "content-encoding" not in r.headers, path
    # Precompressed siblings are sent as they are.
    assert get("/s/pre.css", "gzip").body == gzip.compress(b"body { color: red; }\n" * 100, 1) or \
        gzip.decompress(get("/s/pre.css", "gzip").body) == b"body { color: red; }\n" * 100
    pre_gz = (a.get("/s/pre.css.gz")).body
    assert get("/s/pre.css", "gzip").body == pre_gz
    assert get("/s/pre.css", "br").body == a.get("/s/pre.css.br").body
    # A large file: its .gz sibling through sendfile; no sibling: identity.
    r = get("/s/big.txt", "br, gzip")
    assert r.headers["content-encoding"] == "gzip" and gzip.decompress(r.body) == BIG_TXT
    r = get("/s/big.txt", None)
    assert "content-encoding" not in r.headers and r.body == BIG_TXT


def test_a_304_carries_the_etag_of_the_variant_a_200_would_send(a):
    """RFC 9110 15.4.5: it used to carry the identity tag for a gzip client."""
    for ae, suffix in (("gzip", '-gz"'), ("br", '-br"'), (None, None)):
        hdrs = {"Accept-Encoding": ae} if ae is not None else {}
        tag = a.get("/s/small.txt", headers=hdrs).headers["etag"]
        assert suffix is None or tag.endswith(suffix), tag
        r = a.get("/s/small.txt", headers=dict(hdrs, **{"If-None-Match": tag}))
        assert (r.status, r.headers["etag"]) == (304, tag), ae


def test_a_changed_precompressed_sibling_is_seen_with_a_new_etag(a, site):
    """Revalidation compared only the file itself: a rewritten pre.css.gz
    was served from the cache forever, under its old ETag; a large file's
    sibling came fresh from disk under the old ETag (a wrong 304)."""
    css = b"body { color: red; }\n" * 100
    gz = {"Accept-Encoding": "gzip"}
    old = a.get("/s/pre.css", headers=gz)
    new_gz = gzip.compress(b"/* new */" + css, 9)
    (site / "pre.css.gz").write_bytes(new_gz)        # pre.css itself unchanged

    def seen(path, body, old_tag):
        r = a.get(path, headers=gz)
        return r.body == body and r.headers["etag"] != old_tag
    wait_until(lambda: seen("/s/pre.css", new_gz, old.headers["etag"]), 5,
               "the new sibling under a new tag")
    wait_until(lambda: a.get("/s/pre.css", headers=dict(gz, **{"If-None-Match": old.headers["etag"]}))
               .status == 200, 5, "no 304 for the old tag")
    (site / "pre.css.gz").unlink()                   # gone: compressed here again
    wait_until(lambda: a.get("/s/pre.css", headers=gz).body not in (new_gz, old.body),
               5, "the sibling's removal")
    assert gzip.decompress(a.get("/s/pre.css", headers=gz).body) == css
    # A large file: its sibling is opened per request, its tag must follow.
    big_old = a.get("/s/big.txt", headers=gz)
    big_new = gzip.compress(BIG_TXT, 1)
    assert big_new != big_old.body
    (site / "big.txt.gz").write_bytes(big_new)
    wait_until(lambda: seen("/s/big.txt", big_new, big_old.headers["etag"]), 5, "the big sibling")
    r = a.get("/s/big.txt", headers=dict(gz, **{"If-None-Match": big_old.headers["etag"]}))
    assert r.status == 200 and r.body == big_new


def test_an_unknown_method_is_405_on_a_mount_and_404_elsewhere(a):
    """As nginx answers on a static location; it used to be 405 with every
    method in Allow on any path, existing or not."""
    for method in ("PROPFIND", "TRACE"):
        r = raw(a, "/s/small.txt", method)
        assert (r.status, r.headers["allow"]) == (405, "GET, HEAD"), method
        assert raw(a, "/no/such/path", method).status == 404, method
    r = raw(a, "/json", "TRACE")
    assert (r.status, r.headers["allow"]) == (405, "GET, HEAD")


def test_mount_compress_off(actord_factory, site):
    a = actord_factory({"static": {"mounts": [{"prefix": "/s/", "dir": str(site),
                                               "compress": False}]}})
    r = a.get("/s/small.txt", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in r.headers and "vary" not in r.headers


def test_a_file_cached_uncompressed_is_compressed_once_allowed(actord_factory, site):
    """The handler's cache kept a file made without variants (compression
    off) and, the file unchanged, served it so after a reload turned
    compression on, and to a second mount of the directory that has it
    on: "compress" then did nothing until the file changed."""
    a = actord_factory({"static": {"mounts": [{"prefix": "/raw/", "dir": str(site), "compress": False},
                                              {"prefix": "/s/", "dir": str(site)}],
                                   "revalidate_ms": 0},
                        "compress": {"enabled": False}, "actors": {"handler": {"count": 1}}})
    gz = {"Accept-Encoding": "gzip"}
    assert "content-encoding" not in a.get("/s/small.txt", headers=gz).headers
    a.cfg["compress"]["enabled"] = True
    a.write_config(a.cfg)
    a.signal(signal.SIGHUP)
    wait_until(lambda: a.stderr().count("configuration reloaded from") >= 1, 10, "the reload")
    r = a.get("/s/small.txt", headers=gz)
    assert r.headers.get("content-encoding") == "gzip" and gzip.decompress(r.body) == SMALL
    (site / "two.txt").write_bytes(SMALL)                # no precompressed sibling
    assert "content-encoding" not in a.get("/raw/two.txt", headers=gz).headers
    r = a.get("/s/two.txt", headers=gz)
    assert r.headers.get("content-encoding") == "gzip" and gzip.decompress(r.body) == SMALL
    assert "content-encoding" not in a.get("/raw/two.txt", headers=gz).headers


def test_bounded_staleness(a, site):
    assert a.get("/s/small.txt").body == SMALL
    (site / "small.txt").write_bytes(b"changed\n" * 100)
    t0 = time.monotonic()
    wait_until(lambda: a.get("/s/small.txt").body == b"changed\n" * 100, 5, "the new content")
    (site / "small.txt").unlink()
    wait_until(lambda: a.get("/s/small.txt").status == 404, 5, "the 404")
    (site / "small.txt").write_bytes(b"back\n")
    wait_until(lambda: a.get("/s/small.txt").body == b"back\n", 5, "the file back")
    assert time.monotonic() - t0 < 5


def test_a_tiny_cache_still_serves_everything(actord_factory, site):
    a = actord_factory({"static": {"mounts": [{"prefix": "/s/", "dir": str(site)}],
                                   "cache_bytes": 4096, "cache_file_bytes": 4096,
                                   "revalidate_ms": 0}})
    for _ in range(3):
        for path, body in (("/s/small.txt", SMALL), ("/s/pre.css", b"body { color: red; }\n" * 100),
                           ("/s/big.bin", BIG_BIN)):
            assert a.get(path).body == body


def test_techempower_routes_are_never_compressed(actord):
    for path in ("/plaintext", "/json"):
        r = actord.get(path, headers={"Accept-Encoding": "gzip, br"})
        assert r.status == 200 and "content-encoding" not in r.headers, path
        assert "vary" not in r.headers


def test_bad_mounts_are_config_errors(actord_factory, tmp_path):
    import subprocess
    from conftest import BIN
    for mounts, want in (
            ([{"prefix": "/s/", "dir": str(tmp_path / "nope")}], "static.mounts[0].dir"),
            ([{"prefix": "s/", "dir": str(tmp_path)}], "static.mounts[0].prefix"),
            ([{"prefix": "/s/"}], "static.mounts[0]: needs both"),
            ([{"prefix": "/s/", "dir": str(tmp_path), "index": "../x"}], "static.mounts[0].index"),
            ([{"prefix": "/s/", "dir": str(tmp_path), "colour": 1}], "static.mounts[0].colour: unknown key")):
        cfg = tmp_path / "bad.json"
        import json
        cfg.write_text(json.dumps({"static": {"mounts": mounts}}))
        r = subprocess.run([BIN, "-t", "-c", str(cfg)], capture_output=True, text=True)
        assert r.returncode == 1 and f"{cfg}: {want}" in r.stderr, r.stderr


def test_large_files_keep_their_descriptor_within_the_staleness_bound(a, site):
    # Identity first: the handler keeps big.txt's descriptor; a client that
    # takes gzip still gets the precompressed sibling.
    assert a.get("/s/big.txt").body == BIG_TXT
    r = a.get("/s/big.txt", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and gzip.decompress(r.body) == BIG_TXT
    assert a.get("/s/big.bin").body == BIG_BIN
    # Replaced by a new file (a new inode, as deployments do), then changed
    # in place, then deleted: each is seen within static.revalidate_ms.
    new = os.urandom(700 * 1024)
    (site / "big.bin.new").write_bytes(new)
    os.rename(site / "big.bin.new", site / "big.bin")
    wait_until(lambda: a.get("/s/big.bin").body == new, 5, "the replaced file")
    with open(site / "big.bin", "r+b") as f:
        f.write(b"changed in place")
    os.utime(site / "big.bin", (time.time() + 5, time.time() + 5))
    wait_until(lambda: a.get("/s/big.bin").body[:16] == b"changed in place", 5, "the edit")
    (site / "big.bin").unlink()
    wait_until(lambda: a.get("/s/big.bin").status == 404, 5, "the 404")
