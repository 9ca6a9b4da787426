# test_fleet.py: workers on other "hosts" (network namespaces with their own
# address, joined by veth links: fleet.py) over mutual TLS, and what the
# master does about workers that go silent or misbehave (issue 10):
# a cut link and a frozen (SIGSTOP) worker end their calls with 502 lost
# and hand their cleanups over, once; a worker with a certificate from
# another CA, a plain-TCP pretender, a worker with another module and a
# HELLO flood get nothing and do not disturb the master; an authenticated
# worker that speaks for calls it was not given is refused.
#
# Time bounds: the issue asks that a lost worker's calls end within
# --worker-timeout + 1 s. The tests run with --worker-timeout 1 and assert
# that bound, scaled by harness.SCALE (slow wrappers such as valgrind),
# because it is the promise operators size their timeouts by.

import os
import signal
import socket
import struct
import subprocess
import time

import pytest

import fleet
import harness
from harness import Client, Server, metric, run, tag, wait_for

TIMEOUT = 1.0                       # --worker-timeout of these tests
BOUND = TIMEOUT + 1.0               # the bound on ending calls


def lost_data(msg, pid):
    """The 502 error's data for a lost worker pid (its host: any)."""
    assert "error" in msg and msg["error"]["code"] == 502, msg
    data = msg["error"].get("data")
    assert data["kind"] == "lost", msg
    assert data["worker"]["pid"] == pid, (msg, pid)
    return data


def tls_master(net, certs, workers=0, port=None, extra=()):
    port = port or harness.free_port()
    srv = Server(workers=workers, healthy=workers > 0, extra_args=[
        "--worker-listen", "tls+tcp://%s:%d" % (net.address, port),
        "--worker-timeout", str(TIMEOUT)] + certs.master_args() + list(extra))
    srv.tls_port = port
    return srv


def registry(net, srv):
    return "tls+tcp://%s:%d" % (net.address, srv.tls_port)


async def records_of(c, t):
    return await c.result("cleanups", [t])


def _lost_test(freeze):
    """A request and a subscription running on a remote worker; the worker's
    link is cut (freeze False) or the worker stopped (True); both calls end
    502 lost within the bound, the worker comes back (link mended or
    SIGCONT) and joins again, and each call's cleanup runs exactly once,
    with reason lost, on the worker that took the hand-over."""
    with fleet.Net() as net, fleet.Certs() as certs, \
            tls_master(net, certs) as srv:
        host = net.host()
        with fleet.NsWorker(host, registry(net, srv), certs.worker_args(),
                            env={"WSPOOL_DEMO_LOG": srv.demo_log}) as w:
            wait_for(lambda: srv.health() == 200, 30, "the worker to join")

            async def body():
                c = await Client.connect(srv)
                t1, t2 = tag(), tag()
                pid = (await c.result("whoami", []))["pid"]
                assert pid == w.pid
                await c.send(c.message("sleep", [60000, t1], id=1))
                await c.send(c.message("count", [100000, 50, t2], id=2))
                await c.recv_until(lambda m: m.get("id") == 2, timeout=10)
                wait_for(lambda: metric(srv, "wspool_cleanups_pending") == 2,
                         10, "both cleanups journaled")
                # Both calls run (and hold a journaled cleanup) now.
                if freeze:
                    os.kill(w.pid, signal.SIGSTOP)
                else:
                    host.cut()
                start = time.monotonic()
                ended = {}
                while len(ended) < 2:
                    m = (await c.recv_until(
                        lambda m: m.get("id") in (1, 2) and "error" in m,
                        timeout=BOUND * 3))[-1]
                    ended[m["id"]] = (m, time.monotonic() - start)
                for i in (1, 2):
                    lost_data(ended[i][0], pid)
                    assert ended[i][1] <= harness.scaled(BOUND), (
                        "call %d ended after %.2fs, the bound is %.2fs"
                        % (i, ended[i][1], harness.scaled(BOUND)))
                assert metric(srv, "wspool_workers_ready") == 0
                # Back: the worker notices it lost its master, cancels
                # its calls, joins again and runs the hand-overs.
                if freeze:
                    os.kill(w.pid, signal.SIGCONT)
                else:
                    host.mend()
                wait_for(lambda: metric(srv, "wspool_workers_ready") == 1,
                         30, "the worker to join again")
                for t in (t1, t2):
                    recs = await harness.settled_records(srv, c, t, 1, 20)
                    assert len(recs) == 1, recs
                    assert recs[0]["reason"]["kind"] == "lost", recs
                    assert recs[0]["reason"]["worker"]["pid"] == pid, recs
                await c.close()
            run(body())
            assert "lost" in srv.stderr_text()


def test_link_cut_ends_calls_lost_and_worker_rejoins():
    _lost_test(freeze=False)


def test_stopped_remote_worker_is_lost():
    _lost_test(freeze=True)


def test_stopped_local_worker_is_lost():
    """SIGSTOP of a local worker: no pipe closes, only heartbeats tell."""
    with Server(workers=1, extra_args=["--worker-timeout", str(TIMEOUT)]) as srv:
        async def body():
            c = await Client.connect(srv)
            t = tag()
            pid = (await c.result("whoami", []))["pid"]
            await c.send(c.message("sleep", [60000, t], id=1))
            wait_for(lambda: metric(srv, "wspool_cleanups_pending") == 1, 10,
                     "the call's cleanup journaled")
            start = time.monotonic()
            os.kill(pid, signal.SIGSTOP)
            try:
                m = (await c.recv_until(lambda m: m.get("id") == 1,
                                        timeout=BOUND * 3))[-1]
                took = time.monotonic() - start
            finally:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            lost_data(m, pid)
            assert took <= harness.scaled(BOUND), (
                "ended after %.2fs, the bound is %.2fs"
                % (took, harness.scaled(BOUND)))
            # Killed and replaced; the cleanup ran once, reason lost.
            wait_for(lambda: not harness.alive(pid), 10, "the worker killed")
            recs = await harness.settled_records(srv, c, t, 1, 20)
            assert len(recs) == 1 and recs[0]["reason"]["kind"] == "lost", recs
            assert (await c.result("add", [1, 2])) == 3
            await c.close()
        run(body())


def test_wrong_ca_and_plain_tcp_get_no_call():
    """A worker whose certificate another CA signed fails the handshake;
    a client speaking plain TCP to the TLS address likewise. Neither gets a
    call, and the master keeps serving with its own worker."""
    with fleet.Net() as net, fleet.Certs() as certs, \
            tls_master(net, certs, workers=1) as srv:
        host = net.host()
        with fleet.NsWorker(host, registry(net, srv),
                            certs.worker_args("rogue")) as rogue:
            wait_for(lambda: metric(srv, "wspool_worker_tls_refused_total",
                                    missing=0) > 0,
                     20, "the rogue handshake refused")
            with pytest.raises((EOFError, OSError, AssertionError)):
                sp = fleet.SP(net.address, srv.tls_port, fleet.SP_REQ0,
                              timeout=2)
                sp.send(struct.pack(">I", 0x80000001),
                        fleet.batch([fleet.HELLO, 1, "x", "0" * 64]))
                sp.recv(4)

            async def body():
                async with await Client.connect(srv) as c:
                    pids = {(await c.result("whoami", []))["pid"]
                            for _ in range(20)}
                    assert rogue.pid not in pids and len(pids) == 1, pids
            run(body())
            assert metric(srv, "wspool_workers_ready") == 1
            assert rogue.proc.poll() is None      # it keeps trying, politely
            err = rogue.stderr_text()
            assert "TLS handshake failed" in err or \
                "does not accept our certificate" in err, err


def test_other_module_is_refused_with_a_reason():
    """A worker whose module differs (another digest) is refused at HELLO,
    and both sides say why."""
    bad = os.path.join(harness.BUILDDIR, "tests", "unit", ".libs",
                       "bad_module.so")
    if not os.path.exists(bad):
        pytest.skip("tests/unit/bad_module.so is not built")
    with Server(workers=1, worker_listen=True,
                extra_args=["--worker-timeout", str(TIMEOUT)]) as srv:
        w = harness.Worker(srv.worker_address, module=bad)
        with w:
            wait_for(lambda: "module differs" in w.stderr_text(), 20,
                     "the worker to say it was refused")
        assert "module differs" in srv.stderr_text()
        assert metric(srv, "wspool_worker_joins_refused_total") >= 1


def test_plain_tcp_beyond_loopback_is_refused():
    """tcp:// on a non-loopback address would hand every call to whoever
    reaches it: the master refuses to start, and says why."""
    out = subprocess.run(harness.wrap_command([
        harness.MASTER, "--listen", "127.0.0.1:%d" % harness.free_port(),
        "--workers", "0", "--worker-listen", "tcp://0.0.0.0:%d"
        % harness.free_port()]), capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "tls+tcp" in out.stderr and "insecure-worker-listen" in out.stderr


def test_forged_messages_are_refused():
    """An authenticated worker (valid certificate and digest) answers,
    defers and reports cleanups for calls it was not given: every one is
    refused, the real call and its cleanup are untouched, no cleanup of its
    invention runs, and it is disconnected."""
    digest = fleet.module_digest()
    with fleet.Net() as net, fleet.Certs() as certs, \
            tls_master(net, certs, workers=1) as srv:
        async def body():
            c = await Client.connect(srv)
            t, forged = tag(), tag()
            await c.send(c.message("sleep", [1500, t], id=1))
            wait_for(lambda: metric(srv, "wspool_cleanups_pending") == 1, 10,
                     "the call's cleanup journaled")
            fake = fleet.FakeWorker(net.address, srv.tls_port, certs, digest)
            try:
                arg = fleet.msgpack.packb({"tag": forged, "index": 0})
                nil = fleet.msgpack.packb(None)
                for call in range(1, 12):
                    fake.send([fleet.RESULT, call, nil],
                              [fleet.DEFER, call, 1, "record", arg],
                              [fleet.CLEANUP_DONE, call, 1, True, ""],
                              [fleet.LOG, call, 1, "forged"])
                wait_for(fake.closed, 20, "the fake worker disconnected")
            finally:
                fake.close()
            m = (await c.recv_until(lambda m: m.get("id") == 1,
                                    timeout=10))[-1]
            assert m.get("result") == 1500, m
            recs = await harness.settled_records(srv, c, t, 1, 20)
            assert len(recs) == 1 and recs[0]["reason"] is None, recs
            assert await records_of(c, forged) == []
            await c.close()
        run(body())
        assert metric(srv, "wspool_worker_messages_refused_total") >= 8
        assert "not given to it" in srv.stderr_text()


def test_hello_flood_leaves_descriptors_to_spare():
    """10,000 HELLOs (with the right digest: the worst case) from many
    connections: the registry keeps few connections and few joins at once,
    so the master's descriptors stay far from its limit and clients are
    served throughout."""
    digest = fleet.module_digest()
    with Server(workers=1, worker_listen=True,
                extra_args=["--worker-timeout", str(TIMEOUT)]) as srv:
        limit = int(open("/proc/%d/limits" % srv.proc.pid).read().split(
            "Max open files")[1].split()[0])
        body = fleet.batch([fleet.HELLO, 1, "flood", digest])
        hello = (b"\x00SP\x00" + struct.pack(">H", fleet.SP_REQ0) + b"\x00\x00"
                 + struct.pack(">Q", 4 + len(body))
                 + struct.pack(">I", 0x80000001) + body)
        sent, peak, open_socks = 0, 0, []
        end = harness.deadline(120)
        while sent < 10000 and time.monotonic() < end:
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", srv.worker_port))
                s.sendall(hello)
            except OSError:
                pass                # refused at the door: that is the point
            sent += 1
            # The attack holds its connections: keep the last 1000 open.
            open_socks.append(s)
            if len(open_socks) > 1000:
                open_socks.pop(0).close()
            if sent % 1000 == 0:
                peak = max(peak, len(os.listdir("/proc/%d/fd"
                                                % srv.proc.pid)))

                async def served():
                    async with await Client.connect(srv) as c:
                        assert await c.result("add", [1, 1]) == 2
                run(served())
        for s in open_socks:
            s.close()
        assert sent >= 10000, sent
        assert peak < limit // 4, (peak, limit)
        assert srv.health() == 200
