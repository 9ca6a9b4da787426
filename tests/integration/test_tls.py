# test_tls.py: wss:// (--tls-cert, --tls-key) with a certificate the test
# makes (openssl CLI): Python websockets, Node's WebSocket and headless
# Chromium call echo over it; /healthz and /metrics over https; TLS 1.1
# refused; the lingering close sends close_notify; SIGHUP swaps the
# certificate for new connections, and a bad file keeps the old one;
# wspool-call wss:// with --cacert and with SSL_CERT_FILE.

import asyncio
import base64
import http.server
import json
import os
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import harness
from harness import build_frame, OP_BINARY, OP_CLOSE, OP_PONG, close_payload

websockets = harness.websockets


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr)
    return r.stdout


def make_leaf(d, name, ca="ca"):
    """A P-256 server certificate for localhost and 127.0.0.1, signed by
    the test CA: name.pem, name.key."""
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + name, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
            "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
            "-out", name + ".pem", "-extfile", name + ".ext", cwd=d)


class PKI:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wspool-tls-")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-days", "2", "-subj", "/CN=wspool test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign", cwd=self.dir)
        make_leaf(self.dir, "one")
        make_leaf(self.dir, "two")
        # What the server is given: copies it rereads on SIGHUP.
        self.cert = self.path("server.pem")
        self.key = self.path("server.key")
        self.use("one")

    def path(self, name):
        return os.path.join(self.dir, name)

    def use(self, name):
        shutil.copy(self.path(name + ".pem"), self.cert + ".new")
        shutil.copy(self.path(name + ".key"), self.key + ".new")
        os.replace(self.cert + ".new", self.cert)
        os.replace(self.key + ".new", self.key)

    @property
    def ca(self):
        return self.path("ca.pem")

    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx

    def spki_hash(self, name):
        """base64 SHA-256 of the certificate's public key (Chromium's
        --ignore-certificate-errors-spki-list)."""
        pub = openssl("x509", "-in", name + ".pem", "-pubkey", "-noout",
                      cwd=self.dir)
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"],
                             input=pub.encode(), capture_output=True,
                             timeout=60, check=True).stdout
        import hashlib
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def pki():
    p = PKI()
    yield p
    shutil.rmtree(p.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server(pki):
    with harness.Server(workers=1, extra_args=[
            "--tls-cert", pki.cert, "--tls-key", pki.key]) as srv:
        yield srv


def peer_cn(port, ctx):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            cert = t.getpeercert()
    return dict(x[0] for x in cert["subject"])["commonName"]


def wss(server):
    return "wss://localhost:%d/ws" % server.port


def test_python_websockets_over_tls(server, pki):
    async def body():
        async with websockets.connect(wss(server), ssl=pki.context(),
                                      max_size=None) as ws:
            await ws.send(json.dumps({"id": 1, "method": "echo",
                                      "params": ["hi"]}))
            assert json.loads(await ws.recv()) == {"id": 1, "result": "hi"}
            # Bigger than a TLS record (16 KiB), both ways.
            big = "\u00e9" * 300000
            await ws.send(json.dumps({"id": 2, "method": "echo",
                                      "params": [big]}, ensure_ascii=False))
            assert json.loads(await ws.recv()) == {"id": 2, "result": big}
            await ws.send(json.dumps({"id": 3, "method": "count",
                                      "params": [3, 0]}))
            got = [json.loads(await ws.recv()) for _ in range(4)]
            assert got[-1] == {"id": 3, "close": True}, got
    harness.run(body())


def test_healthz_and_metrics_over_https(server, pki):
    status, _, body = harness.http_request(server.port, "GET", "/healthz",
                                           tls=pki.context())
    assert status == 200, body
    status, _, body = harness.http_request(server.port, "GET", "/metrics",
                                           tls=pki.context())
    assert status == 200 and b"wspool_connections_open" in body, body[:200]


def test_backlog_over_tls(server, pki):
    """Answers that fill the socket (SSL_write would block, the output
    buffer is compacted between tries) arrive whole and in order of
    their ids once the client reads."""
    ws = harness.RawWS(server.port, tls=pki.context())
    try:
        n, size = 24, 200000
        ws.send_raw(b"".join(build_frame(
            harness.OP_TEXT, '{"id":%d,"method":"echo","params":["%s"]}'
            % (i, chr(97 + i) * size)) for i in range(n)))
        got = {}
        for _ in range(n):
            msg = ws.recv_json()
            got[msg["id"]] = msg["result"]
        assert sorted(got) == list(range(n))
        assert all(got[i] == chr(97 + i) * size for i in range(n))
    finally:
        ws.close_socket()


def test_plain_http_on_the_tls_port_gets_nothing(server):
    """A plain request is a failed handshake: closed, and the server
    still serves."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    assert b"200" not in data, data
    assert server.health() == 200


def test_tls_1_1_is_refused(server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip("this Python's OpenSSL cannot offer TLS 1.1: %s" % exc)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            ctx.wrap_socket(s, server_hostname="localhost")


def parse_frames(buf):
    """Complete server frames at the start of buf: ([(op, payload)], rest)."""
    out = []
    while len(buf) >= 2:
        n, h = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, h = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, h = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < h + n:
            break
        out.append((buf[0] & 0x0F, buf[h:h + n]))
        buf = buf[h + n:]
    return out, buf


def test_lingering_close_over_tls(server, pki):
    """A client still writing gets the 1003 close frame, then a clean end
    with close_notify (no reset). One thread, non-blocking: an SSL object
    is not for two threads at once."""
    ws = harness.RawWS(server.port, tls=pki.context())
    try:
        sock = ws.sock
        sock.setblocking(False)
        chunks = [build_frame(OP_BINARY, b"x")] + \
            [build_frame(OP_PONG, b"p" * 125) * 8] * 40  # 40 KiB < 64 KiB
        buf, code = ws.buf, None
        end = harness.deadline(20)
        while code is None and time.monotonic() < end:
            try:
                data = sock.recv(65536)
                assert data, "the stream ended before the close frame"
                buf += data
                frames, buf = parse_frames(buf)
                for op, payload in frames:
                    if op == OP_CLOSE:
                        code = struct.unpack("!H", payload[:2])[0]
            except ssl.SSLWantReadError:
                pass
            if chunks and code is None:
                try:
                    sock.send(chunks[0])
                    chunks.pop(0)
                except ssl.SSLWantWriteError:
                    pass
            select.select([sock], [], [], 0.005)
        assert code == 1003
        sock.setblocking(True)
        sock.settimeout(harness.scaled(10))
        sock.sendall(build_frame(OP_CLOSE, close_payload(1000)))
        rest = b""
        try:
            while True:
                data = sock.recv(65536)  # b"" at close_notify
                if not data:
                    break
                rest += data
        except ConnectionResetError:
            raise AssertionError("reset instead of close_notify after the "
                                 "close frame")
        assert rest == b"", rest
    finally:
        ws.close_socket()


def test_sighup_swaps_the_certificate(pki):
    with harness.Server(workers=1, extra_args=[
            "--tls-cert", pki.cert, "--tls-key", pki.key]) as srv:
        ctx = pki.context()
        assert peer_cn(srv.port, ctx) == "one"

        async def open_conn():
            return await websockets.connect(wss(srv), ssl=ctx)
        loop = asyncio.new_event_loop()
        try:
            old = loop.run_until_complete(open_conn())
            pki.use("two")
            srv.proc.send_signal(signal.SIGHUP)
            harness.wait_for(lambda: peer_cn(srv.port, ctx) == "two", 20,
                             "new connections to get the new certificate")

            async def call_old():
                await old.send(json.dumps({"id": 1, "method": "echo",
                                           "params": [1]}))
                return json.loads(await old.recv())
            # The open connection is not touched by the reload.
            assert loop.run_until_complete(call_old()) == {"id": 1, "result": 1}
            loop.run_until_complete(old.close())
        finally:
            loop.close()

        # A bad file: the old context stays, the log says why.
        with open(pki.cert, "w") as f:
            f.write("not a certificate\n")
        srv.proc.send_signal(signal.SIGHUP)
        harness.wait_for(lambda: "reload failed" in srv.stderr_text(), 20,
                         "the failed reload to be logged")
        assert peer_cn(srv.port, ctx) == "two"
        pki.use("one")


NODE_SCRIPT = r"""
const ws = new WebSocket(process.argv[1]);
const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 20000);
ws.onopen = () => ws.send(JSON.stringify({id: 1, method: 'echo', params: ['node tls']}));
ws.onmessage = (ev) => { console.log(ev.data); clearTimeout(timer); ws.close(); };
ws.onerror = (ev) => { console.error('error', ev.message || ev); process.exit(1); };
"""


def node_argv():
    node = os.environ.get("NODE", "node")
    for flags in (["--experimental-websocket"], []):
        r = subprocess.run([node] + flags + ["-e",
                           "process.exit(typeof WebSocket==='function'?0:1)"],
                           capture_output=True, timeout=60)
        if r.returncode == 0:
            return [node] + flags + ["--no-warnings"]
    return None


def test_node_websocket_over_tls(server, pki):
    argv = node_argv()
    if argv is None:
        pytest.skip("no Node with a built-in WebSocket (Node >= 20)")
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=pki.ca)
    r = subprocess.run(argv + ["-e", NODE_SCRIPT, wss(server)], env=env,
                       capture_output=True, text=True,
                       timeout=harness.scaled(60))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"id": 1, "result": "node tls"}, r.stdout


PAGE = """<!doctype html><title>wss</title><body>
<script>
const ws = new WebSocket(%(url)s);
function report(v) { fetch('/result', {method: 'POST', body: v}); }
ws.onopen = () => ws.send(JSON.stringify({id: 1, method: 'echo',
                                          params: ['chromium tls']}));
ws.onmessage = (ev) => { document.body.textContent = ev.data; report(ev.data); };
ws.onerror = () => report('error');
</script>"""


class PageServer:
    """The page on the test's own http server (loopback); the page POSTs
    what it got to /result."""

    def __init__(self, page):
        results = self.results = []
        got = self.got = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                results.append(self.rfile.read(n).decode())
                got.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(url, extra, got, seconds):
    """Headless Chromium on url until got is set (or the deadline)."""
    profile = tempfile.mkdtemp(prefix="wspool-chromium-")
    argv = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=" + profile] + extra + [url]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        got.wait(harness.scaled(seconds))
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=60)
        shutil.rmtree(profile, ignore_errors=True)
    return err.decode(errors="replace")


def test_chromium_over_tls(server, pki):
    if chromium() is None:
        pytest.skip("no chromium (Debian: chromium)")
    page = PAGE % {"url": json.dumps("wss://127.0.0.1:%d/ws" % server.port)}
    with PageServer(page) as ps:
        err = run_chromium(
            "http://127.0.0.1:%d/" % ps.port,
            ["--ignore-certificate-errors-spki-list=" + pki.spki_hash("one")],
            ps.got, 60)
        assert ps.results, "Chromium reported nothing: %s" % err[-2000:]
        assert json.loads(ps.results[0]) == {"id": 1,
                                             "result": "chromium tls"}, \
            ps.results


def wspool_call(args, env=None):
    exe = os.path.join(harness.BUILDDIR, "client", "wspool-call")
    return subprocess.run([exe] + args, capture_output=True, text=True,
                          timeout=harness.scaled(60),
                          env=dict(os.environ, **(env or {})))


def test_wspool_call_over_tls(server, pki):
    r = wspool_call(["--cacert", pki.ca, wss(server), "echo", "hello"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == "hello"
    # The default trust store, pointed at by SSL_CERT_FILE.
    r = wspool_call([wss(server), "add", "1", "2"],
                    env={"SSL_CERT_FILE": pki.ca})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == 3
    # Without the CA: refused, saying why.
    r = wspool_call([wss(server), "echo", "x"],
                    env={"SSL_CERT_FILE": "/dev/null"})
    assert r.returncode != 0 and "trust" in r.stderr.lower(), r.stderr
