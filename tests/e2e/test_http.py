"""HTTP/1.1 behaviour of a real actord over real sockets (issue: HTTP)."""
from conftest import RawClient


def test_plaintext_answers_hello_world_with_the_mandatory_headers(actord):
    r = actord.get("/plaintext")
    assert r.status == 200
    assert r.body == b"Hello, World!"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["content-length"] == "13"
    assert r.headers["server"] == "actord"
    assert r.headers["date"].endswith(" GMT")


def test_json_is_built_per_request(actord):
    r = actord.get("/json")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"message": "Hello, World!"}


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(actord):
    assert actord.get("/nope").status == 404
    r = actord.request("POST", "/plaintext", body=b"x")
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD"


def test_route_parameters_and_query_are_decoded(actord):
    r = actord.get("/_test/params/x%20y/a/b?q=hi+there%21")
    assert r.json()["a"] == "x y"
    assert r.json()["b"] == "a/b"
    assert r.json()["q"] == "hi there!"


def test_keep_alive_serves_many_requests_on_one_connection(actord):
    c = RawClient(actord.port)
    for _ in range(100):
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().body == b"Hello, World!"
    c.close()
