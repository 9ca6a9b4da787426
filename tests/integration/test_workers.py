# test_workers.py: the worker pool seen from outside: a worker started by
# hand joins a running master over tcp://127.0.0.1, and a worker killed with
# SIGKILL while idle is replaced without the master missing a beat.

import os
import signal
import time

import harness
from harness import Client, Server, Worker, run, wait_for


async def _whoami_pids(server, batch=16):
    """pids that answered a batch of concurrent whoami calls (errors skipped)."""
    async with await Client.connect(server) as c:
        ids = []
        for _ in range(batch):
            i = harness.next_id()
            ids.append(i)
            await c.send({"method": "whoami", "params": [], "id": i})
        pids, errors = set(), []
        for _ in ids:
            msg = await c.recv(timeout=15)
            if "result" in msg:
                pids.add(msg["result"]["pid"])
            else:
                errors.append(msg)
        return pids, errors


def _wait_for_pid(server, want, seconds=30):
    """Call whoami (in batches) until pid `want` answers one; bounded."""
    end = harness.deadline(seconds)
    seen = set()
    while time.monotonic() < end:
        pids, _ = run(_whoami_pids(server))
        seen |= pids
        if want(seen):
            return seen
    raise AssertionError("whoami pids seen %r never satisfied the check"
                         % sorted(seen))


def _start_poolless_master():
    """A master with --workers 0, if it accepts that; else None."""
    srv = Server(workers=0, worker_listen=True, healthy=False)
    try:
        srv.start()
    except AssertionError as exc:
        if "exited with status" in str(exc):
            return None
        raise
    return srv


def test_hand_started_worker_joins_running_master():
    srv = _start_poolless_master()
    if srv is not None:
        with srv:
            # No worker yet: not healthy, and a call cannot be served.
            assert srv.health() == 503

            async def refused():
                async with await Client.connect(srv) as c:
                    msg = await c.request("echo", [1])
                    assert msg.get("error", {}).get("code") == 503, msg
            run(refused())

            with Worker(srv.worker_address) as w:
                wait_for(lambda: srv.health() == 200, 30,
                         "/healthz 200 after the worker joined")

                async def served():
                    async with await Client.connect(srv) as c:
                        for _ in range(5):
                            r = await c.result("whoami", [])
                            assert r["pid"] == w.pid, (r, w.pid)
                        assert await c.result("add", [20, 22]) == 42
                run(served())
                # The hand-started worker leaves: back to no worker at all.
                w.proc.send_signal(signal.SIGKILL)
                w.proc.wait(timeout=10)
                wait_for(lambda: srv.health() == 503, 30,
                         "/healthz 503 after the only worker was killed")
        return

    # --workers 0 refused: join a pool of one and watch the pid answer.
    with Server(workers=1, worker_listen=True) as srv:
        with Worker(srv.worker_address) as w:
            seen = _wait_for_pid(srv, lambda s: w.pid in s)
            assert w.pid in seen
            assert w.proc.poll() is None, "the hand-started worker exited"


def test_worker_killed_while_idle_is_replaced():
    with Server(workers=1) as srv:
        async def one():
            async with await Client.connect(srv) as c:
                return (await c.result("whoami", []))["pid"]
        old = run(one())
        assert old in harness.worker_pids(srv.proc.pid)
        os.kill(old, signal.SIGKILL)
        # The master reaps it (no zombie left behind)...
        def reaped():
            st = harness.proc_stat(old)
            return st is None or st[1] != srv.proc.pid
        wait_for(reaped, 30, "the killed worker %d to be reaped" % old)
        # ...and serves calls again, from a new worker, within a deadline.
        seen = _wait_for_pid(srv, lambda s: any(p != old for p in s))
        assert old not in seen, "the killed worker %d still answered" % old
        assert srv.proc.poll() is None


def test_pool_size_returns_after_sigkill():
    with Server(workers=2) as srv:
        pids = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(
            harness.worker_pids(srv.proc.pid)), 30, "two workers")
        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        new = wait_for(lambda: (lambda p: p if len(p) == 2
                                and victim not in p else None)(
            harness.worker_pids(srv.proc.pid)), 30,
            "the pool to be back to two workers")
        assert pids[1] in new, "the surviving worker was replaced too"
        # Every call is served, by the current workers only.
        seen = _wait_for_pid(srv, lambda s: s <= set(new) and len(s) > 0)
        assert victim not in seen
        pids_after, errors = run(_whoami_pids(srv, batch=32))
        assert errors == [] and pids_after <= set(new), (pids_after, errors)
