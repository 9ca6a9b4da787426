# test_json.py: JSON end to end now that the master only scans it and the
# workers convert it (issue 9, issue 11 items 3 and 4): nesting at and past
# the bound, .ping whatever it carries, lone surrogates refused and pairs
# kept, numbers that JSON.parse would not keep exact, and what the master
# answers for messages broken in every way the scanner knows.

import json

import pytest

import harness
from harness import Client, run, same_json

# A value n levels deep: [[[...0...]]].
def deep(n, inner=0):
    v = inner
    for _ in range(n):
        v = [v]
    return v


def error_of(msg):
    assert set(msg) == {"id", "error"}, msg
    return msg["error"]


# ---- nesting ---------------------------------------------------------------------

def test_echo_256_levels_deep_comes_back(server):
    """params nested 256 levels deep work: 257 counting the params array."""
    async def body():
        async with await Client.connect(server) as c:
            value = deep(256, "bottom")
            await c.send({"method": "echo", "params": [value], "id": "deep"})
            msg = await c.recv()
            assert same_json(msg, {"id": "deep", "result": value}), str(msg)[:200]
            # Objects count as levels too.
            obj = "x"
            for i in range(256):
                obj = {"k%d" % (i % 3): obj}
            assert same_json(await c.result("echo", [obj]), obj)
    run(body())


@pytest.mark.parametrize("levels", [257, 300, 511])
def test_deeper_params_get_400_with_the_id(server, levels):
    async def body():
        async with await Client.connect(server) as c:
            # The id after the params is found all the same.
            text = '{"method":"echo","params":[%s],"id":"d%d"}' % (
                json.dumps(deep(levels)), levels)
            await c.send_text(text)
            msg = await c.recv()
            assert msg["id"] == "d%d" % levels, msg
            err = error_of(msg)
            assert err["code"] == 400, msg
            assert err["message"] == "Invalid request: params nested too deeply"
            assert await c.probe() == []
    run(body())


def test_nesting_past_the_scanners_bound(server):
    """Past 512 levels anywhere, the scan stops: 400 with the id if it came
    before the deep part, else null; a .ping known by then is a pong."""
    async def body():
        async with await Client.connect(server) as c:
            huge = "[" * 20000 + "]" * 20000
            await c.send_text('{"id":"early","method":"echo","params":[%s]}' % huge)
            msg = await c.recv()
            assert msg["id"] == "early" and error_of(msg)["code"] == 400, msg
            assert error_of(msg)["message"] == "Invalid request: nested too deeply"
            await c.send_text('{"method":"echo","x":%s,"id":"late"}' % huge)
            msg = await c.recv()
            assert msg["id"] is None and error_of(msg)["code"] == 400, msg
            await c.send_text('{"method":".ping","x":%s}' % huge)
            assert await c.recv() == {"pong": True}
            # Deep, but within the bound and outside params: only checked.
            await c.send_text('{"x":%s,"method":"echo","params":[1],"id":1}'
                              % json.dumps(deep(400)))
            assert await c.recv() == {"id": 1, "result": 1}
            assert await c.probe() == []
    run(body())


# ---- .ping ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"method":".ping","id":-1}',
    '{"method":".ping","id":1.5}',
    '{"method":".ping","id":{"a":1}}',
    '{"method":".ping","id":null}',
    '{"method":".ping","id":"%s"}' % ("x" * 300),
    '{"id":[1,2],"method":".ping","params":7}',
    '{"method":".ping","params":%s}' % ("[" * 300 + "]" * 300),
    '{"method":"\\u002eping","id":true}',
], ids=["negative id", "float id", "object id", "null id", "long id",
        "array id and bad params", "deep params", "escaped method"])
def test_ping_with_anything_gets_pong(server, text):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text(text)
            assert await c.recv() == {"pong": True}
            assert await c.probe() == []
    run(body())


def test_broken_ping_is_still_bad_json(server):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":".ping",}')
            msg = await c.recv()
            assert msg["id"] is None and error_of(msg)["code"] == 400, msg
            await c.send_text('{"method":".ping","method":".ping"}')
            msg = await c.recv()
            assert error_of(msg)["message"] == "Parse error: duplicate key"
    run(body())


# ---- surrogates ---------------------------------------------------------------------

LONE = ['"\\ud800"', '"\\udfff"', '"a\\ud800b"', '"\\ud800\\ud800"',
        '"\\ude00\\ud83d"', '"\\ud83d\\u0041"', '["\\udc00"]', '{"\\ud800":1}']


@pytest.mark.parametrize("value", LONE)
def test_lone_surrogate_is_400_with_the_id(server, value):
    """Never a changed string: JSON.parse would keep the lone surrogate,
    and we cannot, so the call is refused."""
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":"echo","params":[%s],"id":"s"}' % value)
            msg = await c.recv()
            assert msg["id"] == "s", msg
            err = error_of(msg)
            assert err["code"] == 400, msg
            assert "lone surrogate" in err["message"], msg
            assert await c.probe() == []
    run(body())


def test_surrogate_pairs_become_utf8(server):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":"echo","params":["\\ud83d\\ude00 \\uD800\\uDC00'
                              ' \\udbff\\udfff \U0001F600"],"id":1}')
            raw = await c.ws.recv()
            # The answer holds the 4-byte UTF-8 sequences themselves.
            assert "\U0001F600 \U00010000 \U0010FFFF \U0001F600" in raw, raw
            assert json.loads(raw) == {
                "id": 1, "result": "\U0001F600 \U00010000 \U0010FFFF \U0001F600"}
            # An escaped backslash before "u" starts no escape.
            await c.send_text('{"method":"echo","params":["\\\\ud800"],"id":2}')
            assert await c.recv() == {"id": 2, "result": "\\ud800"}
    run(body())


def test_lone_surrogate_in_an_id_is_echoed_as_sent(server):
    """An id is echoed as JSON.stringify writes what JSON.parse read."""
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":"echo","params":[1],"id":"\\ud800x"}')
            raw = await c.ws.recv()
            assert raw == '{"id":"\\ud800x","result":1}', raw
            # The same id, written differently, is the same call id.
            await c.send_text('{"method":"count","params":[1000,50],'
                              '"id":"\\uD800x"}')
            first = await c.recv()
            assert first["id"] == "\ud800x", first
            await c.send_text('{"method":".cancel","params":["\\ud800\\u0078"]}')
            await c.probe()
            late = await c.quiet(0.3)
            assert [m for m in late if "close" in m or "error" in m] == [], late
    run(body())


# ---- numbers and strings ----------------------------------------------------------

def test_numbers_round_trip(server):
    """Integers beyond 2^53 stay exact (the text a client sent comes back),
    floats keep the shortest text that reads back the same."""
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text('{"method":"echo","id":1,"params":[[9007199254740993,'
                              '18446744073709551615,-9223372036854775808,0.1,'
                              '0.30000000000000004,1e21,-0,1.5e-7,1E400,'
                              '123456789012345678901234567890]]}')
            raw = await c.ws.recv()
            assert raw == ('{"id":1,"result":[9007199254740993,'
                           '18446744073709551615,-9223372036854775808,0.1,'
                           '0.30000000000000004,1e+21,-0,1.5e-07,null,'
                           '1.2345678901234568e+29]}'), raw
    run(body())


def test_strings_come_back_as_json_stringify_writes_them(server):
    async def body():
        async with await Client.connect(server) as c:
            s = "\u0000\u0001\u001f\"\\/\b\f\n\r\t\u007f\u00e9\u2028\U0001F600"
            await c.send({"method": "echo", "params": [s], "id": 1})
            raw = await c.ws.recv()
            assert json.loads(raw) == {"id": 1, "result": s}
            assert '\\u0000\\u0001\\u001f\\"\\\\/\\b\\f\\n\\r\\t\x7f\u00e9' in raw, raw
    run(body())


# ---- malformed messages: the scanner's messages reach the client ----------------

@pytest.mark.parametrize("text,message", [
    ("", "Parse error: unexpected end of input"),
    ('{"method":"echo",}', "Parse error: a string key was expected"),
    ('{"method":"echo" "id":1}', "Parse error: ',' or '}' was expected"),
    ('{"method":"echo","params":[1 2]}', "Parse error: ',' or ']' was expected"),
    ('{"method":"echo","params":[01]}', "Parse error: ',' or ']' was expected"),
    ('{"method":"echo","params":[-]}', "Parse error: invalid number"),
    ('{"method":"echo","params":[nul]}', "Parse error: invalid literal"),
    ('{"method":"echo","params":["\\x"]}', "Parse error: invalid escape in a string"),
    ('{"method":"echo","params":["a\tb"]}', "Parse error: control character in a string"),
    ('{"method":"echo"} {}', "Parse error: text after the value"),
    ('{"method":"echo","params":[,]}', "Parse error: a value was expected"),
    ('{"method" "echo"}', "Parse error: ':' was expected after a key"),
])
def test_bad_json_messages(server, text, message):
    async def body():
        async with await Client.connect(server) as c:
            await c.send_text(text)
            msg = await c.recv()
            assert msg["id"] is None, msg
            err = error_of(msg)
            assert err == {"code": 400, "message": message}, msg
    run(body())


def test_long_strings_round_trip(server):
    """Long strings take the scanners' vector paths on both sides."""
    async def body():
        async with await Client.connect(server) as c:
            plain = "".join(chr(97 + i % 26) for i in range(100000))
            mixed = plain[:40000] + "\u00e9\n\"\\\U0001F600" + plain[40000:]
            for s in (plain, mixed):
                value = [s, {s[:70]: s[-64:]}]
                assert await c.result("echo", [value]) == value
    run(body())


def test_many_large_calls_at_once(server):
    """24 calls of 900 KB each at once: the master's batch to a worker is
    closed at 8 MiB and the rest waits its turn (never a batch the worker
    refuses), and every call is answered."""
    async def body():
        big = "".join(chr(65 + i % 26) for i in range(900 * 1024))
        clients = [await Client.connect(server) for _ in range(24)]
        try:
            for i, c in enumerate(clients):
                await c.send({"method": "echo", "params": [big[i:] + str(i)],
                              "id": i})
            for i, c in enumerate(clients):
                msg = await c.recv(timeout=60)
                assert msg["id"] == i and msg["result"] == big[i:] + str(i), \
                    str(msg)[:200]
        finally:
            for c in clients:
                await c.close()
        # The server (and its workers) still serve.
        async with await Client.connect(server) as c:
            assert await c.probe() == []
    run(body())
