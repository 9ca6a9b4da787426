# test_crash_radius.py: a crash costs one call (issue "crash radius"): the
# call that killed its worker fails, its neighbours are spared where they
# can be (idempotent routes run again, calls not started go elsewhere), a
# non-idempotent neighbour fails with one "crashed" record; the cleanup
# runner survives a SIGKILL in the middle of a cleanup; a SIGKILL of the
# master loses no acknowledged cleanup (the durable journal hands them over
# after the restart, reason "lost") and leaves no worker behind; and the
# default memory limit turns crash("oom") into a quick 502.

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import (SAN_ENV, Client, Server, metric, run, same_json, tag,
                     wait_for)

HOST = socket.gethostname()
CRASHED = "Bad Gateway: worker crashed"
SEGV = {"kind": "crashed", "signal": "SIGSEGV"}


def ready_pids(srv):
    """Live workers the master has logged as ready (the runner apart)."""
    ready = {int(p) for p in re.findall(r"\bworker (\d+) ready",
                                        srv.stderr_text())}
    return [p for p in harness.worker_pids(srv.proc.pid) if p in ready]


def runner_ready(srv):
    """The pid of the cleanup runner the master logged ready last, if alive."""
    found = re.findall(r"cleanup runner (\d+) ready", srv.stderr_text())
    pids = harness.runner_pids(srv.proc.pid)
    return int(found[-1]) if found and int(found[-1]) in pids else None


@contextlib.contextmanager
def server(workers=2, args=(), env=None):
    """A master whose pool and cleanup runner are all ready."""
    e = dict(SAN_ENV)
    e.update(env or {})
    with Server(workers=workers, extra_args=list(args), env=e) as srv:
        wait_for(lambda: len(ready_pids(srv)) == workers and runner_ready(srv),
                 30, "all %d workers and the runner to be ready" % workers)
        yield srv


def crash_data(err):
    """The crash reason in a 502, checked: SIGSEGV and a worker."""
    assert err["code"] == 502 and err["message"] == CRASHED, err
    data = err["data"]
    assert same_json(data, dict(SEGV, worker={"pid": data["worker"]["pid"],
                                              "host": HOST})), data
    return data


class EchoStream:
    """A second connection sending echoes without pause (LANES in flight)
    until stopped; every answer must be its own value. One reader task
    routes the answers by id."""

    LANES = 4

    def __init__(self, c):
        self.c = c
        self.stop = False
        self.sent = 0
        self.bad = []
        self.waiting = {}

    async def read(self):
        async for data in self.c.ws:
            msg = json.loads(data)
            fut = self.waiting.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def lane(self, n):
        i = 0
        while not self.stop:
            i += 1
            value = {"lane": n, "i": i, "s": "x" * (i % 7)}
            cid = "e%d-%d" % (n, i)
            fut = asyncio.get_running_loop().create_future()
            self.waiting[cid] = fut
            self.sent += 1
            await self.c.send({"method": "echo", "params": [value],
                               "id": cid})
            try:
                msg = await asyncio.wait_for(fut, harness.scaled(30))
            except asyncio.TimeoutError:
                msg = {"id": cid, "timeout": True}
            if "error" in msg or not same_json(msg.get("result"), value):
                self.bad.append(msg)

    async def __aenter__(self):
        self.reader = asyncio.ensure_future(self.read())
        self.tasks = [asyncio.ensure_future(self.lane(n))
                      for n in range(self.LANES)]
        return self

    async def __aexit__(self, *exc):
        self.stop = True
        await asyncio.gather(*self.tasks)
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        return False


def test_sequential_segv_storm_spares_echoes():
    # 20 crash("segv") in a row on one connection while another streams
    # idempotent echoes: no echo sees a crash, every crash's cleanup is
    # recorded exactly once.
    with server(workers=2) as srv:
        async def body():
            async with await Client.connect(srv) as c, \
                    await Client.connect(srv) as e:
                tags = [tag() for _ in range(20)]
                datas = []
                async with EchoStream(e) as stream:
                    for t in tags:
                        msg = await c.request("crash", ["segv", t],
                                              timeout=30)
                        datas.append(crash_data(msg["error"]))
                assert stream.bad == [], stream.bad[:5]
                assert stream.sent > 20, stream.sent
                for t, d in zip(tags, datas):
                    got = await harness.settled_records(srv, c, t, 1, 10)
                    assert same_json(got, [{"tag": t, "index": 0,
                                            "reason": d}]), (t, got)
        run(body())
        assert metric(srv, "wspool_cleanup_runs_total") >= 20
        print("echoes sent again: %d run again, %d not started" % (
            metric(srv, "wspool_calls_rerun_total"),
            metric(srv, "wspool_calls_redispatched_total")))


def deaths(srv):
    """Worker deaths so far, all reasons (wspool_worker_deaths_total)."""
    body = harness.http_request(srv.port, "GET", "/metrics")[2].decode()
    return sum(float(v) for v in re.findall(
        r"^wspool_worker_deaths_total\{[^}]*\} (\S+)$", body, re.M))


def test_concurrent_crashes_spare_echoes():
    # Five crashes at once (on every worker's threads) beside a stream of
    # echoes: the echoes are answered with their results, each crash gets
    # 502, and no cleanup is recorded twice. Each death's culprit had
    # registered its cleanup before crashing, so it is recorded (with the
    # culprit's 502 data as reason); a crash call killed as a neighbour
    # may have died before its own registration, and then has none.
    with server(workers=2) as srv:
        async def body():
            async with await Client.connect(srv) as c, \
                    await Client.connect(srv) as e:
                tags = [tag() for _ in range(5)]
                crashers = [await Client.connect(srv) for _ in tags]
                async with EchoStream(e) as stream:
                    msgs = await asyncio.gather(*(
                        k.request("crash", ["segv", t], timeout=30)
                        for k, t in zip(crashers, tags)))
                for k in crashers:
                    await k.close()
                assert stream.bad == [], stream.bad[:5]
                died = deaths(srv)
                assert 1 <= died <= len(tags), died
                recorded = 0
                end = harness.deadline(15)
                while True:
                    got = {t: await harness.records(c, t) for t in tags}
                    recorded = sum(1 for r in got.values() if r)
                    if recorded >= died or time.monotonic() >= end:
                        break
                    await asyncio.sleep(0.02)
                assert recorded >= died, (died, got)
                # Read again once no cleanup is pending: one run twice
                # would show by then.
                await harness.settled_records(srv, c, tags[0], 0, 20)
                got = {t: await harness.records(c, t) for t in tags}
                for t, msg in zip(tags, msgs):
                    d = crash_data(msg["error"])
                    assert got[t] == [] or same_json(got[t], [{
                        "tag": t, "index": 0, "reason": d}]), (t, got[t])
        run(body())


def test_non_idempotent_neighbour_fails_with_one_record():
    # One worker: a sleep runs there when a crash kills it. The sleep is
    # not idempotent and had started: 502 crashed, one record "crashed".
    with server(workers=1) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                ts, tc = tag(), tag()
                sid = harness.next_id()
                await c.send({"method": "sleep", "params": [20000, ts],
                              "id": sid})
                # Its cleanup is registered (journaled) only once it runs.
                wait_for(lambda: metric(srv, "wspool_cleanups_pending") >= 1,
                         10, "the sleep to register its cleanup")
                msg = await c.request("crash", ["segv", tc], timeout=30)
                data = crash_data(msg["error"])
                got = [m for m in c.stray if m.get("id") == sid] or \
                    await c.recv_until(lambda m: m.get("id") == sid, 30)
                assert got[-1] == {"id": sid, "error": {
                    "code": 502, "message": CRASHED, "data": data}}, got[-1]
                for t in (ts, tc):
                    recs = await harness.settled_records(srv, c, t, 1, 15)
                    assert same_json(recs, [{"tag": t, "index": 0,
                                             "reason": data}]), (t, recs)
        run(body())


def test_runner_sigkill_mid_cleanup_still_runs_it():
    # A crash hands its slow cleanup (2 s) to the runner; the runner is
    # SIGKILLed while it runs it; the next runner runs it, and its record
    # is written once, with the crash as reason.
    with server(workers=2) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                first = runner_ready(srv)
                msg = await c.request("crash", ["segv", t, 2000], timeout=30)
                data = crash_data(msg["error"])
                waiting = re.compile(r"worker=%d .*record .*: waiting 2000 ms"
                                     % first)
                wait_for(lambda: waiting.search(srv.stderr_text()), 10,
                         "the runner to start the cleanup")
                os.kill(first, signal.SIGKILL)
                wait_for(lambda: runner_ready(srv) not in (None, first), 15,
                         "a new runner")
                recs = await harness.settled_records(srv, c, t, 1, 20)
                assert same_json(recs, [{"tag": t, "index": 0,
                                         "reason": data}]), recs
                # Not blamed: an outside SIGKILL; counted as the runner's.
                assert metric(srv, "wspool_runner_deaths_total") == 1
                assert metric(srv, "wspool_cleanups_dropped_total") == 0
        run(body())


def test_master_sigkill_then_restart_runs_every_cleanup_as_lost():
    tmp = tempfile.mkdtemp(prefix="wspool-restart-")
    journal = os.path.join(tmp, "journal")
    demo_log = os.path.join(tmp, "demo.log")
    env = dict(SAN_ENV, WSPOOL_DEMO_LOG=demo_log)
    args = ["--journal", journal, "--node-name", "restart-test"]
    first = Server(workers=4, extra_args=args, env=env)
    first.start()
    second = None
    try:
        wait_for(lambda: len(ready_pids(first)) == 4 and runner_ready(first),
                 30, "the first master's pool")
        old_pid = first.proc.pid
        tags = [tag() for _ in range(208)]

        async def load():
            conns = [await Client.connect(first) for _ in range(4)]
            for i, t in enumerate(tags):
                if i < 200:
                    msg = {"method": "sleep", "params": [120000, t],
                           "id": "s%d" % i}
                else:
                    msg = {"method": "count", "params": [100000, 1000, t],
                           "id": "c%d" % i}
                await conns[i % 4].send(msg)
            return conns

        async def body():
            conns = await load()
            # Every one of them journaled (its DEFER acknowledged).
            end = harness.deadline(60)
            while metric(first, "wspool_cleanups_pending") < 208:
                assert time.monotonic() < end, "only %d registered" % \
                    metric(first, "wspool_cleanups_pending")
                await asyncio.sleep(0.05)
            pids = harness.worker_pids(old_pid) + \
                harness.runner_pids(old_pid)
            assert len(pids) == 5, pids
            os.kill(old_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            first.proc.wait(timeout=30)
            # No worker outlives its master (PR_SET_PDEATHSIG).
            wait_for(lambda: not any(harness.alive(p) for p in pids), 5,
                     "the killed master's workers to die with it")
            assert time.monotonic() - killed_at < harness.scaled(5)
            for c in conns:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.ws.close(), 2)
        run(body())

        second = Server(workers=2, extra_args=args, env=env)
        second.start()
        started = time.monotonic()
        lost = {"kind": "lost", "worker": {"pid": old_pid, "host": HOST}}

        async def check():
            async with await Client.connect(second) as c:
                await harness.wait_records_each(
                    c, tags, lost,
                    harness.deadline(10) - (time.monotonic() - started),
                    "within 10 s of the restart")
                # Exactly once each, read again.
                for t in tags[:20] + tags[-8:]:
                    assert len(await harness.records(c, t)) == 1, t
        run(check())
        assert re.search(r"208 cleanups of a master that died",
                         second.stderr_text()), second.stderr_text()[-2000:]
    finally:
        if second is not None:
            second.stop(check=True)
        first.stop(check=False)
        for s in (first, second):
            if s is not None and s._tmpdir:
                shutil.rmtree(s._tmpdir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def test_oom_with_default_options_is_a_502():
    # A handler eating memory under the default limit (1 GiB) is answered
    # 502 crashed, not 504 after its deadline (or a host that swaps). How
    # long it takes is measured by make bench, not asserted here: nearly
    # all of it is the handler touching 1 GiB, which depends on the host.
    with server(workers=2) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                t0 = time.monotonic()
                msg = await c.request("crash", ["oom", t], timeout=60)
                print("crash(oom) answered in %.2f s"
                      % (time.monotonic() - t0))
                err = msg["error"]
                assert err["code"] == 502 and err["message"] == CRASHED, msg
                assert err["data"]["kind"] == "crashed", msg
                recs = await harness.settled_records(srv, c, t, 1, 10)
                assert same_json(recs, [{"tag": t, "index": 0,
                                         "reason": err["data"]}]), recs
                assert await c.result("echo", ["after oom"]) == "after oom"
        run(body())


def test_second_master_on_a_journal_refuses_to_start():
    # One master per journal: only it may run the records of a dead one.
    with server(workers=1) as srv:
        assert metric(srv, "wspool_runner_ready") == 1
        proc = subprocess.run(
            harness.wrap_command([harness.MASTER, "--listen",
                                  "127.0.0.1:%d" % harness.free_port(),
                                  "--workers", "1", "--journal",
                                  srv.journal]),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=harness.scaled(30), env=dict(os.environ, **SAN_ENV))
        assert proc.returncode != 0, proc
        assert "in use by another master" in proc.stderr, proc.stderr
