# fleet.py: what the fleet tests (test_fleet.py, test_lb.py) need beyond
# harness.py: test certificates made with the openssl commands of
# docs/scaling.md, worker "hosts" in network namespaces joined to the test's
# namespace by veth pairs on one bridge (each with its own address and
# network stack), wspool-worker processes started inside them, and a fake
# worker written from the wire format (SP over TCP or TLS, msgpack
# envelopes of proto/proto.h) for what a real worker never sends.
#
# Everything a test creates (namespaces, links, processes, files) is
# removed by the context managers' exits, also when the test fails. The
# namespace tests need root, as CI has: without it they skip and say so,
# except under CI (CI=true), where being skipped would hide them: there
# they fail.

import os
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time

import msgpack
import pytest

import harness

PROTO_VERSION = 4  # proto/proto.h
HELLO, WELCOME, REFUSE, READY = 64, 65, 66, 32
RESULT, DEFER, CLEANUP_DONE, LOG, HEARTBEAT = 33, 37, 38, 39, 72
SP_REQ0, SP_REP0, SP_PAIR1 = 0x30, 0x31, 0x11

# The demo module's routes as READY announces them: name, pattern
# (1 request, 2 subscription, 3 notification), timeout_ms, flags (1:
# idempotent).
DEMO_ROUTES = [["add", 1, 0, 1], ["cleanups", 1, 0, 1], ["count", 2, 0, 0],
               ["crash", 1, 0, 0], ["echo", 1, 0, 1], ["fail", 1, 0, 0],
               ["note", 3, 0, 0], ["notes", 1, 0, 1], ["secret", 1, 0, 1],
               ["settle", 1, 0, 0], ["sleep", 1, 0, 0], ["sparse", 2, 0, 0],
               ["whoami", 1, 0, 1]]


def need_root():
    """Skip (saying why) unless root; under CI, fail instead of skipping."""
    if os.geteuid() == 0:
        return
    why = ("the fleet tests create network namespaces and veth links: "
           "they need root (CI runs as root)")
    if os.environ.get("CI"):
        pytest.fail(why + "; under CI they must run")
    pytest.skip(why)


def run_cmd(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def module_digest(module=None):
    """What wspool-worker --digest prints: the digest a master compares."""
    out = subprocess.run([harness.WORKER, "--digest", module or harness.DEMO_SO],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


# ---- certificates ----------------------------------------------------------

# The commands of docs/scaling.md, run in a fresh directory.
CERT_SCRIPT = r"""
set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
ca() {  # name subject
  openssl req -x509 -new $ec -keyout $1.key -out $1.crt -days 3650 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
}
leaf() {  # name ca subject ext-file
  openssl req -new $ec -keyout $1.key -out $1.csr -subj "/CN=$3"
  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial \
    -out $1.crt -days 825 -extfile $4
}
ca ca "wspool test CA"
ca other-ca "unrelated CA"
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:master.wspool.test" > server.ext
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" > client.ext
leaf master ca master.wspool.test server.ext
leaf worker ca worker-1 client.ext
leaf rogue other-ca rogue-worker client.ext
chmod 600 *.key
openssl verify -CAfile ca.crt master.crt worker.crt
"""


class Certs:
    """A CA, the master's certificate, a worker's, and a rogue one signed by
    an unrelated CA; removed on exit."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="wspool-certs-")
        subprocess.run(["sh", "-c", CERT_SCRIPT], cwd=self.dir, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def path(self, name):
        return os.path.join(self.dir, name)

    def master_args(self):
        return ["--worker-tls-cert", self.path("master.crt"),
                "--worker-tls-key", self.path("master.key"),
                "--worker-tls-ca", self.path("ca.crt")]

    def worker_args(self, who="worker"):
        return ["--tls-cert", self.path(who + ".crt"),
                "--tls-key", self.path(who + ".key"),
                "--tls-ca", self.path("ca.crt"),
                "--tls-server-name", "master.wspool.test"]

    def __exit__(self, *exc):
        subprocess.run(["rm", "-rf", self.dir])
        return False


# ---- namespaces ------------------------------------------------------------

class Net:
    """A bridge in the test's namespace (address 198.18.N.1/24, a range set
    aside for network tests) and worker hosts in their own namespaces, each
    joined to it by a veth pair. All of it is deleted on exit."""

    def __init__(self):
        self.tag = "%d" % (os.getpid() % 100000)
        self.bridge = "wsb" + self.tag
        self.hosts = []
        self.subnet = None

    def __enter__(self):
        need_root()
        run_cmd("ip", "link", "add", self.bridge, "type", "bridge")
        try:
            # A subnet no other test (another build's suite) uses now.
            used = subprocess.run(["ip", "-o", "-4", "addr", "show"],
                                  capture_output=True, text=True).stdout
            for n in range(os.getpid() % 200, os.getpid() % 200 + 50):
                if " 198.18.%d." % n in used:
                    continue
                run_cmd("ip", "addr", "add", "198.18.%d.1/24" % n,
                        "dev", self.bridge)
                self.subnet = n
                break
            assert self.subnet is not None, "no free 198.18.x.0/24"
            run_cmd("ip", "link", "set", self.bridge, "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @property
    def address(self):
        """The test namespace's address on the bridge (where masters listen)."""
        return "198.18.%d.1" % self.subnet

    def host(self):
        """A new worker host: its namespace name and address."""
        i = len(self.hosts) + 2
        ns = "wsn%sh%d" % (self.tag, i)
        veth = "wsv%sh%d" % (self.tag, i)
        peer = "wsp%sh%d" % (self.tag, i)
        self.hosts.append((ns, veth))
        run_cmd("ip", "netns", "add", ns)
        run_cmd("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        run_cmd("ip", "link", "set", peer, "netns", ns)
        run_cmd("ip", "link", "set", veth, "master", self.bridge)
        run_cmd("ip", "link", "set", veth, "up")
        addr = "198.18.%d.%d" % (self.subnet, i)
        run_cmd("ip", "-n", ns, "addr", "add", addr + "/24", "dev", peer)
        run_cmd("ip", "-n", ns, "link", "set", peer, "up")
        run_cmd("ip", "-n", ns, "link", "set", "lo", "up")
        return Host(ns, veth, addr)

    def __exit__(self, *exc):
        for ns, veth in self.hosts:
            # Whatever still runs in it (a test that failed half-way).
            out = subprocess.run(["ip", "netns", "pids", ns],
                                 capture_output=True, text=True).stdout
            for pid in out.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "link", "del", veth], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        return False


class Host:
    def __init__(self, ns, veth, address):
        self.ns = ns
        self.veth = veth
        self.address = address

    def cut(self):
        """Cut the host's link: no packet either way, nothing closed."""
        run_cmd("ip", "link", "set", self.veth, "down")

    def mend(self):
        run_cmd("ip", "link", "set", self.veth, "up")


class NsWorker:
    """A wspool-worker started by hand inside a host's namespace."""

    def __init__(self, host, connect, args=(), env=None, module=None):
        self.host = host
        self.connect = connect if isinstance(connect, list) else [connect]
        self.args = list(args)
        self.env = dict(env or {})
        self.module = module or harness.DEMO_SO
        self.proc = None

    def __enter__(self):
        self._stderr = tempfile.NamedTemporaryFile(
            prefix="wspool-nsworker-", suffix=".stderr", delete=False)
        argv = [harness.WORKER]
        for c in self.connect:
            argv += ["--connect", c]
        argv += self.args + [self.module]
        env = dict(os.environ)
        env.update(harness.SAN_ENV)
        env.update(self.env)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.host.ns] + harness.wrap_command(argv),
            stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr, env=env)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        with open(self._stderr.name, "r", errors="replace") as f:
            return f.read()

    def __exit__(self, exc_type, exc, tb):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=harness.scaled(15))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        err = self.stderr_text()
        self._stderr.close()
        os.unlink(self._stderr.name)
        if exc_type is not None:
            print("---- worker in %s (tail) ----" % self.host.ns)
            print(err[-4000:])
        bad = harness.sanitizer_problems(err)
        if bad and exc_type is None:
            raise AssertionError("sanitizer report in the worker's stderr "
                                 "(%s):\n%s" % (", ".join(bad), err[-8000:]))
        return False


# ---- the wire format, for fake workers -------------------------------------

def batch(*envelopes):
    """One nng message body: the version, then the envelopes."""
    return msgpack.packb(PROTO_VERSION) + b"".join(
        msgpack.packb(e, use_bin_type=True) for e in envelopes)


def unbatch(body):
    u = msgpack.Unpacker(raw=False)
    u.feed(body)
    items = list(u)
    assert items and items[0] == PROTO_VERSION, items[:1]
    return items[1:]


class SP:
    """An SP (nng) connection over TCP, or TLS with a client certificate:
    the 8-byte protocol header each way, then frames of a 64-bit length."""

    def __init__(self, host, port, proto, certs=None, who="worker",
                 timeout=5):
        raw = socket.create_connection((host, port), timeout=timeout)
        if certs is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(certs.path("ca.crt"))
            ctx.load_cert_chain(certs.path(who + ".crt"),
                                certs.path(who + ".key"))
            raw = ctx.wrap_socket(raw)
        self.s = raw
        self.s.sendall(b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00")
        head = self._read(8)
        assert head[:4] == b"\x00SP\x00", head

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            if not chunk:
                raise EOFError("closed by the master")
            data += chunk
        return data

    def send(self, header, body):
        self.s.sendall(struct.pack(">Q", len(header) + len(body)) + header
                       + body)

    def recv(self, header_len):
        n = struct.unpack(">Q", self._read(8))[0]
        data = self._read(n)
        return data[:header_len], data[header_len:]

    def closed(self):
        """True once the master has closed the connection."""
        try:
            self.s.settimeout(0.05)
            while True:
                if not self.s.recv(65536):
                    return True
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (OSError, ssl.SSLError):
            return True
        finally:
            self.s.settimeout(5)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def hello(host, port, digest, certs=None, pid=4242):
    """HELLO on the registry; returns the answer's envelope."""
    sp = SP(host, port, SP_REQ0, certs)
    try:
        sp.send(struct.pack(">I", 0x80000001),
                batch([HELLO, pid, "fake-host", digest]))
        _, body = sp.recv(4)
        return unbatch(body)[0]
    finally:
        sp.close()


class FakeWorker:
    """A worker written from the wire format: joins with a valid certificate
    and digest, says READY with the demo's routes, then sends what it is
    told to."""

    def __init__(self, host, port, certs, digest):
        answer = hello(host, port, digest, certs)
        assert answer[0] == WELCOME, answer
        url = answer[1]
        assert url.startswith("tls+tcp://"), url
        h, p = url[len("tls+tcp://"):].rsplit(":", 1)
        self.sp = SP(h, int(p), SP_PAIR1, certs)
        # Capacity: 64 threads, none waiting.
        self.send([READY, 4242, "fake-host", "demo", DEMO_ROUTES, ["record"],
                   64, 0])

    def send(self, *envelopes):
        self.sp.send(struct.pack(">I", 1), batch(*envelopes))

    def closed(self):
        return self.sp.closed()

    def close(self):
        self.sp.close()
