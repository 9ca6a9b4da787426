# test_redis_journal.py: the journal kept in Redis (--journal redis://,
# issue 10 item 6), against a redis-server of the test's own (a free
# loopback port, a temporary directory, AOF with appendfsync always):
# a SIGKILLed master's cleanups run, reason lost, under a master started
# with its node name; --adopt runs a dead peer's cleanups from another
# process, once even with two adopters at once, leaving a live master of
# another node alone; a master that was only stopped (a partition) loses
# its node to the one that replaced it and stops; and with Redis stopped,
# then killed and restarted from its AOF, registrations are refused rather
# than acknowledged, none acknowledged is lost, and the master recovers.

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
import subprocess
import tempfile
import time
import uuid

import pytest

import harness
from harness import (SAN_ENV, Client, Server, metric, run, same_json, tag,
                     wait_for)

HOST = socket.gethostname()
REFUSED = {"code": 500, "message": "Cannot register the cleanup"}


# ---- a redis-server of the test's own ----------------------------------------

def resp(port, *args, timeout=5):
    """One command over RESP; the reply (bytes, int, list, None), or a
    RuntimeError for an error reply."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(out)
        f = s.makefile("rb")
        return _read_reply(f)


def _read_reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise AssertionError("not RESP: %r" % line)


class Redis:
    """redis-server on a free loopback port, its files in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wspool-redis-")
        self.port = None
        self.proc = None

    def start(self, port=None):
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(exe):
            if os.environ.get("CI"):
                pytest.fail("redis-server is missing: tools/deps.sh installs it")
            pytest.skip("redis-server is not installed (tools/deps.sh "
                        "installs it)")
        for _ in range(5):
            self.port = port or harness.free_port()
            self.log = os.path.join(self.dir, "redis.log")
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", self.dir, "--appendonly", "yes",
                 "--appendfsync", "always", "--save", "",
                 "--daemonize", "no", "--logfile", self.log],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            try:
                wait_for(self._up, 20, "redis-server to answer")
                return self
            except AssertionError:
                if self.proc.poll() is None or port is not None:
                    raise
        raise AssertionError("redis-server did not start: %s" % self.tail())

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited: %s" % self.tail())
        try:
            return resp(self.port, "PING", timeout=1) == b"PONG"
        except (OSError, EOFError):
            return False

    def tail(self):
        with contextlib.suppress(OSError), open(self.log) as f:
            return f.read()[-2000:]
        return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def url(self, query="lease=15000&timeout=5000"):
        return "redis://127.0.0.1:%d/0?%s" % (self.port, query)

    def cmd(self, *args):
        return resp(self.port, *args)

    def records(self, node):
        return self.cmd("HLEN", "wspool:{%s}:records" % node)

    def close(self):
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def redis():
    r = Redis().start()
    try:
        yield r
    finally:
        r.close()


# ---- masters --------------------------------------------------------------------

def node_name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def master(r, node, demo_log, workers=2, query="lease=15000&timeout=5000"):
    env = dict(SAN_ENV, WSPOOL_DEMO_LOG=demo_log)
    return Server(workers=workers, env=env, extra_args=[
        "--journal", r.url(query), "--node-name", node])


def sigkill(srv):
    """SIGKILL a master; its workers die with it."""
    pids = harness.descendants(srv.proc.pid)
    old = srv.proc.pid
    os.kill(old, signal.SIGKILL)
    srv.proc.wait(timeout=30)
    wait_for(lambda: not any(harness.alive(p) for p in pids), 10,
             "the killed master's workers to die with it")
    return old


async def expect_lost(c, tags, old_pid, seconds=10):
    """Every tag gets one record with reason lost naming the dead master."""
    lost = {"kind": "lost", "worker": {"pid": old_pid, "host": HOST}}
    await harness.wait_records_each(
        c, tags, lost, harness.deadline(seconds),
        "within %.0f s" % harness.scaled(seconds))


async def start_sleeps(srv, tags, counts=0):
    """One sleep (with a cleanup) per tag, the last `counts` of them count
    subscriptions instead, over 4 connections; returns the connections."""
    conns = [await Client.connect(srv) for _ in range(4)]
    for i, t in enumerate(tags):
        if i < len(tags) - counts:
            msg = {"method": "sleep", "params": [120000, t], "id": "s%d" % i}
        else:
            msg = {"method": "count", "params": [100000, 1000, t],
                   "id": "c%d" % i}
        await conns[i % 4].send(msg)
    return conns


async def wait_pending(srv, n, seconds=60):
    end = harness.deadline(seconds)
    while metric(srv, "wspool_cleanups_pending") < n:
        assert time.monotonic() < end, "only %d of %d registered" % (
            metric(srv, "wspool_cleanups_pending"), n)
        await asyncio.sleep(0.05)


def wait_stored(r, node, n):
    """n records in Redis: every registration counted is acknowledged."""
    wait_for(lambda: r.records(node) == n, 30,
             "%d records of %s in Redis" % (n, node))


async def drop(conns):
    for c in conns:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(c.ws.close(), 2)


def stop_all(*servers):
    failing = sys.exc_info()[0] is not None
    for s in servers:
        if s is not None:
            err = s.stop(check=False)
            if failing:
                print("---- wspool-master %s stderr (tail) ----\n%s" % (
                    s.extra_args[-1], err[-6000:]))
            if s._tmpdir:
                shutil.rmtree(s._tmpdir, ignore_errors=True)


# ---- the tests -----------------------------------------------------------------

def test_master_sigkill_then_its_node_name_runs_every_cleanup_as_lost():
    tmp = tempfile.mkdtemp(prefix="wspool-rj-")
    log = os.path.join(tmp, "demo.log")
    node = node_name("rk")
    first = second = None
    with redis() as r:
        try:
            first = master(r, node, log, workers=4).start()
            tags = [tag() for _ in range(208)]

            async def body():
                conns = await start_sleeps(first, tags, counts=8)
                await wait_pending(first, 208)
                wait_stored(r, node, 208)
                old = sigkill(first)
                await drop(conns)
                return old
            old = run(body())

            second = master(r, node, log).start()

            async def check():
                async with await Client.connect(second) as c:
                    await expect_lost(c, tags, old)
                    for t in tags[:10] + tags[-8:]:
                        assert len(await harness.records(c, t)) == 1, t
            run(check())
            assert "208 cleanups of a master that died" in \
                second.stderr_text()
            wait_for(lambda: r.records(node) == 0, 10,
                     "the records to leave Redis")
            second.stop(check=True)
            # A clean stop gives the lock back.
            assert r.cmd("EXISTS", "wspool:{%s}:lock" % node) == 0
        finally:
            stop_all(first, second)
            shutil.rmtree(tmp, ignore_errors=True)


def adopter(r, node, log):
    env = dict(os.environ, WSPOOL_DEMO_LOG=log, **SAN_ENV)
    return subprocess.Popen(
        harness.wrap_command([harness.MASTER, "--journal", r.url(),
                              "--adopt", node, harness.DEMO_SO]),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env=env, text=True)


def test_adopt_a_dead_peer_two_adopters_run_each_cleanup_once():
    tmp = tempfile.mkdtemp(prefix="wspool-rj-")
    log = os.path.join(tmp, "demo.log")
    dead, live = node_name("rd"), node_name("rl")
    a = b = None
    with redis() as r:
        try:
            a = master(r, dead, log).start()
            b = master(r, live, log).start()
            tags, btags = [tag() for _ in range(20)], [tag() for _ in range(5)]

            async def body():
                conns = await start_sleeps(a, tags)
                bconns = await start_sleeps(b, btags)
                await wait_pending(a, 20)
                await wait_pending(b, 5)
                wait_stored(r, dead, 20)
                wait_stored(r, live, 5)
                old = sigkill(a)
                await drop(conns)
                # Two operators adopt the dead node at once: its lock
                # lets one run its cleanups; the other finds none left.
                adopters = [adopter(r, dead, log), adopter(r, dead, log)]
                outs = []
                for p in adopters:
                    out, _ = await asyncio.get_running_loop().run_in_executor(
                        None, lambda: p.communicate(
                            timeout=harness.scaled(60)))
                    outs.append(out)
                    assert p.returncode == 0, out[-3000:]
                    assert not harness.sanitizer_problems(out), out[-3000:]
                counts = [int(m) for out in outs for m in re.findall(
                    r"adopting node \S+: (\d+) cleanups to run", out)]
                assert sorted(counts) == [0, 20], (counts, outs[0][-2000:])
                async with await Client.connect(b) as c:
                    await expect_lost(c, tags, old)
                    # The live master of another node: untouched.
                    for t in btags:
                        assert await harness.records(c, t) == [], t
                assert r.records(dead) == 0
                assert r.cmd("EXISTS", "wspool:{%s}:lock" % dead) == 0
                assert r.records(live) == 5
                assert metric(b, "wspool_cleanups_pending") == 5
                await drop(bconns)
            run(body(), timeout=240)
        finally:
            stop_all(a, b)
            shutil.rmtree(tmp, ignore_errors=True)


def test_a_stopped_master_loses_its_node_and_stops():
    # A partition, as the master sees it: it stops running (SIGSTOP) for
    # longer than its lease. Another master with its node name waits for
    # the lease to end, takes the node and runs its cleanups; the first,
    # once it runs again, finds its node taken (fenced) and stops.
    tmp = tempfile.mkdtemp(prefix="wspool-rj-")
    log = os.path.join(tmp, "demo.log")
    node = node_name("rf")
    query = "lease=4000&timeout=2000"
    first = None
    second = [None]
    with redis() as r:
        try:
            first = master(r, node, log, query=query).start()
            tags = [tag() for _ in range(10)]

            async def body():
                conns = await start_sleeps(first, tags)
                await wait_pending(first, 10)
                wait_stored(r, node, 10)
                old = first.proc.pid
                os.kill(old, signal.SIGSTOP)
                try:
                    second[0] = await asyncio.get_running_loop(
                        ).run_in_executor(None, master(
                            r, node, log, query=query).start)
                    assert "waiting for it" in second[0].stderr_text()
                    async with await Client.connect(second[0]) as c:
                        await expect_lost(c, tags, old)
                finally:
                    # Woken once the other ran the cleanups (else its own
                    # runner, which knows nothing yet, could win the race
                    # to write a record with another reason).
                    os.kill(old, signal.SIGCONT)
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: first.proc.wait(timeout=harness.scaled(30)))
                await drop(conns)
            run(body(), timeout=240)
            assert first.proc.returncode == 1, first.proc.returncode
            err = first.stderr_text()
            assert "another master took over node %s" % node in err, \
                err[-3000:]
            assert not harness.sanitizer_problems(err)
            assert second[0].health() == 200
        finally:
            stop_all(first, second[0])
            shutil.rmtree(tmp, ignore_errors=True)


def test_redis_stopped_then_killed_refuses_and_loses_nothing():
    tmp = tempfile.mkdtemp(prefix="wspool-rj-")
    log = os.path.join(tmp, "demo.log")
    node = node_name("ro")
    query = "lease=6000&timeout=2000"
    m = m2 = None
    with redis() as r:
        try:
            m = master(r, node, log, query=query).start()
            before = [tag() for _ in range(10)]
            refused = [tag() for _ in range(6)]
            after = [tag() for _ in range(10)]

            async def body():
                conns = await start_sleeps(m, before)
                await wait_pending(m, 10)
                wait_stored(r, node, 10)
                os.kill(r.proc.pid, signal.SIGSTOP)
                try:
                    async with await Client.connect(m) as c:
                        for t in refused:
                            msg = await c.request("sleep", [120000, t],
                                                  timeout=30)
                            assert same_json(msg.get("error"), REFUSED), msg
                    assert metric(m, "wspool_journal_available") == 0
                    assert metric(m, "wspool_journal_failures_total") + \
                        metric(m, "wspool_journal_refused_total") >= 6
                finally:
                    os.kill(r.proc.pid, signal.SIGCONT)
                end = harness.deadline(30)
                while metric(m, "wspool_journal_available") != 1:
                    assert time.monotonic() < end, "never reconnected"
                    await asyncio.sleep(0.05)
                conns += await start_sleeps(m, after)
                await wait_pending(m, 20)
                wait_stored(r, node, 20)
                # Redis dies and comes back from its AOF: nothing lost.
                r.kill()
                r.start(port=r.port)
                end = harness.deadline(30)
                while metric(m, "wspool_journal_available") != 1 or \
                        metric(m, "wspool_journal_reconnects_total") < 2:
                    assert time.monotonic() < end, "never reconnected"
                    await asyncio.sleep(0.05)
                assert r.records(node) == 20
                old = sigkill(m)
                await drop(conns)
                return old
            old = run(body(), timeout=240)
            err = m.stderr_text()
            assert "Redis is unavailable" in err and "Redis is back" in err

            m2 = master(r, node, log, query=query).start()

            async def check():
                async with await Client.connect(m2) as c:
                    await expect_lost(c, before + after, old)
                    for t in refused:   # refused: never run
                        assert await harness.records(c, t) == [], t
            run(check())
        finally:
            stop_all(m, m2)
            shutil.rmtree(tmp, ignore_errors=True)
