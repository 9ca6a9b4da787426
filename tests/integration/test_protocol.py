# test_protocol.py: the alien-rpc message protocol on a real master, row by
# row of spec/wire-protocol.md: ids, malformed messages, params, .ping,
# .cancel, many calls in flight, notifications, size limit, binary
# messages, RFC 6455 violations and the close handshake.

import json

import pytest

import harness
from harness import (Client, RawWS, run, same_json, tag, OP_TEXT,
                     OP_CLOSE, OP_PING, OP_PONG, OP_CONT, close_payload)


def error_code(msg):
    assert "error" in msg, "expected an error, got %r" % (msg,)
    assert set(msg) == {"id", "error"}, msg
    err = msg["error"]
    assert isinstance(err.get("message"), str), msg
    return err["code"]


# ---- ids ----------------------------------------------------------------------

VALID_IDS = [
    0,
    1,
    2**53 - 1,
    "",
    "x",
    "a" * 256,                       # the longest allowed string
    "\U0001F642" * 64,               # 256 bytes of UTF-8 in 64 characters
    "h\u00e9llo \u65e5\u672c \U0001F642",
    "quote\" back\\slash\nnew\ttab \u0001 \u2028",
    "17",                            # a string that looks like a number
]


@pytest.mark.parametrize("call_id", VALID_IDS, ids=lambda v: repr(v)[:30])
def test_id_echoed_verbatim(server, call_id):
    async def body():
        async with await Client.connect(server) as c:
            await c.send({"method": "echo", "params": ["v"], "id": call_id})
            msg = await c.recv()
            assert same_json(msg, {"id": call_id, "result": "v"}), msg
    run(body())


def test_id_big_integer_is_written_as_an_integer(server):
    """2^53-1 must come back as the integer literal, not 9.007e15."""
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":"echo","params":[1],'
                              '"id":9007199254740991}')
            raw = await c.ws.recv()
            assert "9007199254740991" in raw, raw
            assert json.loads(raw) == {"id": 9007199254740991, "result": 1}
    run(body())


INVALID_IDS = [
    ("2^53", "9007199254740992"),
    ("-1", "-1"),
    ("1.5", "1.5"),
    ("true", "true"),
    ("false", "false"),
    ("object", '{"a":1}'),
    ("array", "[1]"),
    ("257 bytes", json.dumps("a" * 257)),
    ("257 bytes utf8", json.dumps("\u00e9" * 128 + "a")),
]


@pytest.mark.parametrize("raw_id", [v for _, v in INVALID_IDS],
                         ids=[n for n, _ in INVALID_IDS])
def test_invalid_id_refused_with_null_id(server, raw_id):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":"echo","params":[1],"id":%s}' % raw_id)
            msg = await c.recv()
            assert msg["id"] is None, msg
            assert error_code(msg) == 400
            # The refused call did not run: only the probe answers next.
            assert await c.probe() == []
    run(body())


def test_duplicate_inflight_id_refused_then_cancel(server):
    async def body():
        async with await Client.connect(server) as c:
            await c.send({"method": "count", "params": [1000, 100], "id": "dup"})
            first = await c.recv()
            assert first["id"] == "dup" and first["result"]["count"] == 0, first
            await c.send({"method": "echo", "params": [1], "id": "dup"})
            msgs = await c.recv_until(lambda m: "error" in m)
            err = msgs[-1]
            assert err["id"] == "dup" and error_code(err) == 400, err
            # The call that was in flight goes on.
            chunks = await c.recv_until(
                lambda m: m.get("id") == "dup" and "result" in m
                and m["result"]["count"] >= 2)
            assert all("close" not in m and "error" not in m for m in chunks)
            await c.send({"method": ".cancel", "params": ["dup"]})
            await c.probe()
            late = await c.quiet(0.5)
            assert [m for m in late if m.get("id") == "dup"] == [], late
    run(body())


# ---- malformed messages ---------------------------------------------------

MALFORMED = [
    ("bad json", "{"),
    ("garbage", "not json at all"),
    ("truncated", '{"method": "echo", "params": [1], "id": 1'),
    ("trailing", '{"method": "echo", "params": [1], "id": 1} x'),
    ("empty", ""),
    ("array", '[{"method": "echo", "params": [1], "id": 1}]'),
    ("string", '"echo"'),
    ("number", "42"),
    ("null", "null"),
    ("empty object", "{}"),
    ("no method", '{"params": [1], "id": 5}'),
]


@pytest.mark.parametrize("text", [t for _, t in MALFORMED],
                         ids=[n for n, _ in MALFORMED])
def test_malformed_message_gets_null_id_400_and_connection_stays(server, text):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text(text)
            msg = await c.recv()
            assert msg["id"] is None, msg
            assert error_code(msg) == 400
            assert await c.probe() == []
            assert await c.result("add", [2, 3]) == 5
    run(body())


@pytest.mark.parametrize("params", [{"a": 1}, "x", 5, None, True],
                         ids=["object", "string", "number", "null", "bool"])
def test_params_not_an_array_is_400_with_the_id(server, params):
    async def body():
        async with await Client.connect(server) as c:
            await c.send({"method": "echo", "params": params, "id": 77})
            msg = await c.recv()
            assert msg["id"] == 77 and error_code(msg) == 400, msg
    run(body())


def test_params_absent_means_empty(server):
    async def body():
        async with await Client.connect(server) as c:
            await c.send({"method": "whoami", "id": 1})
            msg = await c.recv()
            assert msg["id"] == 1 and "result" in msg, msg
            assert harness.UUID4.match(msg["result"]["id"]), msg
            # add without params: its first param is missing.
            await c.send({"method": "add", "id": 2})
            msg = await c.recv()
            assert error_code(msg) == 400 and msg["id"] == 2, msg
            assert same_json(msg["error"]["data"], {"path": "/0", "value": None})
    run(body())


def test_unknown_route_is_404_not_found(server):
    async def body():
        async with await Client.connect(server) as c:
            await c.send({"method": "no.such.route", "params": [], "id": 4})
            msg = await c.recv()
            assert msg["id"] == 4 and error_code(msg) == 404, msg
            assert msg["error"]["message"] == "Not Found"
            # A name that differs from a real route only by case.
            msg = await c.request("ECHO", [1])
            assert error_code(msg) == 404
    run(body())


# ---- .ping --------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"method": ".ping"}',
    '{"method": ".ping", "id": 3}',
    '{"method": ".ping", "params": []}',
    '{"method": ".ping", "params": [1, "x"], "id": "p"}',
    '{"method": ".ping", "params": {"not": "an array"}}',
], ids=["bare", "with id", "empty params", "params and id", "object params"])
def test_ping_answers_pong(server, text):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text(text)
            msg = await c.recv()
            assert same_json(msg, {"pong": True}), msg
    run(body())


# ---- .cancel ------------------------------------------------------------------

@pytest.mark.parametrize("form", ["params", "id", "params and own id"])
def test_cancel_running_subscription(server, form):
    async def body():
        async with await Client.connect(server) as c:
            await c.send({"method": "count", "params": [1000, 50], "id": 50})
            await c.recv_until(lambda m: m.get("id") == 50
                               and m["result"]["count"] >= 1)
            if form == "params":
                await c.send({"method": ".cancel", "params": [50]})
            elif form == "id":
                await c.send({"method": ".cancel", "id": 50})
            else:
                await c.send({"method": ".cancel", "params": [50], "id": 9050})
            before = await c.probe()
            # Only chunks already on the way; no close, no error, no answer
            # to the .cancel message itself.
            assert all(m.get("id") == 50 and "result" in m for m in before), before
            late = await c.quiet(0.5)
            assert late == [], late
    run(body())


def test_cancel_of_unknown_or_finished_ids_is_ignored(server):
    async def body():
        async with await Client.connect(server) as c:
            assert await c.result("echo", [1]) == 1
            for msg in ({"method": ".cancel", "params": [123456]},
                        {"method": ".cancel", "params": ["nope"]},
                        {"method": ".cancel", "id": 424242},
                        {"method": ".cancel", "params": [1]}):
                await c.send(msg)
            assert await c.probe() == []
            assert await c.result("add", [1, 1]) == 2
    run(body())


def test_id_reusable_after_its_call_finished(server):
    async def body():
        async with await Client.connect(server) as c:
            for i in range(3):
                msg = await c.request("echo", [i], id="again")
                assert msg == {"id": "again", "result": i}
    run(body())


# ---- many calls, notifications ----------------------------------------------

def test_1024_calls_in_flight_on_one_connection(server):
    async def body():
        async with await Client.connect(server) as c:
            n = 1024
            ids = [i if i % 2 else "s%d" % i for i in range(n)]
            for i, call_id in enumerate(ids):
                await c.send({"method": "echo", "params": [i], "id": call_id})
            seen = {}
            for _ in range(n):
                msg = await c.recv(timeout=60)
                assert "result" in msg, msg
                assert msg["id"] not in seen, "id answered twice: %r" % msg
                seen[msg["id"]] = msg["result"]
            assert sorted(seen, key=str) == sorted(ids, key=str)
            for i, call_id in enumerate(ids):
                assert seen[call_id] == i
            assert await c.probe() == []
    run(body())


def test_notification_gets_no_answer(server):
    async def body():
        t = tag()
        async with await Client.connect(server) as c:
            await c.send({"method": "note", "params": [t, "n1"]})
            assert await c.probe() == []
            # It ran: the value shows up in notes (it may run on another
            # worker than the notes call, so poll).
            for _ in range(200):
                if await c.result("notes", [t]) == ["n1"]:
                    break
            else:
                raise AssertionError("note never recorded")
            # A request route called without id is a notification too:
            # never answered.
            await c.send({"method": "echo", "params": [1]})
            await c.send({"method": "no.such.route", "params": []})
            assert await c.probe() == []
    run(body())


# ---- size limit and binary ----------------------------------------------------

def test_message_over_limit_closes_1009():
    with harness.Server(workers=1, max_message=4096) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                under = "x" * 3900
                assert await c.result("echo", [under]) == under
            c = await Client.connect(srv)
            await c.send({"method": "echo", "params": ["x" * 5000], "id": 1})
            assert await harness.closed_code(c.ws) == 1009
            # The server keeps serving others.
            async with await Client.connect(srv) as c2:
                assert await c2.result("echo", [2]) == 2
        run(body())

        # A message over the limit only in total, across fragments.
        with RawWS(srv.port) as raw:
            raw.send_frame(OP_TEXT, b"[" + b" " * 2999, fin=False)
            raw.send_frame(OP_CONT, b" " * 3000, fin=False)
            assert raw.read_close() == 1009


def test_binary_message_closes_1003(server):
    async def body():
        c = await Client.connect(server)
        await c.ws.send(b'{"method": ".ping"}')
        assert await harness.closed_code(c.ws) == 1003
        async with await Client.connect(server) as c2:
            assert await c2.result("echo", ["ok"]) == "ok"
    run(body())


# ---- RFC 6455 violations over a raw socket -------------------------------------

def _bad_utf8(raw):
    raw.send_frame(OP_TEXT, b'{"method":"echo","params":["\xff\xfe"],"id":1}')


VIOLATIONS = {
    "unmasked frame": (1002, lambda r: r.send_frame(
        OP_TEXT, b'{"method":".ping"}', mask=False)),
    "rsv1": (1002, lambda r: r.send_frame(OP_TEXT, b'{"method":".ping"}', rsv=4)),
    "rsv2": (1002, lambda r: r.send_frame(OP_TEXT, b'{"method":".ping"}', rsv=2)),
    "rsv3 on ping": (1002, lambda r: r.send_frame(OP_PING, b"x", rsv=1)),
    "opcode 3": (1002, lambda r: r.send_frame(3, b"x")),
    "opcode 0xB": (1002, lambda r: r.send_frame(0xB, b"x")),
    "ping 126 bytes": (1002, lambda r: r.send_frame(OP_PING, b"p" * 126)),
    "fragmented ping": (1002, lambda r: r.send_frame(OP_PING, b"p", fin=False)),
    "continuation first": (1002, lambda r: r.send_frame(OP_CONT, b"x")),
    "text inside fragmented text": (1002, lambda r: (
        r.send_frame(OP_TEXT, b'{"method":', fin=False),
        r.send_frame(OP_TEXT, b'".ping"}'))),
    "invalid utf8": (1007, _bad_utf8),
    "overlong utf8": (1007, lambda r: r.send_frame(OP_TEXT, b'"\xc0\xaf"')),
    "surrogate utf8": (1007, lambda r: r.send_frame(OP_TEXT, b'"\xed\xa0\x80"')),
    "utf8 split over fragments": (1007, lambda r: (
        r.send_frame(OP_TEXT, b'"\xe2\x82', fin=False),
        r.send_frame(OP_CONT, b'("'))),
}


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_protocol_violation_closes_with_code(server, name):
    code, act = VIOLATIONS[name]
    with RawWS(server.port) as bystander, RawWS(server.port) as raw:
        assert bystander.call({"method": "echo", "params": [0], "id": 1}) == \
            {"id": 1, "result": 0}
        act(raw)
        assert raw.read_close() == code
        assert raw.wait_eof(), "the server left the TCP connection open"
        # The other client, connected all along, is still served.
        assert bystander.call({"method": "echo", "params": [name], "id": 2}) == \
            {"id": 2, "result": name}


def test_valid_fragmented_message_and_interleaved_ping(server):
    with RawWS(server.port) as raw:
        raw.send_frame(OP_TEXT, b'{"method":"echo",', fin=False)
        raw.send_frame(OP_PING, b"hi")
        raw.send_frame(OP_CONT, b'"params":["\xe2\x82', fin=False)
        raw.send_frame(OP_CONT, b'\xac"],"id":5}')
        fin, op, payload = raw.read_frame()
        assert (op, payload) == (OP_PONG, b"hi")
        assert raw.recv_json() == {"id": 5, "result": "\u20ac"}


def test_close_handshake_echoes_1000(server):
    with RawWS(server.port) as raw:
        raw.send_frame(OP_CLOSE, close_payload(1000, b"bye"))
        assert raw.read_close() == 1000
        assert raw.wait_eof()

    async def body():
        c = await Client.connect(server)
        assert await c.result("echo", [1]) == 1
        await c.close()
        assert c.ws.close_code == 1000
    run(body())
