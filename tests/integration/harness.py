# harness.py: runs a real wspool-master (and its workers) for the
# integration tests, and talks to it the way outside clients do: an asyncio
# client on the websockets library, a raw-socket WebSocket client for
# protocol violations, and a plain HTTP request helper. Every wait is a
# bounded poll for a condition; every socket read has a timeout.
#
# Environment:
#   WSPOOL_BUILDDIR        the build tree (binaries, examples/.libs/demo.so)
#   WSPOOL_TEST_WRAPPER    a command prefix for the server, e.g. "valgrind -q"
#   WSPOOL_TEST_SCALE      multiply every deadline (default 1, 10 under valgrind)
#   WSPOOL_TEST_PORT       use a server already running on this port (e.g.
#                          one started by hand under gdb) for the shared
#                          default-configuration fixture instead of starting one

import asyncio
import base64
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

try:
    import websockets
    import websockets.exceptions
except ImportError as exc:  # pragma: no cover - environment problem
    raise ImportError(
        "the integration tests need the websockets library "
        "(Debian: python3-websockets); run them with a python3 that has it"
    ) from exc


BUILDDIR = os.environ.get("WSPOOL_BUILDDIR", os.getcwd())
WRAPPER = shlex.split(os.environ.get("WSPOOL_TEST_WRAPPER", ""))
SCALE = float(os.environ.get(
    "WSPOOL_TEST_SCALE", "10" if any("valgrind" in w for w in WRAPPER) else "1"))

MASTER = os.path.join(BUILDDIR, "master", "wspool-master")
WORKER = os.path.join(BUILDDIR, "worker", "wspool-worker")
DEMO_SO = os.path.join(BUILDDIR, "examples", ".libs", "demo.so")

# What a server's (or worker's) stderr must never contain.
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ThreadSanitizer")
VALGRIND_ERROR = re.compile(r"^==\d+== ", re.M)

UUID4 = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _sanitizer_env():
    """Environment for servers whose workers must die by their own signal.

    Under the sanitizer build the demo's crash routes must still end in
    SIGSEGV/SIGABRT/SIGBUS, not in a sanitizer report and exit 1 (the
    worker sets these defaults itself too); later options override earlier
    ones, so ours win over the caller's.
    """
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan = (asan + ":" if asan else "") + \
        "handle_segv=0:handle_abort=0:handle_sigbus=0:detect_leaks=1"
    return {"ASAN_OPTIONS": asan,
            "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS",
                                            "print_stacktrace=1")}


SAN_ENV = _sanitizer_env()


def deadline(seconds):
    """An absolute monotonic deadline, scaled for slow wrappers."""
    return time.monotonic() + seconds * SCALE


def scaled(seconds):
    return seconds * SCALE


def wait_for(predicate, seconds, what, interval=0.05):
    """Poll predicate() until it returns a true value; fail after seconds."""
    end = deadline(seconds)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (scaled(seconds), what))
        time.sleep(interval)


def free_port():
    """A loopback port that was free a moment ago (the launch retries if not)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def tag():
    """A fresh tag for demo routes, so tests never see each other's records."""
    return "t-" + uuid.uuid4().hex


def sanitizer_problems(text):
    """The lines of a process's stderr that mean a memory/UB error."""
    bad = [m for m in SANITIZER_MARKERS if m in text]
    if WRAPPER and any("valgrind" in w for w in WRAPPER):
        if VALGRIND_ERROR.search(text):
            bad.append("valgrind error")
    return bad


def wrap_command(argv):
    """Prefix argv with WSPOOL_TEST_WRAPPER; libtool resolves wrapper scripts."""
    if not WRAPPER:
        return list(argv)
    libtool = os.path.join(BUILDDIR, "libtool")
    prefix = [libtool, "--mode=execute"] if os.path.exists(libtool) else []
    return prefix + WRAPPER + list(argv)


# ---- processes ------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid) of a pid from /proc, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1])


def alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def descendants(root):
    """Live pids below root in the process tree."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is None or st[0] == "Z":
            continue
        children.setdefault(st[1], []).append(int(name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def worker_pids(master_pid):
    """Live wspool-worker processes started (directly or not) by a master,
    the cleanup runner excepted (it takes no calls: runner_pids).

    Falls back to every live descendant if none is named wspool-worker (a
    master that forks its workers without exec).
    """
    below = descendants(master_pid)
    named = [p for p in below if "wspool-worker" in cmdline(p)]
    return sorted(p for p in (named or below)
                  if "--runner" not in cmdline(p))


def runner_pids(master_pid):
    """The master's live cleanup runner(s) (wspool-worker --runner)."""
    return sorted(p for p in descendants(master_pid)
                  if "wspool-worker" in cmdline(p)
                  and "--runner" in cmdline(p))


class Server:
    """A wspool-master for one test (or one module), as a context manager.

    Picks free ports, starts the master with stderr in a temp file, waits
    for GET /healthz 200 (or, with healthy=False, for any HTTP answer), and
    on exit sends SIGTERM, expects exit status 0 within a deadline, and fails
    if stderr shows a sanitizer report.
    """

    def __init__(self, workers=2, worker_listen=False, max_message=None,
                 ws_path=None, module=None, extra_args=(), healthy=True,
                 env=None):
        self.workers = workers
        self.worker_listen = worker_listen
        self.max_message = max_message
        self.ws_path = ws_path or "/ws"
        self.module = module
        self.extra_args = list(extra_args)
        self.healthy = healthy
        self.extra_env = dict(env or {})
        self.proc = None
        self.port = None
        self.worker_port = None
        self.external = False
        self._stderr = None
        self._tmpdir = None
        self.demo_log = None
        self.journal = None

    # -- launching --
    def _argv(self):
        argv = [MASTER, "--listen", "127.0.0.1:%d" % self.port,
                "--workers", str(self.workers)]
        if self.worker_listen:
            argv += ["--worker-listen", "tcp://127.0.0.1:%d" % self.worker_port]
        if self.max_message is not None:
            argv += ["--max-message", str(self.max_message)]
        if self.ws_path != "/ws":
            argv += ["--ws-path", self.ws_path]
        argv += self.extra_args
        if not any(a == "--journal" or a.startswith("--journal=")
                   for a in self.extra_args):
            # The durable journal, in the test's own directory (the
            # installed default is under $localstatedir).
            argv += ["--journal", self.journal]
        if self.module:
            argv.append(self.module)
        return wrap_command(argv)

    @property
    def worker_address(self):
        return "tcp://127.0.0.1:%d" % self.worker_port

    def stderr_text(self):
        if self._stderr is None:
            return ""
        with open(self._stderr.name, "r", errors="replace") as f:
            return f.read()

    def _launch_once(self):
        self.port = free_port()
        self.worker_port = free_port() if self.worker_listen else None
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.NamedTemporaryFile(
            prefix="wspool-master-", suffix=".stderr", dir=self._tmpdir,
            delete=False)
        env = dict(os.environ)
        env["WSPOOL_DEMO_LOG"] = self.demo_log
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.extra_env)
        self.proc = subprocess.Popen(
            self._argv(), stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr, env=env, cwd=self._tmpdir)

    def _ready(self):
        """True when the server answers as wanted; raises if it died."""
        rc = self.proc.poll()
        if rc is not None:
            raise _Exited(rc)
        return self._ready_status()

    @property
    def tls(self):
        """An unverified client context when serving wss://, else None."""
        if "--tls-cert" not in self.extra_args:
            return None
        import ssl
        return ssl._create_unverified_context()

    def _ready_status(self):
        try:
            status = http_request(self.port, "GET", "/healthz", timeout=1,
                                  tls=self.tls)[0]
        except (OSError, AssertionError):
            return False
        return status == 200 if self.healthy else True

    def start(self):
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="wspool-itest-")
            self.demo_log = os.path.join(self._tmpdir, "demo.log")
            self.journal = os.path.join(self._tmpdir, "journal")
        for attempt in range(5):
            self._launch_once()
            try:
                wait_for(self._ready, 30, "the master at port %d to be %s"
                         % (self.port, "healthy" if self.healthy else "up"))
                return self
            except _Exited as exc:
                err = self.stderr_text()
                if "in use" in err.lower() and attempt < 4:
                    continue
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                raise AssertionError(
                    "wspool-master exited with status %d at startup: %s\n%s"
                    % (exc.rc, " ".join(self._argv()), err[-4000:]))
            except AssertionError:
                self._kill()
                err = self.stderr_text()
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                raise AssertionError("%s\nargv: %s\nstderr:\n%s" % (
                    "the master never became ready", " ".join(self._argv()),
                    err[-4000:]))
        raise AssertionError("could not find a free port")  # not reached

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, check=True):
        """SIGTERM, wait, check the exit status and stderr. Returns stderr."""
        if self.external or self.proc is None:
            return ""
        workers = worker_pids(self.proc.pid) if self.proc.poll() is None else []
        problems = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(15))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                problems.append("the master did not exit within %.0fs of "
                                "SIGTERM (killed)" % scaled(15))
        rc = self.proc.returncode
        if rc != 0 and not problems:
            problems.append("the master exited with status %d after SIGTERM"
                            % rc)
        # Its workers exit with it (they may be reaped by init a bit later).
        end = deadline(10)
        while any(alive(p) for p in workers) and time.monotonic() < end:
            time.sleep(0.05)
        left = [p for p in workers if alive(p)]
        if left:
            problems.append("workers %s still alive after the master exited"
                            % left)
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        err = self.stderr_text()
        bad = sanitizer_problems(err)
        if bad:
            problems.append("sanitizer/valgrind report in the server's "
                            "stderr (%s)" % ", ".join(bad))
        if check and problems:
            raise AssertionError("; ".join(problems) + "\nstderr:\n"
                                 + err[-8000:])
        return err

    def __enter__(self):
        if self.proc is not None:
            return self  # already started with start()
        if (os.environ.get("WSPOOL_TEST_PORT") and self._default_config()):
            self.external = True
            self.port = int(os.environ["WSPOOL_TEST_PORT"])
            return self
        return self.start()

    def _default_config(self):
        return (self.workers == 2 and not self.worker_listen
                and self.max_message is None and self.ws_path == "/ws"
                and not self.module and not self.extra_args and self.healthy)

    def __exit__(self, exc_type, exc, tb):
        try:
            err = self.stop(check=exc_type is None)
        finally:
            if self._stderr is not None:
                self._stderr.close()
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
        if exc_type is not None and not self.external:
            # Shown by pytest with the failing test's captured output.
            print("---- wspool-master stderr (tail) ----")
            print(err[-8000:])
        return False

    # -- conveniences --
    def url(self, path=None):
        return "%s://127.0.0.1:%d%s" % ("wss" if self.tls else "ws",
                                        self.port, path or self.ws_path)

    def health(self):
        return http_request(self.port, "GET", "/healthz", tls=self.tls)[0]


class _Exited(Exception):
    def __init__(self, rc):
        super().__init__(rc)
        self.rc = rc


class Worker:
    """A wspool-worker started by hand, connecting to a master's address."""

    def __init__(self, address, module=None):
        self.address = address
        self.module = module or DEMO_SO
        self.proc = None
        self._stderr = None

    def __enter__(self):
        self._stderr = tempfile.NamedTemporaryFile(
            prefix="wspool-worker-", suffix=".stderr", delete=False)
        self.proc = subprocess.Popen(
            wrap_command([WORKER, "--connect", self.address, self.module]),
            stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        with open(self._stderr.name, "r", errors="replace") as f:
            return f.read()

    def __exit__(self, exc_type, exc, tb):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        err = self.stderr_text()
        self._stderr.close()
        os.unlink(self._stderr.name)
        bad = sanitizer_problems(err)
        if bad and exc_type is None:
            raise AssertionError("sanitizer report in the worker's stderr "
                                 "(%s):\n%s" % (", ".join(bad), err[-8000:]))
        return False


# ---- plain HTTP -----------------------------------------------------------

def http_request(port, method, path, headers=None, body=b"", timeout=5,
                 raw=None, tls=None, server_hostname="localhost"):
    """Send one HTTP/1.1 request; return (status, headers dict, body bytes).

    tls: an ssl.SSLContext for https (the name checked is server_hostname).
    Header names in the result are lower-cased. Reads until the body is
    complete (Content-Length) or the server closes; raises socket.timeout if
    the server neither answers nor closes in time (a hang is a failure).
    """
    if raw is None:
        lines = ["%s %s HTTP/1.1" % (method, path),
                 "Host: 127.0.0.1:%d" % port]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        if body:
            lines.append("Content-Length: %d" % len(body))
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls is not None:
        try:
            s = tls.wrap_socket(s, server_hostname=server_hostname)
        except BaseException:
            s.close()
            raise
    with s:
        s.settimeout(timeout)
        s.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status, hdrs = _parse_head(head)
        length = hdrs.get("content-length")
        if length is not None:
            while len(rest) < int(length):
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        elif status != 101:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        return status, hdrs, rest


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1."):
        raise AssertionError("not an HTTP response: %r" % head[:200])
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs


def upgrade_headers(key=None, version="13", extra=None):
    h = {"Upgrade": "websocket", "Connection": "Upgrade",
         "Sec-WebSocket-Key": key or base64.b64encode(os.urandom(16)).decode(),
         "Sec-WebSocket-Version": version}
    h.update(extra or {})
    return h


def accept_key(key):
    return base64.b64encode(
        hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


# ---- raw WebSocket client -------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0,
                length_override=None):
    """One WebSocket frame as bytes; rsv is the 3-bit RSV1..3 field."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length_override is None else length_override
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    return head + key + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawWS:
    """A WebSocket client on a plain socket: handshake by hand, any frame."""

    def __init__(self, port, path="/ws", headers=None, timeout=10, tls=None):
        self.timeout = scaled(timeout)
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=self.timeout)
        if tls is not None:  # an ssl.SSLContext: wss://
            self.sock = tls.wrap_socket(self.sock,
                                        server_hostname="localhost")
        self.key = base64.b64encode(os.urandom(16)).decode()
        hdrs = {"Host": "127.0.0.1:%d" % port}
        hdrs.update(upgrade_headers(self.key))
        hdrs.update(headers or {})
        req = "GET %s HTTP/1.1\r\n" % path + "".join(
            "%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(req.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("connection closed during the handshake: "
                                     "%r" % data)
            data += chunk
        head, _, self.buf = data.partition(b"\r\n\r\n")
        self.status, self.headers = _parse_head(head)
        if self.status != 101:
            raise AssertionError("handshake answered %d, not 101: %r"
                                 % (self.status, head))
        if self.headers.get("sec-websocket-accept") != accept_key(self.key):
            raise AssertionError("bad Sec-WebSocket-Accept: %r" % self.headers)

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close_socket()
        return False

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.send_raw(build_frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str)
                        else text)

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed by the server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """(fin, opcode, payload) of the next frame; EOFError at the end."""
        b0, b1 = self._read_exact(2)
        if b1 & 0x80:
            raise AssertionError("the server sent a masked frame")
        # RSV1 only where permessage-deflate was negotiated (the caller
        # says so: allow_rsv1); last_rsv tells which frame had it.
        self.last_rsv = b0 & 0x70
        if b0 & 0x70 and not (getattr(self, "allow_rsv1", False)
                              and (b0 & 0x70) == 0x40):
            raise AssertionError("the server set RSV bits: %#x" % b0)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._read_exact(n)

    def read_message(self):
        """The next complete data message as (opcode, bytes); skips pings."""
        parts, first = [], None
        while True:
            fin, op, payload = self.read_frame()
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                raise AssertionError("unexpected close frame %r" % payload)
            if first is None:
                first = op
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def recv_json(self):
        op, data = self.read_message()
        assert op == OP_TEXT, "expected a text message, got opcode %d" % op
        return json.loads(data.decode("utf-8"))

    def call(self, obj):
        """Send one call and return the first message for its id."""
        self.send_text(json.dumps(obj))
        while True:
            msg = self.recv_json()
            if msg.get("id") == obj.get("id"):
                return msg

    def read_close(self):
        """Read frames until a close frame; return its status code.

        Returns None if the socket ends without a close frame, 1005 for a
        close frame with no payload. Data frames before it are skipped.
        """
        while True:
            try:
                fin, op, payload = self.read_frame()
            except (EOFError, ConnectionResetError):
                return None
            if op == OP_CLOSE:
                self.close_payload = payload
                if len(payload) >= 2:
                    return struct.unpack("!H", payload[:2])[0]
                return 1005

    def wait_eof(self):
        """True if the server closes the TCP connection within the timeout."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


# ---- asyncio client on the websockets library -------------------------------

_ids = itertools.count(1)


def next_id():
    return next(_ids)


class Client:
    """An alien-rpc style client on websockets.connect.

    Messages read while waiting for something else are kept in self.stray
    (in order) so tests can assert what else arrived.
    """

    def __init__(self, ws):
        self.ws = ws
        self.stray = []

    @classmethod
    async def connect(cls, server_or_url, headers=None, timeout=10, **kw):
        url = server_or_url if isinstance(server_or_url, str) \
            else server_or_url.url()
        ws = await websockets.connect(
            url, extra_headers=headers or {}, max_size=None,
            ping_interval=None, open_timeout=scaled(timeout),
            close_timeout=scaled(timeout), **kw)
        return cls(ws)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
        return False

    async def close(self):
        await asyncio.wait_for(self.ws.close(), scaled(15))

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def send_text(self, text):
        await self.ws.send(text)

    async def recv(self, timeout=10):
        """The next message (parsed), failing after timeout seconds."""
        try:
            data = await asyncio.wait_for(self.ws.recv(), scaled(timeout))
        except asyncio.TimeoutError:
            raise AssertionError("no message within %.1fs" % scaled(timeout))
        assert isinstance(data, str), "got a binary message: %r" % data[:100]
        return json.loads(data)

    async def recv_until(self, pred, timeout=10):
        """Read messages until pred(msg); return all of them, the match last."""
        end = time.monotonic() + scaled(timeout)
        got = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting; received %r"
                                     % got[-20:])
            msg = await self.recv(left / SCALE)
            got.append(msg)
            if pred(msg):
                return got

    async def quiet(self, seconds):
        """Messages that arrive within seconds (a bounded negative check)."""
        got = []
        end = time.monotonic() + scaled(seconds)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got
            try:
                data = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                return got
            got.append(json.loads(data))

    def message(self, method, params=None, id=None):
        msg = {"method": method}
        if params is not None:
            msg["params"] = params
        if id is not None:
            msg["id"] = id
        return msg

    async def request(self, method, params=None, id=None, timeout=10):
        """A request: send it and return its answer (result or error)."""
        if id is None:
            id = next_id()
        await self.send(self.message(method, params, id))
        msgs = await self.recv_until(
            lambda m: m.get("id") == id and ("result" in m or "error" in m),
            timeout)
        self.stray.extend(msgs[:-1])
        return msgs[-1]

    async def result(self, method, params=None, timeout=10):
        """A request that must succeed: its result."""
        msg = await self.request(method, params, timeout=timeout)
        assert "error" not in msg, "%s %r failed: %r" % (method, params, msg)
        return msg["result"]

    async def subscribe(self, method, params=None, id=None, timeout=10):
        """A subscription: all its messages up to close or error, in order."""
        if id is None:
            id = next_id()
        await self.send(self.message(method, params, id))
        msgs = await self.recv_until(
            lambda m: m.get("id") == id and ("close" in m or "error" in m),
            timeout)
        mine = [m for m in msgs if m.get("id") == id]
        self.stray.extend(m for m in msgs if m.get("id") != id)
        return mine

    async def probe(self, timeout=10):
        """Round-trip one echo call; return what arrived before its answer."""
        pid = "probe-" + uuid.uuid4().hex
        value = uuid.uuid4().hex
        await self.send({"method": "echo", "params": [value], "id": pid})
        msgs = await self.recv_until(lambda m: m.get("id") == pid, timeout)
        assert msgs[-1] == {"id": pid, "result": value}, msgs[-1]
        return msgs[:-1]


async def closed_code(ws, timeout=10):
    """Wait for a websockets connection to close; the code the server sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), scaled(timeout))
    except websockets.exceptions.ConnectionClosed:
        pass
    except asyncio.TimeoutError:
        raise AssertionError("the server did not close the connection within "
                             "%.1fs" % scaled(timeout))
    return ws.close_code


def run(coro, timeout=120):
    """Run one async test body with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, scaled(timeout)))


# ---- /metrics --------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def metric(server, name, labels=None, missing=None):
    """A number from GET /metrics: the sum of the samples of name whose
    labels include labels (a dict). server is a Server or a port. With no
    sample at all: missing if given, else 0 when labels were asked for
    (a labelled family starts empty), else a failure."""
    port = server if isinstance(server, int) else server.port
    status, _, body = http_request(port, "GET", "/metrics")
    assert status == 200, status
    total, seen = 0.0, False
    for line in body.decode("utf-8").split("\n"):
        m = _SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        if labels and not all('%s="%s"' % kv in (m.group(2) or "")
                              for kv in labels.items()):
            continue
        total += float(m.group(3))
        seen = True
    if seen:
        return total
    if missing is not None:
        return missing
    assert labels, "no %s in /metrics" % name
    return 0.0


# ---- the demo's cleanup records ---------------------------------------------

async def records(c, t):
    """The demo's cleanup records of tag t (the cleanups route)."""
    msg = await c.request("cleanups", [t])
    assert "error" not in msg, msg
    return msg["result"]


async def poll_result(c, method, params, pred, seconds, what):
    """Call method until pred(result); bounded. Returns the result."""
    end = deadline(seconds)
    while True:
        got = await c.result(method, params, timeout=30)
        if pred(got):
            return got
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s; "
                                 "%s%r = %r" % (scaled(seconds), what,
                                                method, params, got))
        await asyncio.sleep(0.02)


async def settled_records(server, c, t, n, seconds=10, busy_ok=False):
    """The records of tag t once there are at least n and the journal holds
    no pending cleanup (wspool_cleanups_pending 0, read first): every
    registration was reported done, so none runs again and a record run
    twice would already be there. Bounded by seconds. busy_ok: a 503 (the
    only worker being replaced) counts as "not yet"."""
    end = deadline(seconds)
    while True:
        settled = metric(server, "wspool_cleanups_pending") == 0
        msg = await c.request("cleanups", [t])
        busy = busy_ok and msg.get("error", {}).get("code") == 503
        assert busy or "error" not in msg, msg
        if settled and not busy and len(msg["result"]) >= n:
            return msg["result"]
        assert time.monotonic() < end, (
            "timed out after %.1fs waiting for %d settled record(s) of %s: "
            "%r, %s cleanups pending" % (scaled(seconds), n, t,
                                         msg.get("result"),
                                         metric(server,
                                                "wspool_cleanups_pending")))
        await asyncio.sleep(0.02)


async def wait_records_each(c, tags, reason, end, what):
    """Poll until every tag has its one record (index 0, this reason);
    fail at the monotonic time end, saying what was awaited."""
    missing = list(tags)
    while missing:
        done = set()
        for t in missing:
            recs = await records(c, t)
            if recs:
                assert same_json(recs, [{"tag": t, "index": 0,
                                         "reason": reason}]), recs
                done.add(t)
        missing = [t for t in missing if t not in done]
        assert not missing or time.monotonic() < end, (
            "%d of %d cleanups not run %s" % (len(missing), len(tags), what))
        if missing and not done:
            await asyncio.sleep(0.05)


# ---- comparing JSON values exactly ----------------------------------------

def same_json(got, want):
    """Equality that does not let 1 == True or a float pass for an int.

    A float expected value accepts an int of the same value (JSON has one
    number type; 3.0 may be written 3), but an int expected value needs an
    int: 64-bit integers must survive unchanged.
    """
    if isinstance(want, bool) or want is None:
        return got is want
    if isinstance(want, int):
        return type(got) is int and got == want
    if isinstance(want, float):
        return (isinstance(got, (int, float)) and not isinstance(got, bool)
                and float(got) == want)
    if isinstance(want, str):
        return isinstance(got, str) and got == want
    if isinstance(want, list):
        return (isinstance(got, list) and len(got) == len(want)
                and all(same_json(g, w) for g, w in zip(got, want)))
    if isinstance(want, dict):
        return (isinstance(got, dict) and got.keys() == want.keys()
                and all(same_json(got[k], want[k]) for k in want))
    raise TypeError(type(want))


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)
