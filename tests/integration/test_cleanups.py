# test_cleanups.py: deferred cleanups seen from outside (docs/cleanups.md):
# every way a call can end (normal, error, cancel, disconnect, deadline,
# each kind of worker crash) gives its cleanups exactly the reason the call
# ended with, read back through the demo's `cleanups` route; a crash leaves
# the master and other connections serving; settle shows that one failing
# or crashing cleanup does not stop the others.

import asyncio
import contextlib
import os
import re
import signal
import socket
import time

import pytest

import harness
from harness import SAN_ENV, Client, Server, run, same_json, tag, wait_for





HOST = socket.gethostname()
CRASHED = "Bad Gateway: worker crashed"


def ready_pids(srv):
    """Live workers the master has logged as ready."""
    ready = {int(p) for p in re.findall(r"worker (\d+) ready",
                                        srv.stderr_text())}
    return [p for p in harness.worker_pids(srv.proc.pid) if p in ready]


@contextlib.contextmanager
def server(workers=2, args=()):
    """A master whose whole pool is ready (/healthz needs only one), so a
    test that crashes one worker always leaves one ready."""
    with Server(workers=workers, extra_args=list(args), env=SAN_ENV) as srv:
        wait_for(lambda: len(ready_pids(srv)) == workers, 30,
                 "all %d workers to be ready" % workers)
        yield srv


# ---- helpers ------------------------------------------------------------------

async def records(c, t, busy_ok=False):
    """cleanups(t); with busy_ok, None for a 503 (no worker ready yet)."""
    msg = await c.request("cleanups", [t])
    if busy_ok and msg.get("error", {}).get("code") == 503:
        return None
    assert "error" not in msg, "cleanups %r failed: %r" % (t, msg)
    return msg["result"]


async def wait_records(c, t, pred, seconds, what, busy_ok=False):
    """Poll cleanups(t) until pred(records); bounded. Returns the records.

    busy_ok: a 503 counts as "not yet" (for a pool whose only worker was
    just killed on purpose).
    """
    end = harness.deadline(seconds)
    while True:
        got = await records(c, t, busy_ok)
        if got is not None and pred(got):
            return got
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s; "
                                 "cleanups(%s) = %r"
                                 % (harness.scaled(seconds), what, t, got))
        await asyncio.sleep(0.02)


def rec(t, reason, index=0):
    return {"tag": t, "index": index, "reason": reason}


def assert_records(got, want):
    assert same_json(got, want), "cleanup records:\n got %r\nwant %r" % (
        got, want)


def assert_crash_data(data, pids_before, how):
    """The 502 data of a crash: kind, signal or status, and the worker."""
    assert isinstance(data, dict), data
    assert data.get("kind") == "crashed", data
    worker = data.get("worker")
    assert isinstance(worker, dict) and set(worker) == {"pid", "host"}, data
    assert type(worker["pid"]) is int and worker["pid"] in pids_before, (
        data, pids_before)
    assert worker["host"] == HOST, (data, HOST)
    if how in ("segv", "stack"):
        assert same_json(data, {"kind": "crashed", "signal": "SIGSEGV",
                                "worker": worker}), data
    elif how == "abort":
        assert same_json(data, {"kind": "crashed", "signal": "SIGABRT",
                                "worker": worker}), data
    elif how == "exit":
        assert same_json(data, {"kind": "crashed", "status": 3,
                                "worker": worker}), data
    elif how == "oom":
        # abort() when malloc fails under the limit, or the kernel's OOM
        # killer; any crash will do, but exactly one of signal or status.
        keys = set(data) - {"kind", "worker"}
        assert keys in ({"signal"}, {"status"}), data
        if "signal" in data:
            assert re.fullmatch(r"SIG[A-Z0-9]+", data["signal"]), data
        else:
            assert type(data["status"]) is int and data["status"] != 0, data
    else:
        raise AssertionError("no crash expectation for %r" % how)


def wait_gone(pid):
    wait_for(lambda: not harness.alive(pid), 10,
             "the crashed worker %d to be gone" % pid)


# ---- crashes (and the deadline) -------------------------------------------------

CRASHES = ["segv", "abort", "exit", "oom", "stack", "hang"]


@pytest.mark.parametrize("how", CRASHES)
def test_crash_reason_reaches_the_cleanup_once(how):
    # oom: under the default --worker-memory (RLIMIT_DATA beyond what the
    # worker maps at start, which works under ASan too).
    args = []
    if how == "hang":
        args = ["--call-timeout", "2"]
    with server(workers=2, args=args) as srv:
        async def body():
            # Opened (and used) before the crash: must keep serving.
            other = await Client.connect(srv)
            await other.probe()
            pids_before = set(harness.worker_pids(srv.proc.pid))
            t = tag()
            async with await Client.connect(srv) as c:
                cid = harness.next_id()
                msg = await c.request("crash", [how, t], id=cid, timeout=60)
                got_error_at = time.monotonic()
                assert set(msg) == {"id", "error"}, msg
                assert msg["id"] == cid, msg
                err = msg["error"]
                if how == "hang":
                    assert set(err) == {"code", "message", "data"}, msg
                    assert err["code"] == 504, msg
                    assert isinstance(err["message"], str) and err["message"]
                    assert same_json(err["data"], {"kind": "timeout"}), msg
                    reason = {"kind": "timeout"}
                else:
                    assert same_json(err, {"code": 502, "message": CRASHED,
                                           "data": err.get("data")}), msg
                    assert_crash_data(err["data"], pids_before, how)
                    reason = err["data"]
                    wait_gone(reason["worker"]["pid"])

                # The record, within 1 s of the worker's death: of the
                # error, or for hang of the kill that follows the 504 by
                # --deadline-grace (1 s: the handler ignores its cancel)...
                window = 1.0 + (1.0 if how == "hang" else 0.0)
                await wait_records(
                    c, t, lambda r: len(r) >= 1,
                    max(0.0, window - (time.monotonic() - got_error_at)
                        / harness.SCALE),
                    "the cleanup record of crash %s within 1 s of its "
                    "worker's death" % how)
                # ...and still exactly one a moment later.
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, reason)])

            # The other connection and the master are still serving.
            assert await other.probe() == []
            assert await other.result("echo", ["after " + how]) == \
                "after " + how
            await other.close()
            assert srv.proc.poll() is None
            assert srv.health() == 200
        run(body())


# ---- each reason kind -----------------------------------------------------------

def test_normal_end_reason_null():
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                msg = await c.request("sleep", [10, t])
                assert same_json(msg, {"id": msg["id"], "result": 10}), msg
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, None)])
        run(body())


@pytest.mark.parametrize("code,message,want_code", [
    (418, "I'm a teapot", 418),
    (503, "busy", 503),
    (42, "odd code", 500),   # outside 400-599: becomes 500
])
def test_error_reason_carries_code_and_message(code, message, want_code):
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                data = {"why": [1, "two"]}
                msg = await c.request("fail", [code, message, data, t])
                assert same_json(msg, {"id": msg["id"], "error": {
                    "code": want_code, "message": message, "data": data}}), msg
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, {"kind": "error",
                                             "code": want_code,
                                             "message": message})])
        run(body())


def test_cancelled_request_reason_cancelled():
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                cid = harness.next_id()
                await c.send({"method": "sleep", "params": [30000, t],
                              "id": cid})
                # A round trip behind it on the same connection, so the
                # sleep is dispatched before the cancel.
                stray = await c.probe()
                assert stray == [], stray
                await c.send({"method": ".cancel", "params": [cid]})
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, {"kind": "cancelled"})])
                # Nothing is ever answered for the cancelled id.
                assert [m for m in c.stray if m.get("id") == cid] == []
                assert [m for m in await c.quiet(0.2)
                        if m.get("id") == cid] == []
        run(body())


def test_disconnected_request_reason_disconnected():
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as watcher:
                t = tag()
                gone = await Client.connect(srv)
                await gone.send({"method": "sleep", "params": [30000, t],
                                 "id": 1})
                assert await gone.probe() == []
                await gone.close()
                got = await harness.settled_records(srv, watcher, t, 1)
                assert_records(got, [rec(t, {"kind": "disconnected"})])
        run(body())


def test_timeout_of_a_sleeping_request_reason_timeout():
    # A request that would sleep past --call-timeout: 504, and the cleanup
    # gets "timeout" (its worker is stopped and replaced).
    with server(args=["--call-timeout", "1"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                msg = await c.request("sleep", [20000, t], timeout=30)
                assert set(msg) == {"id", "error"}, msg
                assert msg["error"]["code"] == 504, msg
                assert same_json(msg["error"].get("data"),
                                 {"kind": "timeout"}), msg
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, {"kind": "timeout"})])
                assert await c.result("echo", [7]) == 7
        run(body())


def test_notification_cleanup_reason_null():
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                await c.send({"method": "note", "params": [t, {"v": 1}]})
                got_notes = await harness.poll_result(
                    c, "notes", [t], lambda r: len(r) >= 1, 5,
                    "the note to be recorded")
                assert same_json(got_notes, [{"v": 1}]), got_notes
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, None)])
                # A notification is never answered.
                assert c.stray == [], c.stray
        run(body())


# ---- count (a subscription) ---------------------------------------------------

def _chunk_ok(m, cid, i):
    return (set(m) == {"id", "result"} and m["id"] == cid
            and set(m["result"]) == {"count", "timestamp"}
            and same_json(m["result"]["count"], i)
            and type(m["result"]["timestamp"]) is int)


def test_count_cleanup_after_close_reason_null():
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                cid = harness.next_id()
                msgs = await c.subscribe("count", [3, 10, t], id=cid)
                assert len(msgs) == 4, msgs
                for i in range(3):
                    assert _chunk_ok(msgs[i], cid, i), msgs
                assert same_json(msgs[3], {"id": cid, "close": True}), msgs
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, None)])
        run(body())


def test_count_cleanup_registered_before_first_chunk():
    # Kill the only worker as soon as the first chunk is in: the cleanup
    # must already be journaled, so it runs (on the replacement) with the
    # crash as its reason.
    with server(workers=1) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                cid = harness.next_id()
                await c.send({"method": "count", "params": [1000, 50, t],
                              "id": cid})
                first = await c.recv()
                assert _chunk_ok(first, cid, 0), first
                pids = harness.worker_pids(srv.proc.pid)
                assert len(pids) == 1, pids
                os.kill(pids[0], signal.SIGKILL)
                msgs = await c.recv_until(
                    lambda m: m.get("id") == cid and "result" not in m, 30)
                end = msgs[-1]
                for i, m in enumerate(msgs[:-1]):
                    assert _chunk_ok(m, cid, i + 1), msgs
                data = {"kind": "crashed", "signal": "SIGKILL",
                        "worker": {"pid": pids[0], "host": HOST}}
                assert same_json(end, {"id": cid, "error": {
                    "code": 502, "message": CRASHED, "data": data}}), end
                # The only worker is being replaced: 503 until it is.
                got = await harness.settled_records(srv, c, t, 1, 15,
                                                    busy_ok=True)
                assert_records(got, [rec(t, data)])
                assert await c.result("echo", ["back"]) == "back"
        run(body())


def test_cancelled_count_reason_cancelled():
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                cid = harness.next_id()
                await c.send({"method": "count", "params": [1000, 20, t],
                              "id": cid})
                first = await c.recv()
                assert _chunk_ok(first, cid, 0), first
                await c.send({"method": ".cancel", "params": [cid]})
                got = await harness.settled_records(srv, c, t, 1)
                assert_records(got, [rec(t, {"kind": "cancelled"})])
                # No close and no error for a cancelled subscription.
                late = [m for m in c.stray + await c.quiet(0.2)
                        if m.get("id") == cid]
                assert all("result" in m for m in late), late
        run(body())


# ---- settle: one failing cleanup does not stop the others ------------------------

def test_settle_with_error_runs_the_others():
    with server() as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                n, failing = 5, 2
                msg = await c.request("settle", [t, n, failing, "error"])
                assert same_json(msg, {"id": msg["id"], "result": "ok"}), msg
                got = await harness.settled_records(srv, c, t, n - 1)
                # One process ran them all: in registration order.
                assert_records(got, [rec(t, None, i) for i in range(n)
                                     if i != failing])
        run(body())
        # The failure is logged (docs: "logged by the master"), once.
        failed = re.compile(r"cleanup record of call \d+ \(route settle\) "
                            r"failed")
        wait_for(lambda: failed.search(srv.stderr_text()), 5,
                 "the master to log the failed cleanup")
        err = srv.stderr_text()
        lines = [l for l in err.splitlines() if failed.search(l)]
        assert len(lines) == 1, err[-4000:]


def test_settle_with_segv_runs_the_others_and_drops_the_crasher():
    # The crasher takes down up to 3 workers, one at a time: with 4, one is
    # always ready, so no call here may be refused with 503.
    with server(workers=4) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                n, failing = 4, 1
                msg = await c.request("settle", [t, n, failing, "segv"])
                # The call ended normally: its answer went out first.
                assert same_json(msg, {"id": msg["id"], "result": "ok"}), msg
                # The crasher is retried up to 3 runs, then dropped with an
                # error log line naming the route, the cleanup and the call.
                drop = re.compile(r"\berror\b.*\bcleanup record of call \d+ "
                                  r"\(route settle\).*\bdropped\b")
                wait_for(lambda: drop.search(srv.stderr_text()), 20,
                         "the master to log that it dropped the crashing "
                         "cleanup")
                got = await harness.settled_records(srv, c, t, n - 1)
                want = [rec(t, None, i) for i in range(n) if i != failing]
                key = lambda r: r["index"] if isinstance(r, dict) else -1
                assert_records(sorted(got, key=key), want)
                # Still serving on the workers that replaced the crashed ones.
                assert await c.result("echo", ["still"]) == "still"
                return drop
        drop = run(body())
        err = srv.stderr_text()
        lines = [l for l in err.splitlines() if drop.search(l)]
        assert len(lines) == 1, err[-4000:]
        assert "3 times" in lines[0], lines[0]
