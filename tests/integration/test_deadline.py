# test_deadline.py: a deadline is a cancel first (issue 13 item 4). A call
# past its deadline gets 504 at once and is cancelled on its worker with
# reason timeout; a handler that returns (a cancellable sleep) keeps its
# worker alive; only one that ignores the cancel for --deadline-grace gets
# its worker killed, as the culprit: a call waiting beside it on that
# worker is sent to another one and answered.

import contextlib
import re

import harness
from harness import Client, Server, metric, run, same_json, tag, wait_for

TIMEOUT = {"kind": "timeout"}


def metrics(srv):
    return harness.http_request(srv.port, "GET", "/metrics")[2].decode()


def deaths(srv):
    return sum(float(v) for v in re.findall(
        r"^wspool_worker_deaths_total\{[^}]*\} (\S+)$", metrics(srv), re.M))


def ready_pids(srv):
    ready = {int(p) for p in re.findall(r"\bworker (\d+) ready",
                                        srv.stderr_text())}
    return [p for p in harness.worker_pids(srv.proc.pid) if p in ready]


@contextlib.contextmanager
def server(args, timeout="1"):
    with Server(workers=1, extra_args=["--call-timeout", timeout] + args,
                env=harness.SAN_ENV) as srv:
        wait_for(lambda: len(ready_pids(srv)) == 1, 30, "the worker")
        yield srv


def test_a_cancellable_handler_keeps_its_worker():
    # sleep(20 s) under a 1 s deadline: 504 with reason timeout at once,
    # its cleanup runs with reason timeout, and the same worker (pid) still
    # answers: it was cancelled, not killed.
    with server(["--deadline-grace", "5"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                pid = (await c.result("whoami"))["pid"]
                t = tag()
                msg = await c.request("sleep", [20000, t], timeout=30)
                assert set(msg) == {"id", "error"}, msg
                assert msg["error"]["code"] == 504, msg
                assert same_json(msg["error"].get("data"), TIMEOUT), msg
                got = await harness.settled_records(srv, c, t, 1)
                assert same_json(got, [{"tag": t, "index": 0,
                                        "reason": TIMEOUT}]), got
                assert (await c.result("whoami"))["pid"] == pid
            wait_for(lambda: metric(srv, "wspool_calls_in_flight") == 0, 10,
                     "the sleep to end on its worker")
            assert deaths(srv) == 0
            assert metric(srv, "wspool_deadline_cancels_total") == 1
            assert metric(srv, "wspool_deadline_kills_total") == 0
            assert ready_pids(srv) == [pid]
        run(body())


def test_a_handler_that_ignores_the_cancel_is_killed_alone():
    # One handler thread, room for calls to wait: crash("hang") spins and
    # ignores the cancel. It gets 504 at its deadline; an echo sent then
    # waits behind it on the same worker (its own deadline is later than
    # the grace). The worker is killed after the grace, naming the hang,
    # and the echo (not started) goes to the new worker and is answered:
    # not 502.
    with server(["--deadline-grace", "0.5", "--worker-threads", "1",
                 "--worker-max-threads", "1",
                 "--worker-max-waiting", "4"], timeout="3") as srv:
        async def body():
            async with await Client.connect(srv) as c, \
                    await Client.connect(srv) as e:
                old = (await e.result("whoami"))["pid"]
                t = tag()
                hang_id, echo_id = harness.next_id(), harness.next_id()
                await c.send({"method": "crash", "params": ["hang", t],
                              "id": hang_id})
                hang = (await c.recv_until(
                    lambda m: m.get("id") == hang_id, timeout=30))[-1]
                assert hang["error"]["code"] == 504, hang
                assert same_json(hang["error"].get("data"), TIMEOUT), hang
                await c.send({"method": "echo", "params": ["beside"],
                              "id": echo_id})
                echo = (await c.recv_until(
                    lambda m: m.get("id") == echo_id, timeout=30))[-1]
                assert echo == {"id": echo_id, "result": "beside"}, echo
                new = (await e.result("whoami", timeout=30))["pid"]
                assert new != old
                got = await harness.settled_records(srv, c, t, 1)
                assert same_json(got, [{"tag": t, "index": 0,
                                        "reason": TIMEOUT}]), got
            assert deaths(srv) == 1
            assert metric(srv, "wspool_deadline_kills_total") == 1
            assert metric(srv, "wspool_calls_redispatched_total") == 1
            assert "ignored the cancel of its deadline" in srv.stderr_text()
        run(body())


def test_a_call_not_started_at_its_deadline_kills_nobody():
    # One thread, held by a subscription (no deadline); an echo waits
    # behind it in the worker and passes its deadline there: 504, and
    # after the grace nothing is killed (it never started: it is not
    # hung), the subscription streams on, and once it is cancelled the
    # echo ends on the worker without running.
    with server(["--deadline-grace", "0.5", "--worker-threads", "1",
                 "--worker-max-threads", "1",
                 "--worker-max-waiting", "4"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                sub, echo_id = harness.next_id(), harness.next_id()
                await c.send({"method": "count", "params": [1000000, 50],
                              "id": sub})
                await c.recv_until(lambda m: m.get("id") == sub)
                await c.send({"method": "echo", "params": [1], "id": echo_id})
                msg = (await c.recv_until(
                    lambda m: m.get("id") == echo_id, timeout=30))[-1]
                assert msg["error"]["code"] == 504, msg
                wait_for(lambda: "passed its deadline before starting"
                         in srv.stderr_text(), 30, "the grace to pass")
                n = len(await c.recv_until(lambda m: m.get("id") == sub))
                assert n >= 1
                await c.send({"method": ".cancel", "params": [sub]})
                wait_for(lambda: metric(srv, "wspool_calls_in_flight") == 0,
                         10, "both calls to end on the worker")
            assert deaths(srv) == 0
            assert metric(srv, "wspool_deadline_kills_total") == 0
            assert metric(srv, "wspool_deadline_cancels_total") == 1
        run(body())


def test_a_call_cancelled_otherwise_first_is_still_bounded():
    # As above, but the call waiting behind the subscription is a hang
    # whose client disconnects first: its worker sees that cancel (reason
    # disconnected) before the deadline's, so it will run once a thread
    # is free. Not started at the end of the grace, it must not be
    # forgotten: once the subscription is cancelled the hang starts, and
    # its worker is killed for it.
    with server(["--deadline-grace", "0.5", "--worker-threads", "1",
                 "--worker-max-threads", "1",
                 "--worker-max-waiting", "4"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                sub = harness.next_id()
                await c.send({"method": "count", "params": [1000000, 50],
                              "id": sub})
                await c.recv_until(lambda m: m.get("id") == sub)
                async with await Client.connect(srv) as h:
                    await h.send({"method": "crash",
                                  "params": ["hang", tag()],
                                  "id": harness.next_id()})
                    wait_for(lambda: metric(srv, "wspool_calls_in_flight")
                             == 2, 10, "the hang to reach the master")
                # Disconnected: cancelled on the worker, not started.
                wait_for(lambda: "passed its deadline before starting"
                         in srv.stderr_text(), 30, "the grace to pass")
                await c.send({"method": ".cancel", "params": [sub]})
                wait_for(lambda: metric(srv,
                                        "wspool_deadline_kills_total") == 1,
                         15, "the hang's worker to be killed")
            assert "ignored the cancel of its deadline" in srv.stderr_text()
        run(body())


def test_a_call_its_client_cancelled_counts_no_deadline_cancel():
    # crash("hang") ignores every cancel. Its client's .cancel comes first
    # (cleanup reason cancelled, nothing answered); its deadline then only
    # starts the grace, and the worker is killed after it: one kill, and
    # no deadline cancel counted (the cancel was the client's).
    with server(["--deadline-grace", "0.5"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = tag()
                cid = harness.next_id()
                await c.send({"method": "crash", "params": ["hang", t],
                              "id": cid})
                wait_for(lambda: metric(srv, "wspool_calls_in_flight") == 1,
                         10, "the hang to reach the master")
                await c.send({"method": ".cancel", "params": [cid]})
                wait_for(lambda: metric(srv, "wspool_deadline_kills_total")
                         == 1, 30, "the hang's worker to be killed")
                got = await harness.settled_records(srv, c, t, 1, 30)
                assert same_json(got, [{"tag": t, "index": 0,
                                        "reason": {"kind": "cancelled"}}]), \
                    got
                assert [m for m in c.stray if m.get("id") == cid] == []
            assert metric(srv, "wspool_deadline_cancels_total") == 0
            assert "ignored the cancel of its deadline" in srv.stderr_text()
        run(body())
