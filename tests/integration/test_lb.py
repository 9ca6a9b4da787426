# test_lb.py: two masters behind HAProxy (docs/scaling.md, "several fronts
# behind a load balancer"), with one fleet of workers on two other "hosts"
# (network namespaces, fleet.py) joined to both over mutual TLS, each
# worker with --connect twice. Killing one master moves its clients: they
# reconnect through HAProxy and land on the other, which the fleet keeps
# serving without a restart of its sessions for that master.

import os
import shutil
import subprocess
import tempfile
import time

import pytest

import fleet
import harness
from harness import Client, Server, run, wait_for

CLIENTS = 8

HAPROXY_CFG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    option redispatch
    retries 3
frontend clients
    bind 127.0.0.1:%(port)d
    default_backend masters
backend masters
    balance roundrobin
    option httpchk GET /healthz
    server m1 127.0.0.1:%(m1)d check inter 200 fall 1 rise 1
    server m2 127.0.0.1:%(m2)d check inter 200 fall 1 rise 1
"""


class HAProxy:
    def __init__(self, m1, m2):
        self.port = harness.free_port()
        self.m1, self.m2 = m1, m2

    def __enter__(self):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(exe):
            if os.environ.get("CI"):
                pytest.fail("haproxy is missing: tools/deps.sh installs it")
            pytest.skip("haproxy is not installed (tools/deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="wspool-haproxy-")
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG % {"port": self.port, "m1": self.m1,
                                   "m2": self.m2})
        self.log = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen([exe, "-db", "-f", cfg],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        wait_for(self._up, 20, "haproxy to listen")
        return self

    def _up(self):
        assert self.proc.poll() is None, "haproxy exited"
        try:
            return harness.http_request(self.port, "GET", "/healthz",
                                        timeout=1)[0] == 200
        except (OSError, AssertionError):
            return False

    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def master(net, certs):
    port = harness.free_port()
    srv = Server(workers=0, healthy=False, extra_args=[
        "--worker-listen", "tls+tcp://%s:%d" % (net.address, port),
        "--worker-timeout", "1"] + certs.master_args())
    srv.tls_port = port
    return srv


async def whoami(url):
    async with await Client.connect(url) as c:
        return (await c.result("whoami", []))["pid"]


def test_two_masters_behind_haproxy_one_killed():
    with fleet.Net() as net, fleet.Certs() as certs, \
            master(net, certs) as m1, master(net, certs) as m2:
        regs = ["tls+tcp://%s:%d" % (net.address, m.tls_port) for m in (m1, m2)]
        env = {"WSPOOL_DEMO_LOG": m2.demo_log}
        with fleet.NsWorker(net.host(), regs, certs.worker_args(), env=env) \
                as w1, fleet.NsWorker(net.host(), regs, certs.worker_args(),
                                      env=env) as w2:
            for m in (m1, m2):
                wait_for(lambda: m.health() == 200, 30, "a fleet on each master")
            wait_for(lambda: all(b"wspool_workers_ready 2" in
                                 harness.http_request(m.port, "GET",
                                                      "/metrics")[2]
                                 for m in (m1, m2)),
                     30, "both workers on both masters")
            fleet_pids = set(harness.descendants(w1.pid)) | \
                set(harness.descendants(w2.pid))
            # The sessions that serve m2, seen directly.
            m2_sessions = set()
            for _ in range(16):
                m2_sessions.add(run(whoami(m2.url())))
            assert m2_sessions <= fleet_pids, (m2_sessions, fleet_pids)

            with HAProxy(m1.port, m2.port) as lb:
                async def clients():
                    cs = [await Client.connect(lb.url())
                          for _ in range(CLIENTS)]
                    for c in cs:
                        assert (await c.result("whoami", []))["pid"] in \
                            fleet_pids
                    return cs

                async def scenario():
                    cs = await clients()
                    before = harness.http_request(m1.port, "GET", "/metrics")[2]
                    assert b"wspool_connections_open 0" not in before, \
                        "haproxy sent no client to the first master"
                    m1.proc.kill()          # the first front dies
                    m1.proc.wait(timeout=30)
                    moved = 0
                    for c in cs:
                        try:
                            await c.result("add", [1, 2], timeout=2)
                        except Exception:
                            moved += 1      # it was on m1: reconnect
                            await c.close()
                            end = harness.deadline(20)
                            while True:
                                try:
                                    pid = await whoami(lb.url())
                                    break
                                except Exception:
                                    assert time.monotonic() < end, \
                                        "no reconnect through haproxy"
                            assert pid in m2_sessions, (pid, m2_sessions)
                            continue
                        await c.close()
                    assert moved > 0
                    # Every new client lands on m2, served by the same
                    # sessions as before: the fleet was not disturbed.
                    for _ in range(CLIENTS):
                        assert await whoami(lb.url()) in m2_sessions
                run(scenario())
            m1.proc = None                  # killed on purpose, reaped
            assert w1.proc.poll() is None and w2.proc.poll() is None
