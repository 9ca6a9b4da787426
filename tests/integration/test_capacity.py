# test_capacity.py: capacity that matches (issue 13 item 3). A worker tells
# the master how many calls it can start (its threads, READY); the master
# never sends it more, and calls beyond wait in the master's queue. Threads
# are cheap (256 KiB stacks), so a worker holds hundreds of waiting
# handlers: 1,000 subscriptions between their chunks on a 2-worker server
# all stream while an echo beside them is answered.

import asyncio
import json
import time

import harness
from harness import Client, Server, metric, run, wait_for

SUBS = 1000
CONNS = 4


async def reader(ws, ids, seen, closed):
    """Count each subscription's chunks until the connection closes."""
    try:
        async for data in ws:
            m = json.loads(data)
            i = m.get("id")
            if i not in ids:
                continue
            if "result" in m:
                seen[i] = seen.get(i, 0) + 1
            elif "close" in m or "error" in m:
                closed.append(m)
    except Exception:
        pass


def test_a_thousand_subscriptions_stream_beside_an_echo():
    with Server(workers=2, env=harness.SAN_ENV) as srv:
        async def body():
            conns = [await Client.connect(srv) for _ in range(CONNS)]
            ids = [["s%d-%d" % (k, i) for i in range(SUBS // CONNS)]
                   for k in range(CONNS)]
            seen, closed = {}, []
            tasks = []
            for c, mine in zip(conns, ids):
                for i in mine:
                    await c.send({"method": "count", "params": [1000000, 50],
                                  "id": i})
                tasks.append(asyncio.ensure_future(
                    reader(c.ws, set(mine), seen, closed)))
            every = {i for mine in ids for i in mine}
            end = harness.deadline(60)
            while len(seen) < SUBS:
                assert time.monotonic() < end, (
                    "%d of %d subscriptions streamed; errors: %r"
                    % (len(seen), SUBS, closed[:3]))
                await asyncio.sleep(0.1)
            assert set(seen) == every
            assert closed == [], closed[:3]
            # Every one keeps streaming: a second round of chunks.
            first = dict(seen)
            while any(seen[i] <= first[i] for i in every):
                assert time.monotonic() < end, "stalled streams"
                await asyncio.sleep(0.1)
            # An echo beside them, on its own connection, is answered.
            async with await Client.connect(srv) as e:
                assert await e.result("echo", ["beside"], timeout=30) \
                    == "beside"
            assert metric(srv, "wspool_calls_in_flight") >= SUBS
            assert metric(srv, "wspool_calls_queued") == 0
            # Cancel them all: the server goes idle.
            for c, mine in zip(conns, ids):
                for i in mine:
                    await c.send({"method": ".cancel", "params": [i]})
            wait_for(lambda: metric(srv, "wspool_calls_in_flight") == 0,
                     60, "every subscription to end")
            for c in conns:
                await c.close()
            for t in tasks:
                await asyncio.wait_for(t, harness.scaled(30))
        run(body(), timeout=180)


def test_calls_beyond_capacity_wait_in_the_master():
    # A worker of 2 threads and no waiting room takes 2 sleeps; the third
    # waits in the master's queue (wspool_calls_queued), not in the worker,
    # and starts when one ends; past --queue-timeout a waiting call gets
    # 503.
    with Server(workers=1, extra_args=[
            "--worker-threads", "1", "--worker-max-threads", "2",
            "--queue-timeout", "30"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                ids = [harness.next_id() for _ in range(3)]
                for i in ids:
                    await c.send({"method": "sleep", "params": [60000],
                                  "id": i})
                wait_for(lambda: metric(srv, "wspool_calls_queued") == 1
                         and metric(srv, "wspool_calls_in_flight") == 2,
                         10, "two sleeps on the worker, one queued")
                assert metric(srv, "wspool_worker_capacity") == 2
                await c.send({"method": ".cancel", "params": [ids[0]]})
                wait_for(lambda: metric(srv, "wspool_calls_queued") == 0
                         and metric(srv, "wspool_calls_in_flight") == 2,
                         10, "the queued sleep to start")
                for i in ids[1:]:
                    await c.send({"method": ".cancel", "params": [i]})
                wait_for(lambda: metric(srv, "wspool_calls_in_flight") == 0,
                         10, "the sleeps to end")
                assert c.stray == [], c.stray
        run(body())
