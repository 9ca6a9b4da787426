# test_order.py: the notifications of one connection run one after another,
# in arrival order (issue 11 item 2; the master chains them per connection,
# master/calls.h), while requests beside them stay concurrent; and the
# order holds across a worker's death.

import asyncio
import os
import signal
import time

import harness
from harness import Client, Server, metric, run, tag, wait_for


async def notes_when(c, t, n, seconds=60):
    """notes(t) once it holds n values (bounded poll)."""
    return await harness.poll_result(c, "notes", [t], lambda r: len(r) >= n,
                                     seconds, "%d notes of %s" % (n, t))


def test_pipelined_notes_run_in_arrival_order():
    # 1,000 notes sent in one burst (one write each, never awaited), then
    # notes(): 0..999 in order, on a server whose 4 workers would run them
    # concurrently if the master did not chain them.
    with Server(workers=4) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                for i in range(1000):
                    await c.send({"method": "note", "params": [t, i]})
                # A request sent behind them is not held by them.
                assert await c.result("echo", ["beside"]) == "beside"
                got = await notes_when(c, t, 1000)
                assert got == list(range(1000)), got[:50]
                # Nothing was answered for the notes.
                assert c.stray == [], c.stray[:5]
            wait_for(lambda: metric(srv, "wspool_notifications_held") == 0
                     and metric(srv, "wspool_calls_in_flight") == 0,
                     10, "no notification held or in flight")
        run(body())


def test_two_connections_keep_their_own_order():
    # Each connection's chain is its own: interleaved bursts on two
    # connections are each recorded in order.
    with Server(workers=2) as srv:
        async def body():
            async with await Client.connect(srv) as a, \
                    await Client.connect(srv) as b:
                ta, tb = tag(), tag()
                for i in range(200):
                    await a.send({"method": "note", "params": [ta, i]})
                    await b.send({"method": "note", "params": [tb, i]})
                assert await notes_when(a, ta, 200) == list(range(200))
                assert await notes_when(b, tb, 200) == list(range(200))
        run(body())


def test_order_survives_a_worker_kill():
    # Notes keep their order when the worker running one is killed: the
    # one on it is sent again if it had not started, or ends with the
    # crash; every later one still runs after it, in order. A SIGKILL from
    # outside names no culprit, so the note on the dead worker may be lost
    # (502 unseen): the values recorded are in order, with at most that
    # one missing.
    with Server(workers=2) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                for i in range(300):
                    await c.send({"method": "note", "params": [t, i]})
                    if i == 100:
                        pids = harness.worker_pids(srv.proc.pid)
                        for p in pids[:1]:
                            os.kill(p, signal.SIGKILL)
                # The last one is recorded once the chain has drained. A
                # notes() that reached the dying worker gets 502: again.
                end = harness.deadline(60)
                while True:
                    msg = await c.request("notes", [t], timeout=30)
                    got = msg.get("result")
                    if got and got[-1] == 299:
                        break
                    assert time.monotonic() < end, got[-5:]
                    await asyncio.sleep(0.05)
                assert got == sorted(got), got
                assert len(set(got)) == len(got), got
                assert len(got) >= 299, len(got)
        run(body())
