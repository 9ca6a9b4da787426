# test_kill_load.py: the at-least-once promise of deferred cleanups under
# fire: several connections keep calls that register cleanups in flight
# while a killer SIGKILLs random workers; afterwards every cleanup that was
# registered must have run (a record in the demo's log), with the reason
# its call really ended with, exactly once: the demo's cleanup is
# idempotent by its key, so a cleanup run twice (a worker killed after it
# ran, before its done reached the master) still writes one record; the
# runs are counted apart (wspool_cleanup_reruns_total). The killer spares
# the cleanup runner. WSPOOL_LONG_RUN=1 makes the run longer.

import asyncio
import json
import os
import random
import re
import signal
import socket
import time

import harness
from harness import SAN_ENV, Client, Server, run, same_json, tag

LONG = os.environ.get("WSPOOL_LONG_RUN") == "1"
MIN_CALLS, MIN_KILLS = (1000, 40) if LONG else (300, 8)
TIME_CAP = 150 if LONG else 40      # seconds of load at most (scaled)
CONNECTIONS, LANES = 4, 4           # 16 calls in flight
CALL_TIMEOUT = 20                   # every call is answered within this
WORKERS = 3

# A 502 does not prove that the call registered its cleanups: the kill may
# land between the master's dispatch and wspool_defer's journaling, and the
# master keeps dispatching to a killed worker until it notices the death
# (calls sent a few ms after the kill get its 502). Such a call has no
# cleanup, rightly. A call sent this long before the kill had certainly
# registered: handlers register first thing, and registration takes well
# under a millisecond; the margin covers a freshly started worker (under
# ASan) that has been seen to hold calls for over 50 ms before running them.
# Count subscriptions need no bound: a chunk received proves it.
REGISTER_GRACE = 0.5

HOST = socket.gethostname()
SEED = int(os.environ.get("WSPOOL_TEST_SEED", str(random.randrange(2**32))))

FAIL_CODES = (400, 409, 418, 422, 500, 599)   # never 502-504: those are ours


class Call:
    """One call of the load and what became of it."""

    def __init__(self, kind, params, indices, want):
        self.kind = kind
        self.tag = params[0] if kind == "settle" else params[-1]
        self.params = params
        self.indices = indices      # cleanup indices it registers
        self.want = want            # the answer if it ends normally
        self.sent_at = None
        self.chunks = 0
        self.reply = None           # the final message
        self.outcome = None         # answered, killed, or unexpected
        self.reason = None          # what its cleanups must get
        self.certain = False        # its cleanups were surely registered
        self.age = None             # ms from its sending to its kill


def make_call(rng, n):
    t = "%s-%d" % (tag(), n)
    kind = rng.choice(("sleep", "sleep", "count", "fail", "settle"))
    if kind == "sleep":
        # Mostly short; some long enough to be killed well past
        # REGISTER_GRACE, where a missing cleanup is a certain loss.
        ms = rng.randint(10, 300) if rng.random() < 0.7 else \
            rng.randint(700, 1500)
        return Call(kind, [ms, t], [0], {"result": ms})
    if kind == "count":
        return Call(kind, [rng.randint(2, 12), rng.randint(5, 80), t], [0],
                    {"close": True})
    if kind == "fail":
        code = rng.choice(FAIL_CODES)
        message = "fail %d" % n
        data = {"n": n}
        return Call(kind, [code, message, data, t], [0],
                    {"error": {"code": code, "message": message,
                               "data": data}})
    # settle: no cleanup fails (-1, or an index past n), so all 3 record.
    failing = rng.choice((-1, 3, 99))
    return Call(kind, [t, 3, failing, "error"], [0, 1, 2], {"result": "ok"})


class Conn:
    """A connection with a reader task routing messages to their call."""

    def __init__(self, client):
        self.c = client
        self.waiting = {}   # id -> (Call or None, future)
        self.reader = asyncio.ensure_future(self._read())
        self.unrouted = []

    @classmethod
    async def open(cls, srv):
        return cls(await Client.connect(srv))

    async def _read(self):
        try:
            async for data in self.c.ws:
                msg = json.loads(data)
                entry = self.waiting.get(msg.get("id"))
                if entry is None:
                    self.unrouted.append(msg)
                    continue
                call, fut = entry
                if call is not None and call.kind == "count" and \
                        "result" in msg:
                    call.chunks += 1
                    continue
                del self.waiting[msg["id"]]
                if not fut.done():
                    fut.set_result(msg)
        except Exception as exc:  # the connection broke: fail every waiter
            for _, fut in self.waiting.values():
                if not fut.done():
                    fut.set_exception(exc)

    async def send_wait(self, cid, obj, call=None, timeout=CALL_TIMEOUT):
        fut = asyncio.get_running_loop().create_future()
        self.waiting[cid] = (call, fut)
        if call is not None:
            call.sent_at = time.monotonic()
        await self.c.send(obj)
        try:
            return await asyncio.wait_for(fut, harness.scaled(timeout))
        except asyncio.TimeoutError:
            self.waiting.pop(cid, None)
            return None

    async def result(self, method, params):
        cid = harness.next_id()
        msg = await self.send_wait(cid, {"method": method, "params": params,
                                         "id": cid})
        assert msg is not None, "%s %r: no answer" % (method, params)
        assert "result" in msg, "%s %r failed: %r" % (method, params, msg)
        return msg["result"]

    async def close(self):
        await self.c.close()
        self.reader.cancel()


def ready_pids(srv):
    """Live workers the master has logged as ready (never one starting)."""
    ready = {int(p) for p in re.findall(r"worker (\d+) ready",
                                        srv.stderr_text())}
    return [p for p in harness.worker_pids(srv.proc.pid) if p in ready]


def test_sigkill_under_load_loses_no_cleanup():
    rng = random.Random(SEED)
    print("seed %d (WSPOOL_TEST_SEED to replay the choices)" % SEED)
    with Server(workers=WORKERS, env=SAN_ENV) as srv:
        # The one runner, once started (read when one alone is up).
        runners = harness.wait_for(
            lambda: (lambda r: r if len(r) == 1 else None)(
                harness.runner_pids(srv.proc.pid)), 15, "one cleanup runner")
        run(_load(srv, rng), timeout=TIME_CAP + 200)
        # Outside SIGKILLs never count against a cleanup: none dropped.
        err = srv.stderr_text()
        dropped = [l for l in err.splitlines() if "dropped" in l]
        assert dropped == [], dropped
        # The killer only killed workers that take calls.
        body = harness.http_request(srv.port, "GET", "/metrics")[2].decode()
        assert harness.runner_pids(srv.proc.pid) == runners, (
            runners, harness.runner_pids(srv.proc.pid), body)
        assert re.search(r"^wspool_runner_starts_total 1$", body, re.M), body
        print("cleanup runs and re-runs: %s" % ", ".join(
            l for l in body.splitlines() if l.startswith(
                ("wspool_cleanup_runs_total", "wspool_cleanup_reruns_total",
                 "wspool_calls_redispatched_total",
                 "wspool_calls_rerun_total"))))


async def _load(srv, rng):
    conns = [await Conn.open(srv) for _ in range(CONNECTIONS)]
    calls = []
    kills = {}          # pid -> monotonic time of the SIGKILL
    state = {"stop": False, "n": 0}
    end = harness.deadline(TIME_CAP)

    def enough():
        return (len(calls) >= MIN_CALLS and len(kills) >= MIN_KILLS) \
            or time.monotonic() >= end

    async def lane(conn):
        while not state["stop"]:
            state["n"] += 1
            call = make_call(rng, state["n"])
            calls.append(call)
            cid = harness.next_id()
            call.reply = await conn.send_wait(
                cid, {"method": call.kind, "params": call.params, "id": cid},
                call)
            if enough():
                state["stop"] = True

    async def killer():
        while not state["stop"]:
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            # Only with the whole pool ready: two workers always serve.
            wait_end = harness.deadline(15)
            while len(ready_pids(srv)) < WORKERS:
                assert time.monotonic() < wait_end, (
                    "the pool never came back to %d ready workers: %r"
                    % (WORKERS, harness.worker_pids(srv.proc.pid)))
                await asyncio.sleep(0.01)
            if state["stop"]:
                break
            victim = rng.choice(ready_pids(srv))
            kills[victim] = time.monotonic()
            os.kill(victim, signal.SIGKILL)

    started = time.monotonic()
    tasks = [asyncio.ensure_future(lane(c)) for c in conns for _ in range(LANES)]
    kill_task = asyncio.ensure_future(killer())
    await asyncio.gather(*tasks)
    state["stop"] = True
    await kill_task
    load_time = time.monotonic() - started
    assert len(calls) >= MIN_CALLS and len(kills) >= MIN_KILLS, (
        "only %d calls and %d kills in %.1fs"
        % (len(calls), len(kills), load_time))

    # ---- every call got an answer, and the right one
    unanswered = [c for c in calls if c.reply is None]
    assert unanswered == [], "calls never answered: %r" % [
        (c.kind, c.params) for c in unanswered]
    unexpected = []
    for c in calls:
        msg = dict(c.reply)
        msg.pop("id")
        err = msg.get("error", {})
        data = err.get("data") if isinstance(err, dict) else None
        if same_json(msg, c.want) and (c.kind != "count"
                                       or c.chunks == c.params[0]):
            c.outcome = "answered"
            c.reason = None if c.kind != "fail" else {
                "kind": "error", "code": c.want["error"]["code"],
                "message": c.want["error"]["message"]}
        elif (err.get("code") == 502 and isinstance(data, dict)
              and isinstance(data.get("worker"), dict)
              and data["worker"].get("pid") in kills
              and same_json(msg, {"error": {
                  "code": 502, "message": "Bad Gateway: worker crashed",
                  "data": {"kind": "crashed", "signal": "SIGKILL",
                           "worker": {"pid": data["worker"]["pid"],
                                      "host": HOST}}}})):
            c.outcome = "killed"
            c.reason = data
        else:
            unexpected.append((c.kind, c.params, c.reply))
    assert unexpected == [], "unexpected answers: %r" % unexpected[:20]

    # ---- which cleanups were certainly registered
    def certain(c):
        if c.outcome == "answered":
            return True
        if c.kind == "count" and c.chunks > 0:
            return True
        kill_at = kills[c.reason["worker"]["pid"]]
        return c.sent_at <= kill_at - harness.scaled(REGISTER_GRACE)

    for c in calls:
        c.certain = certain(c)
        if c.outcome == "killed":
            c.age = round(1000 * (kills[c.reason["worker"]["pid"]]
                                  - c.sent_at), 1)
    sure = [c for c in calls if c.certain]
    unsure = [c for c in calls if not c.certain]

    # ---- wait (bounded) until every certain cleanup has run
    found = {}

    async def fetch(batch):
        got = await asyncio.gather(*(conns[i % len(conns)].result(
            "cleanups", [c.tag]) for i, c in enumerate(batch)))
        for c, recs in zip(batch, got):
            found[c.tag] = recs

    def complete(c):
        have = {r.get("index") for r in found.get(c.tag, [])}
        return set(c.indices) <= have

    todo = sure
    wait_started = time.monotonic()
    wait_end = harness.deadline(60)
    while True:
        for i in range(0, len(todo), 64):
            await fetch(todo[i:i + 64])
        todo = [c for c in todo if not complete(c)]
        if not todo or time.monotonic() >= wait_end:
            break
        await asyncio.sleep(0.1)
    wait_time = time.monotonic() - wait_started
    late = [(c.kind, c.params, c.outcome, c.age, c.chunks, found.get(c.tag))
            for c in todo]
    # One last read of everything, certain or not.
    for i in range(0, len(calls), 64):
        await fetch(calls[i:i + 64])

    # ---- the verdict
    expected = sum(len(c.indices) for c in sure)
    missing, wrong, dups, found_n, unsure_none = [], [], 0, 0, []
    for c in calls:
        recs = found.get(c.tag, [])
        per_index = {}
        for r in recs:
            if not (isinstance(r, dict) and r.get("tag") == c.tag
                    and r.get("index") in c.indices):
                wrong.append((c.kind, c.params, c.outcome, c.reason, r))
                continue
            if not same_json(r.get("reason"), c.reason):
                wrong.append((c.kind, c.params, c.outcome, c.reason, r))
            # It ran, whatever its reason: counted for at-least-once.
            per_index[r["index"]] = per_index.get(r["index"], 0) + 1
        dups += sum(1 for v in per_index.values() if v > 1)
        if c.certain:
            found_n += sum(1 for i in c.indices if i in per_index)
            missing += [(c.kind, c.params, c.outcome, c.reason, c.age, i)
                        for i in c.indices if i not in per_index]
        else:
            # Killed before it may have registered: what ran must be the
            # registered prefix (they register in index order).
            have = sorted(per_index)
            if have != c.indices[:len(have)]:
                wrong.append((c.kind, c.params, c.outcome, c.reason, recs))
            if not have:
                # Negative: sent after the kill, before the master saw it.
                unsure_none.append(c.age)
    outcomes = {}
    for c in calls:
        outcomes[c.outcome] = outcomes.get(c.outcome, 0) + 1
    stats = ("calls %d (%s) in %.1fs, kills %d, cleanups expected %d, "
             "found %d, duplicates %d, missing %d; killed too early to be "
             "sure of registration: %d calls (%d without a record, sent "
             "%s ms before the kill); waited %.1fs for the cleanups"
             % (len(calls), ", ".join("%s %d" % kv for kv in
                                      sorted(outcomes.items())),
                load_time, len(kills), expected, found_n, dups, len(missing),
                len(unsure), len(unsure_none), unsure_none, wait_time))
    print(stats)
    for conn in conns:
        assert conn.unrouted == [], conn.unrouted[:10]
        await conn.close()
    for item in late[:20]:
        print("still incomplete when the wait ended: %s %r -> %s (sent %s ms "
              "before the kill, %d chunks): %r" % item)
    for item in wrong[:20]:
        print("record with a wrong tag, index or reason: %s %r -> %s (%r): "
              "%r" % item)
    for item in missing[:20]:
        print("cleanup that never ran: %s %r -> %s (%r, sent %s ms before "
              "the kill): index %d" % item)
    assert (wrong, missing, late) == ([], [], []), (
        "%s\n%d records with a wrong tag, index or reason: %r\n"
        "%d cleanups that never ran: %r\n"
        "%d calls still without all their records after %.0fs: %r"
        % (stats, len(wrong), wrong[:10], len(missing), missing[:10],
           len(late), wait_time, late[:10]))
    # The runner was never killed: a record twice would be a cleanup whose
    # idempotency key failed it.
    assert dups == 0, stats
    return stats
