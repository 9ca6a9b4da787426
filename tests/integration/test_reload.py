# test_reload.py: zero-downtime reload (SIGHUP, docs/operations.md) seen
# from outside: under a steady pipelined load no call fails and no
# connection drops while two reloads replace every worker; a subscription
# running on an old worker keeps streaming until the grace period, then
# ends with 503 shutdown and its cleanup gets that reason.

import asyncio
import json
import os
import re
import shutil
import signal
import tempfile
import time

import harness
from harness import (Client, Server, http_request, run, same_json, tag,
                     wait_for, worker_pids)

CONNECTIONS = 8        # client connections of the load
WINDOW = 32            # calls in flight per connection (pipelined)
LOAD_BEFORE = 1.0      # seconds of load before each reload, and at the end
RATE_BAR = 1000        # calls/s the issue asks the load to reach
SHUTDOWN = {"kind": "shutdown"}


def ready_workers(srv):
    """The metric wspool_workers_ready, read from /metrics."""
    status, _, body = http_request(srv.port, "GET", "/metrics")
    assert status == 200, status
    m = re.search(rb"^wspool_workers_ready (\d+)$", body, re.M)
    assert m, body[:2000]
    return int(m.group(1))


async def async_wait(pred, seconds, what, interval=0.02):
    """A bounded poll inside a coroutine: the event loop keeps running."""
    end = harness.deadline(seconds)
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (harness.scaled(seconds), what))
        await asyncio.sleep(interval)


class LoadConn:
    """One connection keeping WINDOW echo/add calls in flight, checking every
    answer against what it asked."""

    def __init__(self, client, n):
        self.c = client
        self.n = n
        self.pending = {}          # id -> the exact answer expected
        self.slots = asyncio.Semaphore(WINDOW)
        self.sent = 0
        self.answered = 0
        self.bad = []              # wrong answers, errors, unknown ids
        self.closed = None         # how the connection ended, if it did
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for data in self.c.ws:
                msg = json.loads(data)
                want = self.pending.pop(msg.get("id"), None)
                if want is None:
                    self.bad.append(("unexpected", msg))
                    continue
                if not same_json(msg, want):
                    self.bad.append(("wrong", msg, want))
                self.answered += 1
                self.slots.release()
        except Exception as exc:   # a dropped connection
            self.closed = exc
        else:
            self.closed = "closed: %r" % (self.c.ws.close_code,)
        for _ in range(WINDOW):    # wake a sender waiting for a slot
            self.slots.release()

    async def send_loop(self, stop):
        i = 0
        while not stop.is_set() and self.closed is None:
            await self.slots.acquire()
            if stop.is_set() or self.closed is not None:
                break
            i += 1
            cid = "%d-%d" % (self.n, i)
            if i % 2:
                value = {"n": i, "s": "x" * (i % 17)}
                msg = {"method": "echo", "params": [value], "id": cid}
                self.pending[cid] = {"id": cid, "result": value}
            else:
                msg = {"method": "add", "params": [i, self.n], "id": cid}
                self.pending[cid] = {"id": cid, "result": i + self.n}
            await self.c.send(msg)
            self.sent += 1


async def whoami_pids(c, n=8):
    pids = set()
    for _ in range(n):
        pids.add((await c.result("whoami", []))["pid"])
    return pids


async def reload_once(srv, side):
    """SIGHUP; wait (bounded) until the old workers are gone and a full new
    generation serves. Returns (old pids, new pids)."""
    old = set(worker_pids(srv.proc.pid))
    assert len(old) == srv.workers, old
    srv.proc.send_signal(signal.SIGHUP)

    def done():
        now = set(worker_pids(srv.proc.pid))
        # An exiting worker's cmdline is empty before it is a zombie:
        # worker_pids() no longer names it, alive() still does.
        gone = not any(harness.alive(p) for p in old)
        return now if (gone and not (now & old) and
                       len(now) == srv.workers) else None
    new = await async_wait(done, 30, "the old workers %s to exit after "
                           "SIGHUP" % sorted(old))
    for p in old:
        assert not harness.alive(p), p
    await async_wait(lambda: ready_workers(srv) == srv.workers, 30,
                     "the new generation ready")
    served = await whoami_pids(side)
    assert served <= new and not (served & old), (served, old, new)
    return old, new


def test_reload_under_load_fails_no_call():
    with Server(workers=2) as srv:
        wait_for(lambda: ready_workers(srv) == 2, 30, "2 workers ready")

        async def body():
            conns = [LoadConn(await Client.connect(srv), n)
                     for n in range(CONNECTIONS)]
            side = await Client.connect(srv)   # whoami probes
            stop = asyncio.Event()
            t0 = time.monotonic()
            senders = [asyncio.ensure_future(lc.send_loop(stop))
                       for lc in conns]
            gens = []
            await asyncio.sleep(LOAD_BEFORE)
            gens.append(await reload_once(srv, side))
            await asyncio.sleep(LOAD_BEFORE)
            gens.append(await reload_once(srv, side))
            await asyncio.sleep(LOAD_BEFORE)
            stop.set()
            for lc in conns:            # unblock senders waiting for a slot
                lc.slots.release()
            await asyncio.gather(*senders)
            await async_wait(lambda: all(not lc.pending for lc in conns)
                             or any(lc.closed for lc in conns),
                             30, "every call of the load answered")
            elapsed = time.monotonic() - t0
            result = {
                "sent": sum(lc.sent for lc in conns),
                "answered": sum(lc.answered for lc in conns),
                "bad": [b for lc in conns for b in lc.bad],
                "closed": [lc.closed for lc in conns if lc.closed],
                "unanswered": sum(len(lc.pending) for lc in conns),
                "elapsed": elapsed,
                "gens": gens,
            }
            for lc in conns:
                lc.reader.cancel()      # the probe reads for itself
                try:
                    await lc.reader
                except asyncio.CancelledError:
                    pass
                await lc.c.probe()      # still open and serving
                await lc.c.close()
            await side.close()
            return result

        r = run(body(), timeout=180)
        rate = r["answered"] / r["elapsed"]
        print("reload under load: %d calls in %.2fs = %.0f calls/s, "
              "generations %r" % (r["answered"], r["elapsed"], rate,
                                  [sorted(n) for _, n in r["gens"]]))
        assert r["closed"] == [], r["closed"]
        assert r["bad"] == [], r["bad"][:10]
        assert r["unanswered"] == 0
        assert r["answered"] == r["sent"], r
        (old1, new1), (old2, new2) = r["gens"]
        assert new1 == old2 and not (new2 & (old1 | new1)), r["gens"]
        # The bar; not meaningful under valgrind.
        if harness.SCALE == 1:
            assert rate >= RATE_BAR, "only %.0f calls/s" % rate
        err = srv.stderr_text()
        assert err.count("SIGHUP: reloading the module") == 2, err[-4000:]


def test_reload_with_a_subscription_running():
    grace = 2
    t = tag()
    with Server(workers=1, extra_args=["--grace", str(grace)]) as srv:
        async def body():
            c = await Client.connect(srv)
            await c.send({"method": "count", "params": [1000000, 50, t],
                          "id": "sub"})
            chunks = []

            async def more(n):
                while len(chunks) < n:
                    msg = await c.recv(timeout=10)
                    assert msg.get("id") == "sub" and "result" in msg, msg
                    chunks.append(msg["result"])
            await more(3)
            old = worker_pids(srv.proc.pid)
            assert len(old) == 1, old
            srv.proc.send_signal(signal.SIGHUP)
            # The old worker drains once the new one is ready.
            await async_wait(
                lambda: re.search(r"worker %d: draining \(reload\)" % old[0],
                                  srv.stderr_text()),
                30, "the old worker %d to drain" % old[0])
            at_drain = len(chunks)
            side = await Client.connect(srv)
            new_pid = (await side.result("whoami", []))["pid"]
            assert new_pid != old[0], (new_pid, old)
            # Chunks keep coming until the grace ends, then 503 shutdown.
            while True:
                msg = await c.recv(timeout=grace + 10)
                assert msg.get("id") == "sub", msg
                if "result" in msg:
                    chunks.append(msg["result"])
                    continue
                end = msg
                break
            # The subscription's connection stays open and serving.
            await c.probe()
            assert (await c.result("whoami", []))["pid"] == new_pid
            await async_wait(lambda: not harness.alive(old[0]), 15,
                             "the old worker to exit")
            end_time = time.monotonic() + harness.scaled(10)
            while True:
                recs = await side.result("cleanups", [t])
                if recs or time.monotonic() > end_time:
                    break
                await asyncio.sleep(0.05)
            await side.close()
            await c.close()
            return chunks, at_drain, end, recs

        chunks, at_drain, end, recs = run(body())
        print("subscription: %d chunks, %d after the drain began"
              % (len(chunks), len(chunks) - at_drain))
        assert [ch["count"] for ch in chunks] == list(range(len(chunks))), \
            chunks
        assert len(chunks) > at_drain, (len(chunks), at_drain)
        assert "error" in end and end["error"]["code"] == 503, end
        assert same_json(end["error"].get("data"), SHUTDOWN), end
        assert len(recs) == 1 and same_json(
            recs[0], {"tag": t, "index": 0, "reason": SHUTDOWN}), recs


def test_reload_keeps_serving_when_the_new_module_cannot_start():
    """The old workers keep serving if the new module cannot start."""
    # The master loads the module path it was given: point it at a copy,
    # then break the copy between start and SIGHUP.
    d = tempfile.mkdtemp(prefix="wspool-otest-")
    try:
        mod = os.path.join(d, "demo.so")
        shutil.copy(harness.DEMO_SO, mod)
        with Server(workers=1, module=mod) as srv:
            async def body():
                c = await Client.connect(srv)
                old = (await c.result("whoami", []))["pid"]
                # A new file (new inode): the running worker keeps its map.
                os.unlink(mod)
                with open(mod, "wb") as f:
                    f.write(b"not a shared object\n")
                srv.proc.send_signal(signal.SIGHUP)
                await async_wait(
                    lambda: re.search(r"keep failing to start",
                                      srv.stderr_text()),
                    30, "the new generation failing to start")
                for i in range(20):
                    assert await c.result("add", [i, 1]) == i + 1
                assert (await c.result("whoami", []))["pid"] == old
                assert srv.health() == 200
                # Repair the module and reload again: the new one serves.
                os.unlink(mod)
                shutil.copy(harness.DEMO_SO, mod)
                srv.proc.send_signal(signal.SIGHUP)
                await async_wait(lambda: not harness.alive(old), 30,
                                 "the old worker to exit after the repair")
                new = (await c.result("whoami", []))["pid"]
                assert new != old
                await c.close()
            run(body())
    finally:
        shutil.rmtree(d, ignore_errors=True)
