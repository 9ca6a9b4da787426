# test_compression.py: permessage-deflate (RFC 7692) behind --compression:
# the negotiation row by row (raw handshakes), compressed messages both
# ways on a raw client (small answers plain, large ones compressed,
# fragments, a final block), the violations (RSV1 where it may not be, a
# corrupt stream, invalid UTF-8 inside, a bomb: 1002, 1007, 1009), Python
# websockets, Node's npm ws and Chromium with their own compression, and
# the memory of 1,000 idle compressed connections (a bound, counted).

import json
import os
import shutil
import subprocess
import zlib

import pytest

import harness
from harness import (RawWS, OP_TEXT, OP_CONT, OP_PING, OP_CLOSE, build_frame,
                     metric)

websockets = harness.websockets

MAX_MESSAGE = 1 << 20
BASE = ("permessage-deflate; server_no_context_takeover; "
        "client_no_context_takeover")
TAIL = b"\x00\x00\xff\xff"


@pytest.fixture(scope="module")
def server():
    with harness.Server(workers=1, max_message=MAX_MESSAGE,
                        extra_args=["--compression"]) as srv:
        yield srv


def deflate(data, wbits=15, final=False):
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    if final:
        return c.compress(data) + c.flush(zlib.Z_FINISH)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(data):
    return zlib.decompressobj(-15).decompress(data + TAIL)


def raw(server, offer="permessage-deflate; client_max_window_bits"):
    headers = {"Sec-WebSocket-Extensions": offer} if offer else None
    ws = RawWS(server.port, headers=headers)
    ws.allow_rsv1 = True
    return ws


def read_answer(ws):
    """The next data message: (was it compressed, JSON)."""
    while True:
        fin, op, payload = ws.read_frame()
        if op == OP_TEXT:
            assert fin
            if ws.last_rsv:
                return True, json.loads(inflate(payload))
            return False, json.loads(payload)
        assert op not in (OP_CLOSE,), payload


# ---- negotiation ----------------------------------------------------------------

OFFERS = [
    ("plain", "permessage-deflate", BASE),
    ("chromium", "permessage-deflate; client_max_window_bits", BASE),
    ("both no takeover", "permessage-deflate; client_no_context_takeover; "
     "server_no_context_takeover", BASE),
    ("server window", "permessage-deflate; server_max_window_bits=10",
     BASE + "; server_max_window_bits=10"),
    ("quoted client window", 'permessage-deflate; client_max_window_bits="12"',
     BASE),
    ("window 8", "permessage-deflate; server_max_window_bits=8",
     BASE + "; server_max_window_bits=8"),
    ("first acceptable", "x-webkit-deflate-frame, permessage-deflate; foo, "
     "permessage-deflate; server_no_context_takeover", BASE),
    ("server window without value", "permessage-deflate; server_max_window_bits",
     None),
    ("window 16", "permessage-deflate; server_max_window_bits=16", None),
    ("leading zero", "permessage-deflate; client_max_window_bits=09", None),
    ("value on a flag", "permessage-deflate; server_no_context_takeover=1", None),
    ("twice", "permessage-deflate; client_no_context_takeover; "
     "client_no_context_takeover", None),
    ("malformed", "permessage-deflate;", None),
    ("other extension", "x-webkit-deflate-frame", None),
]


@pytest.mark.parametrize("offer,expected", [(o, e) for _, o, e in OFFERS],
                         ids=[n for n, _, _ in OFFERS])
def test_negotiation(server, offer, expected):
    with raw(server, offer) as ws:
        assert ws.headers.get("sec-websocket-extensions") == expected
        # And the connection works either way.
        ws.send_text('{"id":1,"method":"echo","params":["x"]}')
        assert read_answer(ws) == (False, {"id": 1, "result": "x"})


def test_off_by_default():
    with harness.Server(workers=1) as srv:
        with raw(srv) as ws:
            assert "sec-websocket-extensions" not in ws.headers
            # RSV1 without the extension: 1002.
            ws.send_frame(OP_TEXT, deflate(b'{"method":".ping"}'), rsv=4)
            assert ws.read_close() == 1002


# ---- messages ---------------------------------------------------------------------

BIG = ["item %d" % i for i in range(2000)]


def test_small_plain_big_compressed(server):
    with raw(server) as ws:
        ws.send_text('{"id":1,"method":"echo","params":["hi"]}')
        assert read_answer(ws) == (False, {"id": 1, "result": "hi"})
        ws.send_text(json.dumps({"id": 2, "method": "echo", "params": [BIG]}))
        assert read_answer(ws) == (True, {"id": 2, "result": BIG})


def test_window_8_receives_but_sends_plain(server):
    with raw(server, "permessage-deflate; server_max_window_bits=8") as ws:
        msg = json.dumps({"id": 1, "method": "echo", "params": [BIG]})
        ws.send_frame(OP_TEXT, deflate(msg.encode()), rsv=4)
        assert read_answer(ws) == (False, {"id": 1, "result": BIG})


def test_server_window_bits_honoured(server):
    with raw(server, "permessage-deflate; server_max_window_bits=9") as ws:
        ws.send_text(json.dumps({"id": 1, "method": "echo", "params": [BIG]}))
        fin, op, payload = ws.read_frame()
        assert ws.last_rsv == 0x40
        # A 512-byte window inflates it: nothing refers further back.
        got = zlib.decompressobj(-9).decompress(payload + TAIL)
        assert json.loads(got) == {"id": 1, "result": BIG}


def test_compressed_calls(server):
    with raw(server) as ws:
        # One frame.
        msg = json.dumps({"id": 1, "method": "echo", "params": ["one"]})
        ws.send_frame(OP_TEXT, deflate(msg.encode()), rsv=4)
        assert read_answer(ws) == (False, {"id": 1, "result": "one"})
        # Fragments: RSV1 on the first only.
        msg = json.dumps({"id": 2, "method": "echo", "params": [BIG]}).encode()
        z = deflate(msg)
        third = len(z) // 3
        ws.send_frame(OP_TEXT, z[:third], rsv=4, fin=False)
        ws.send_frame(OP_CONT, z[third:2 * third], fin=False)
        ws.send_frame(OP_CONT, z[2 * third:])
        assert read_answer(ws) == (True, {"id": 2, "result": BIG})
        # A final block (BFINAL) and a plain message between compressed ones.
        msg = json.dumps({"id": 3, "method": "add", "params": [1, 2]})
        ws.send_frame(OP_TEXT, deflate(msg.encode(), final=True), rsv=4)
        assert read_answer(ws) == (False, {"id": 3, "result": 3})
        ws.send_text('{"id":4,"method":"add","params":[2,2]}')
        assert read_answer(ws) == (False, {"id": 4, "result": 4})
        # Each message on its own: a second one built without the first's
        # window inflates (client_no_context_takeover).
        ws.send_frame(OP_TEXT, deflate(b'{"id":5,"method":"add","params":[1,1]}'),
                      rsv=4)
        assert read_answer(ws) == (False, {"id": 5, "result": 2})


VIOLATIONS = [
    ("rsv1 on a continuation", [
        build_frame(OP_TEXT, deflate(b'{"method":".ping"}')[:4], fin=False, rsv=4),
        build_frame(OP_CONT, b"x", rsv=4)], 1002),
    ("rsv1 on a ping", [build_frame(OP_PING, b"", rsv=4)], 1002),
    ("rsv2", [build_frame(OP_TEXT, b"{}", rsv=2)], 1002),
    ("corrupt stream", [build_frame(OP_TEXT, b"\xff\xff\xff\xff\x00", rsv=4)],
     1007),
    ("invalid utf-8 inside", [build_frame(OP_TEXT, deflate(b"\xc3\x28"), rsv=4)],
     1007),
    # 1 KB on the wire, 16 MiB inflated: stops at --max-message.
    ("bomb", [build_frame(OP_TEXT, deflate(b" " * (16 << 20)), rsv=4)], 1009),
    ("bomb just over", [build_frame(OP_TEXT, deflate(b" " * (MAX_MESSAGE + 1)),
                                    rsv=4)], 1009),
]


@pytest.mark.parametrize("frames,code", [(f, c) for _, f, c in VIOLATIONS],
                         ids=[n for n, _, _ in VIOLATIONS])
def test_violations(server, frames, code):
    with raw(server) as ws:
        ws.send_raw(b"".join(frames))
        assert ws.read_close() == code


def test_exactly_max_message_inflated_is_fine(server):
    with raw(server) as ws:
        head = b'{"id":1,"method":"echo","params":["'
        n = MAX_MESSAGE - len(head) - 3
        msg = head + b"a" * n + b'"]}'
        assert len(msg) == MAX_MESSAGE
        ws.send_frame(OP_TEXT, deflate(msg), rsv=4)
        z, answer = read_answer(ws)
        assert z and answer == {"id": 1, "result": "a" * n}


def test_not_negotiated_rsv1_is_1002(server):
    with raw(server, offer=None) as ws:
        assert "sec-websocket-extensions" not in ws.headers
        ws.send_frame(OP_TEXT, deflate(b'{"method":".ping"}'), rsv=4)
        assert ws.read_close() == 1002


# ---- clients nobody here wrote ----------------------------------------------------

def test_python_websockets(server):
    deflated0 = metric(server, "wspool_messages_deflated_total")
    inflated0 = metric(server, "wspool_messages_inflated_total")
    conns0 = metric(server, "wspool_connections_compressed_total")

    async def body():
        async with websockets.connect(server.url(), compression="deflate",
                                      max_size=None) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            assert ext is not None and ext.startswith("permessage-deflate"), ext
            for i in range(3):
                await ws.send(json.dumps({"id": i, "method": "echo",
                                          "params": [BIG]}))
                assert json.loads(await ws.recv()) == {"id": i, "result": BIG}
            await ws.send(json.dumps({"id": 9, "method": "count",
                                      "params": [3, 0]}))
            got = [json.loads(await ws.recv()) for _ in range(4)]
            assert got[-1] == {"id": 9, "close": True}, got
    harness.run(body())
    assert metric(server, "wspool_connections_compressed_total") == conns0 + 1
    assert metric(server, "wspool_messages_deflated_total") >= deflated0 + 3
    assert metric(server, "wspool_messages_inflated_total") >= inflated0 + 3


def npm_ws():
    """npm ws from tests/package.json in the build tree (installed once).
    Returns the node_modules directory, or None (skip, saying why)."""
    work = os.path.join(harness.BUILDDIR, "tests", "node")
    mods = os.path.join(work, "node_modules")
    if os.path.exists(os.path.join(mods, "ws", "package.json")):
        return mods
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    os.makedirs(work, exist_ok=True)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "package.json")
    shutil.copyfile(src, os.path.join(work, "package.json"))
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                        "--silent"], cwd=work, capture_output=True,
                       timeout=600)
    return mods if r.returncode == 0 else None


NODE_WS = r"""
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1], {perMessageDeflate: {threshold: 64}});
const big = Array.from({length: 2000}, (_, i) => 'item ' + i);
const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 20000);
ws.on('open', () => ws.send(JSON.stringify({id: 1, method: 'echo', params: [big]})));
ws.on('message', (data, isBinary) => {
  const m = JSON.parse(data.toString());
  const ok = !isBinary && m.id === 1 && JSON.stringify(m.result) === JSON.stringify(big);
  console.log(JSON.stringify({ok, extensions: ws.extensions}));
  clearTimeout(timer);
  ws.close();
});
ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
"""


def test_node_ws_package(server):
    mods = npm_ws()
    if mods is None:
        pytest.skip("no npm ws (tests/package.json): npm or its registry "
                    "missing")
    inflated0 = metric(server, "wspool_messages_inflated_total")
    r = subprocess.run(["node", "-e", NODE_WS, server.url()],
                       env=dict(os.environ, NODE_PATH=mods),
                       capture_output=True, text=True,
                       timeout=harness.scaled(60))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"], out
    assert out["extensions"].startswith("permessage-deflate"), out
    assert metric(server, "wspool_messages_inflated_total") > inflated0


NODE_BUILTIN = r"""
const ws = new WebSocket(process.argv[1]);
const big = Array.from({length: 2000}, (_, i) => 'item ' + i);
const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 20000);
ws.onopen = () => ws.send(JSON.stringify({id: 1, method: 'echo', params: [big]}));
ws.onmessage = (ev) => {
  const m = JSON.parse(ev.data);
  console.log(JSON.stringify({ok: JSON.stringify(m.result) === JSON.stringify(big),
                              extensions: ws.extensions}));
  clearTimeout(timer);
  ws.close();
};
ws.onerror = (ev) => { console.error('error', ev.message || ev); process.exit(1); };
"""


def test_node_builtin_websocket(server):
    """Node's own WebSocket (what alien-rpc clients use) negotiates it too,
    and inflates our compressed answers."""
    import test_tls
    argv = test_tls.node_argv()
    if argv is None:
        pytest.skip("no Node with a built-in WebSocket (Node >= 20)")
    deflated0 = metric(server, "wspool_messages_deflated_total")
    r = subprocess.run(argv + ["-e", NODE_BUILTIN, server.url()],
                       capture_output=True, text=True,
                       timeout=harness.scaled(60))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"], out
    if out["extensions"]:
        assert out["extensions"].startswith("permessage-deflate"), out
        assert metric(server, "wspool_messages_deflated_total") > deflated0


PAGE = """<!doctype html><title>deflate</title><body>
<script>
const ws = new WebSocket(%(url)s);
const big = Array.from({length: 2000}, (_, i) => 'item ' + i);
function report(v) { fetch('/result', {method: 'POST', body: JSON.stringify(v)}); }
ws.onopen = () => ws.send(JSON.stringify({id: 1, method: 'echo', params: [big]}));
ws.onmessage = (ev) => {
  const m = JSON.parse(ev.data);
  report({ok: JSON.stringify(m.result) === JSON.stringify(big),
          extensions: ws.extensions});
};
ws.onerror = () => report({ok: false, error: true});
</script>"""


def test_chromium(server):
    import test_tls
    if test_tls.chromium() is None:
        pytest.skip("no chromium (Debian: chromium)")
    deflated0 = metric(server, "wspool_messages_deflated_total")
    page = PAGE % {"url": json.dumps(server.url())}
    with test_tls.PageServer(page) as ps:
        err = test_tls.run_chromium("http://127.0.0.1:%d/" % ps.port, [],
                                    ps.got, 60)
        assert ps.results, "Chromium reported nothing: %s" % err[-2000:]
    out = json.loads(ps.results[0])
    assert out["ok"], out
    assert out["extensions"].startswith("permessage-deflate"), out
    assert metric(server, "wspool_messages_deflated_total") > deflated0


# ---- memory --------------------------------------------------------------------------

def sanitized():
    r = subprocess.run(["ldd", harness.MASTER], capture_output=True, text=True)
    return "libasan" in r.stdout or harness.WRAPPER


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_compressed(server, n):
    conns = []
    msg = deflate(json.dumps({"id": 1, "method": "echo",
                              "params": [BIG[:200]]}).encode())
    for _ in range(n):
        ws = raw(server)
        assert ws.headers.get("sec-websocket-extensions") == BASE
        # Each has compressed one message both ways, then idles.
        ws.send_frame(OP_TEXT, msg, rsv=4)
        assert read_answer(ws) == (True, {"id": 1, "result": BIG[:200]})
        conns.append(ws)
    return conns


def test_idle_compressed_connections_stay_small():
    """1,000 idle connections that negotiated compression and used it once
    cost the master under 2 KiB each (RSS, after a warm-up of 100)."""
    if sanitized():
        pytest.skip("memory is not comparable under sanitizers or valgrind")
    with harness.Server(workers=1, extra_args=[
            "--compression", "--max-connections", "2000"]) as srv:
        warm = open_compressed(srv, 100)
        before = rss_kib(srv.proc.pid)
        more = open_compressed(srv, 1000)
        after = rss_kib(srv.proc.pid)
        per_conn = (after - before) * 1024 / 1000
        for ws in warm + more:
            ws.close_socket()
        assert per_conn < 2048, "%.0f B per idle compressed connection" % per_conn
