# test_routes.py: the demo module's routes (spec/demo-routes.md) through a
# real master and its workers: echo, add (with its declared schema), count,
# sparse, fail, whoami, secret, note and notes.

import time

import pytest

import harness
from harness import Client, run, same_json, tag, is_number


# ---- echo -------------------------------------------------------------------------

ECHO_VALUES = [
    None, True, False, 0, -1, 42, 2**31, -2**31 - 1,
    2**53 + 1, 2**63 - 1, -2**63, 2**64 - 1,
    0.5, -2.25, 0.1, 1e-300, -1.7976931348623157e308, 5e-324, 123456.789,
    "", "plain", "h\u00e9llo", "\u65e5\u672c\u8a9e", "\U0001F642 astral",
    "esc \" \\ / \b \f \n \r \t", "ctl \u0001\u001f", "nul \u0000 inside",
    "\u2028\u2029", "\ufeff bom",
    [], {}, [[]], [{}], {"": ""}, {"a": []},
    [1, "two", 3.5, None, True, {"k": [False]}],
    {"nested": {"deeper": {"deepest": [1, [2, [3, [4]]]]}},
     "unicode key \u00e9": "v", "n": None},
    {"many": {str(i): i for i in range(100)}},
    list(range(1000)),
]


def _nest(depth):
    v = "core"
    for i in range(depth):
        v = [v] if i % 2 else {"d": v}
    return v


ECHO_VALUES.append(_nest(20))


@pytest.mark.parametrize("value", ECHO_VALUES, ids=lambda v: repr(v)[:40])
def test_echo_round_trip(server, value):
    async def body():
        async with await Client.connect(server) as c:
            msg = await c.request("echo", [value])
            assert "result" in msg, msg
            assert same_json(msg["result"], value), (value, msg)
    run(body())


def test_echo_raw_utf8_and_escaped_text_are_the_same_value(server):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":"echo","params":["\\ud83d\\ude42 \\u00e9"],'
                              '"id":1}')
            a = await c.recv()
            await c.send_text('{"method":"echo","params":["\U0001F642 \u00e9"],'
                              '"id":2}')
            b = await c.recv()
            assert a == {"id": 1, "result": "\U0001F642 \u00e9"}, a
            assert b == {"id": 2, "result": "\U0001F642 \u00e9"}, b
    run(body())


def test_echo_64k_string(server):
    value = ("0123456789abcdef\u00e9\U0001F642" * 4000)[:65536]
    async def body():
        async with await Client.connect(server) as c:
            assert await c.result("echo", [value]) == value
    run(body())


# ---- add ----------------------------------------------------------------------------

@pytest.mark.parametrize("params,want", [
    ([1, 2], 3), ([-5, 5], 0), ([1.5, 2.25], 3.75), ([1, 0.5], 1.5),
    ([1e300, 1e300], 2e300), ([0, 0], 0),
])
def test_add(server, params, want):
    async def body():
        async with await Client.connect(server) as c:
            got = await c.result("add", params)
            assert is_number(got) and got == want, (params, got)
    run(body())


@pytest.mark.parametrize("params,path,value", [
    ([1], "/1", None),
    ([], "/0", None),
    (["a", 1], "/0", "a"),
    ([1, "b"], "/1", "b"),
    ([1, True], "/1", True),
    ([None, 1], "/0", None),
    ([1, [2]], "/1", [2]),
    ([{"x": 1}, 2], "/0", {"x": 1}),
    (["a", "b"], "/0", "a"),
    ([1, 2, 3], "/2", 3),
    ([1, 2, {"x": 1}, 4], "/2", {"x": 1}),
], ids=lambda v: repr(v))
def test_add_schema_violation(server, params, path, value):
    async def body():
        async with await Client.connect(server) as c:
            msg = await c.request("add", params)
            assert "error" in msg, msg
            assert msg["error"]["code"] == 400, msg
            assert isinstance(msg["error"]["message"], str), msg
            assert same_json(msg["error"].get("data"),
                             {"path": path, "value": value}), msg
    run(body())


# ---- count ----------------------------------------------------------------------

@pytest.mark.parametrize("n,interval", [(5, 20), (1, 0), (3, 0), (0, 10)])
def test_count(server, n, interval):
    async def body():
        async with await Client.connect(server) as c:
            t0 = int(time.time() * 1000)
            msgs = await c.subscribe("count", [n, interval], id="c")
            t1 = int(time.time() * 1000)
            assert msgs[-1] == {"id": "c", "close": True}, msgs
            chunks = msgs[:-1]
            assert len(chunks) == n, msgs
            stamps = []
            for i, m in enumerate(chunks):
                assert set(m) == {"id", "result"} and m["id"] == "c", m
                r = m["result"]
                assert set(r) == {"count", "timestamp"}, m
                assert same_json(r["count"], i), m
                assert type(r["timestamp"]) is int, m
                assert t0 - 1000 <= r["timestamp"] <= t1 + 1000, (t0, m, t1)
                stamps.append(r["timestamp"])
            assert stamps == sorted(stamps), stamps
            if n > 1:
                # interval_ms apart (1 ms of clock granularity allowed).
                assert stamps[-1] - stamps[0] >= (n - 1) * interval - 1, stamps
            assert c.stray == []
    run(body())


def test_two_subscriptions_interleave_on_one_connection(server):
    async def body():
        async with await Client.connect(server) as c:
            await c.send({"method": "count", "params": [4, 10], "id": "a"})
            await c.send({"method": "count", "params": [4, 10], "id": "b"})
            got = {"a": [], "b": []}
            closed = set()
            while closed != {"a", "b"}:
                m = await c.recv()
                if m.get("close"):
                    closed.add(m["id"])
                else:
                    assert m["id"] not in closed, m
                    got[m["id"]].append(m["result"]["count"])
            assert got == {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]}
    run(body())


# ---- sparse ---------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_sparse(server, n):
    async def body():
        async with await Client.connect(server) as c:
            msgs = await c.subscribe("sparse", [n], id=9)
            want = [{"id": 9, "result": i} if i % 2 == 0 else {"id": 9}
                    for i in range(n)] + [{"id": 9, "close": True}]
            assert len(msgs) == len(want), msgs
            for got, w in zip(msgs, want):
                assert same_json(got, w), (got, w)
    run(body())


# ---- fail -------------------------------------------------------------------------

@pytest.mark.parametrize("params,error", [
    ([418, "teapot", {"x": [1, "y"]}],
     {"code": 418, "message": "teapot", "data": {"x": [1, "y"]}}),
    ([400, "bad", "just a string"],
     {"code": 400, "message": "bad", "data": "just a string"}),
    ([599, "last", [None, 2]], {"code": 599, "message": "last", "data": [None, 2]}),
    ([503, "\u00e9t\u00e9 \U0001F642", 0],
     {"code": 503, "message": "\u00e9t\u00e9 \U0001F642", "data": 0}),
], ids=["418", "400", "599", "unicode"])
def test_fail_passes_code_message_data_through(server, params, error):
    async def body():
        async with await Client.connect(server) as c:
            msg = await c.request("fail", params, id="f")
            assert same_json(msg, {"id": "f", "error": error}), msg
    run(body())


def test_fail_without_data(server):
    async def body():
        async with await Client.connect(server) as c:
            msg = await c.request("fail", [422, "no data"], id="f")
            assert set(msg) == {"id", "error"}, msg
            assert msg["error"]["code"] == 422, msg
            assert msg["error"]["message"] == "no data", msg
    run(body())


@pytest.mark.parametrize("code", [399, 600, 200, 0, -1, 1000])
def test_fail_code_outside_400_599_becomes_500(server, code):
    async def body():
        async with await Client.connect(server) as c:
            msg = await c.request("fail", [code, "odd"])
            assert "error" in msg and msg["error"]["code"] == 500, msg
    run(body())


# ---- whoami -----------------------------------------------------------------------

def test_whoami(server):
    async def body():
        headers = {"X-Test-Header": "Hello World", "X-Other": "42"}
        async with await Client.connect(server, headers=headers) as c1, \
                await Client.connect(server) as c2:
            a = await c1.result("whoami", [])
            a2 = await c1.result("whoami")
            b = await c2.result("whoami", [])
            assert set(a) == {"id", "ip", "pid", "headers"}, a
            assert harness.UUID4.match(a["id"]), a
            assert harness.UUID4.match(b["id"]), b
            assert a["id"] == a2["id"], "one connection, one id"
            assert a["id"] != b["id"], "two connections, two ids"
            assert a["ip"] == "127.0.0.1" and b["ip"] == "127.0.0.1"
            for r in (a, a2, b):
                assert type(r["pid"]) is int and r["pid"] > 0, r
                if not server.external:
                    assert r["pid"] in harness.worker_pids(server.proc.pid), r
            h = a["headers"]
            assert all(k == k.lower() for k in h), h
            assert h["x-test-header"] == "Hello World", h
            assert h["x-other"] == "42", h
            assert h["upgrade"].lower() == "websocket", h
            assert h["host"] == "127.0.0.1:%d" % server.port, h
            assert "sec-websocket-key" in h, h
            assert "x-test-header" not in b["headers"], b
    run(body())


# ---- secret -------------------------------------------------------------------------

@pytest.mark.parametrize("auth", [None, "Bearer nope", "Bearer demo-token2",
                                  "Basic ZGVtby10b2tlbg==", "demo-token"])
def test_secret_refused_without_the_token(server, auth):
    async def body():
        headers = {"Authorization": auth} if auth else {}
        async with await Client.connect(server, headers=headers) as c:
            msg = await c.request("secret", [], id="s")
            assert set(msg) == {"id", "error"} and msg["id"] == "s", msg
            assert msg["error"]["code"] == 401, msg
    run(body())


def test_secret_granted_with_the_token(server):
    async def body():
        async with await Client.connect(
                server, headers={"Authorization": "Bearer demo-token"}) as c:
            msg = await c.request("secret", [], id="s")
            assert msg == {"id": "s", "result": "granted"}, msg
    run(body())


# ---- note / notes -------------------------------------------------------------------

async def _wait_notes(c, t, want, tries=400):
    """notes for t until it equals want (notes run asynchronously)."""
    got = None
    for _ in range(tries):
        got = await c.result("notes", [t])
        if got == want:
            return got
    raise AssertionError("notes %r never became %r (last %r)" % (t, want, got))


def test_note_then_notes_in_order_across_connections(server):
    values = [1, "two", {"three": [3]}, None, 5.5, [True]]

    async def body():
        t = tag()
        async with await Client.connect(server) as c1:
            assert await c1.result("notes", [t]) == []
            # One note at a time, so that the recording order is defined
            # even when notes run on different workers.
            for i, v in enumerate(values):
                await c1.send({"method": "note", "params": [t, v]})
                await _wait_notes(c1, t, values[:i + 1])
            assert c1.stray == []
        async with await Client.connect(server) as c2:
            got = await c2.result("notes", [t])
            assert same_json(got, values), got
            await c2.send({"method": "note", "params": [t, "from c2"]})
            await _wait_notes(c2, t, values + ["from c2"])
        async with await Client.connect(server) as c3:
            assert await c3.result("notes", [tag()]) == []
            got = await c3.result("notes", [t])
            assert same_json(got, values + ["from c2"]), got
    run(body())
