# test_operations.py: operating a real wspool-master (docs/operations.md):
# graceful shutdown with calls in flight and their cleanups, a second
# signal, crash-loop backoff, recycling after N calls, every limit's exact
# error, /metrics parsed as Prometheus text and checked against a known
# workload, the config file, --check, --help and --version.
# The reloads (SIGHUP) are in test_reload.py.

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter

import pytest

import harness
from harness import (SAN_ENV, Client, RawWS, Server, closed_code,
                     http_request, run, same_json, tag, upgrade_headers,
                     wait_for, worker_pids)


SHUTDOWN = {"kind": "shutdown"}


# ---- helpers ------------------------------------------------------------------

@contextlib.contextmanager
def demo_log_dir():
    """A directory for a demo cleanup log that outlives one server."""
    d = tempfile.mkdtemp(prefix="wspool-otest-")
    try:
        yield os.path.join(d, "demo.log")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def rec(t, reason, index=0):
    return {"tag": t, "index": index, "reason": reason}


def error_of(msg, code):
    """The error object of msg, asserting it is an error with this code."""
    assert "error" in msg and msg["error"].get("code") == code, \
        "expected error %d, got %r" % (code, msg)
    return msg["error"]


def wait_exit(proc, seconds, what):
    """The exit status of proc once it exits; fails after seconds."""
    try:
        return proc.wait(timeout=harness.scaled(seconds))
    except subprocess.TimeoutExpired:
        raise AssertionError("%s: still running after %.0fs"
                             % (what, harness.scaled(seconds)))


def log_wait(srv, pattern, seconds, what):
    """Poll the master's stderr for a regex; returns the match."""
    rx = re.compile(pattern, re.M)
    return wait_for(lambda: rx.search(srv.stderr_text()), seconds, what)


# ---- Prometheus text format ---------------------------------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(
    r"^(?P<name>%s)(?:\{(?P<labels>(?:%s)(?:,%s)*,?)?\})? "
    r"(?P<value>[^ ]+)(?: -?\d+)?$" % (METRIC_NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) .*$" % METRIC_NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$"
                  % METRIC_NAME)
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    return float(text)   # raises ValueError on anything else


class Metrics:
    """One scrape of /metrics, every line checked against the format."""

    def __init__(self, text):
        self.text = text
        self.types = {}     # family -> type
        self.helps = set()
        self.samples = []   # (name, labels dict, value)
        for n, line in enumerate(text.split("\n"), 1):
            if line == "":
                continue
            if line.startswith("#"):
                if line.startswith("# HELP "):
                    m = HELP.match(line)
                    assert m, "line %d: bad HELP line %r" % (n, line)
                    assert m.group(1) not in self.helps, \
                        "line %d: second HELP for %s" % (n, m.group(1))
                    self.helps.add(m.group(1))
                elif line.startswith("# TYPE "):
                    m = TYPE.match(line)
                    assert m, "line %d: bad TYPE line %r" % (n, line)
                    assert m.group(1) not in self.types, \
                        "line %d: second TYPE for %s" % (n, m.group(1))
                    assert not any(self.family(s[0]) == m.group(1)
                                   for s in self.samples), \
                        "line %d: TYPE after samples of %s" % (n, m.group(1))
                    self.types[m.group(1)] = m.group(2)
                continue
            m = SAMPLE.match(line)
            assert m, "line %d: not a Prometheus sample: %r" % (n, line)
            try:
                value = parse_value(m.group("value"))
            except ValueError:
                raise AssertionError("line %d: bad value in %r" % (n, line))
            labels = dict(LABEL_PAIR.findall(m.group("labels") or ""))
            self.samples.append((m.group("name"), labels, value))
        assert text.endswith("\n"), "the exposition does not end in a newline"
        for name, labels, _ in self.samples:
            fam = self.family(name)
            assert fam in self.types, "sample %s has no TYPE line" % name
        seen = set()
        for name, labels, _ in self.samples:
            key = (name, tuple(sorted(labels.items())))
            assert key not in seen, "duplicate sample %r" % (key,)
            seen.add(key)

    def family(self, name):
        """The metric family a sample name belongs to."""
        if name in self.types:
            return name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and \
                    self.types.get(base) in ("histogram", "summary"):
                return base
        return name

    def get(self, name, **labels):
        """The value of the one sample name{labels}, or None."""
        for n, l, v in self.samples:
            if n == name and l == labels:
                return v
        return None

    def value(self, name, **labels):
        v = self.get(name, **labels)
        assert v is not None, "no sample %s%r in:\n%s" % (name, labels,
                                                         self.text)
        return v

    def series(self, name):
        return [(l, v) for n, l, v in self.samples if n == name]


def scrape(port):
    status, hdrs, body = http_request(port, "GET", "/metrics")
    assert status == 200, (status, body[:200])
    ctype = hdrs.get("content-type", "")
    assert ctype.startswith("text/plain"), ctype
    return Metrics(body.decode("utf-8"))


def metric_wait(port, pred, seconds, what):
    """Scrape until pred(metrics) holds; returns that scrape."""
    last = [None]

    def check():
        last[0] = scrape(port)
        return pred(last[0])
    try:
        wait_for(check, seconds, what)
    except AssertionError as exc:
        raise AssertionError("%s; last scrape:\n%s"
                             % (exc, last[0].text if last[0] else ""))
    return last[0]


def all_ready(srv, n):
    """Wait until n workers are ready (/healthz needs only one): a test that
    spreads calls over the pool must not start with half of it."""
    metric_wait(srv.port, lambda m: m.value("wspool_workers_ready") == n,
                30, "%d workers ready" % n)


def check_histogram(m, name):
    """Buckets ascending in le, cumulative counts non-decreasing, +Inf last
    and equal to _count; returns _count."""
    assert m.types.get(name) == "histogram", m.types.get(name)
    buckets = [(parse_value(l["le"]), v) for l, v in m.series(name + "_bucket")]
    assert len(buckets) >= 2, buckets
    les = [b[0] for b in buckets]
    assert les == sorted(les) and len(set(les)) == len(les), les
    assert les[-1] == math.inf, les
    counts = [b[1] for b in buckets]
    assert all(a <= b for a, b in zip(counts, counts[1:])), buckets
    count = m.value(name + "_count")
    assert counts[-1] == count, (counts[-1], count)
    assert m.value(name + "_sum") >= 0
    return count


# ---- graceful shutdown ----------------------------------------------------------

async def read_all(c):
    """Every message of a connection until the server closes it; the code."""
    msgs = []
    try:
        while True:
            data = await asyncio.wait_for(c.ws.recv(), harness.scaled(60))
            msgs.append(json.loads(data))
    except harness.websockets.exceptions.ConnectionClosed:
        pass
    return msgs, c.ws.close_code


async def cleanup_records(srv, tags):
    """cleanups(t) for every tag, from a fresh connection: {tag: records}."""
    out = {}
    async with await Client.connect(srv) as c:
        for t in tags:
            out[t] = await c.result("cleanups", [t])
    return out


def test_sigterm_with_100_calls_in_flight_runs_every_cleanup():
    short_ms, long_ms, grace = 1500, 30000, 3
    shorts = ["short-%d-%s" % (i, tag()) for i in range(50)]
    longs = ["long-%d-%s" % (i, tag()) for i in range(50)]
    with demo_log_dir() as log:
        env = dict(SAN_ENV, WSPOOL_DEMO_LOG=log)
        srv = Server(workers=4, env=env,
                     extra_args=["--grace", str(grace), "--call-timeout", "60"])
        with srv:
            all_ready(srv, 4)

            async def body():
                conns = [await Client.connect(srv) for _ in range(4)]
                want = {}
                for i, t in enumerate(shorts + longs):
                    ms = short_ms if t in shorts else long_ms
                    cid = "c%d" % i
                    want[cid] = (t, ms)
                    await conns[i % 4].send({"method": "sleep",
                                             "params": [ms, t], "id": cid})
                readers = [asyncio.ensure_future(read_all(c)) for c in conns]
                # Every handler has started: its cleanup is journaled.
                m = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: metric_wait(
                        srv.port,
                        lambda m: m.value("wspool_cleanups_pending") >= 100,
                        20, "100 cleanups journaled"))
                assert m.value("wspool_calls_in_flight") == 100, m.text
                assert not any(r.done() for r in readers)
                srv.proc.send_signal(signal.SIGTERM)
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: log_wait(srv, r"SIGTERM: shutting down",
                                           10, "the shutdown log line"))
                # A new call on a live connection is refused at once.
                await conns[0].send({"method": "echo", "params": [1],
                                     "id": "after"})
                results = await asyncio.gather(*readers)
                return want, results

            want, results = run(body(), timeout=120)
            rc = wait_exit(srv.proc, 30, "the master after SIGTERM")
            err = srv.stop()   # exit status 0, no sanitizer report
            assert rc == 0, err[-4000:]

            by_id = {}
            for msgs, code in results:
                assert code == 1001, "closed with %r, not 1001" % code
                for msg in msgs:
                    assert msg.get("id") not in by_id, ("answered twice", msg)
                    by_id[msg.get("id")] = msg
            after = by_id.pop("after")
            assert error_of(after, 503)
            assert set(by_id) == set(want), set(want) ^ set(by_id)
            for cid, (t, ms) in want.items():
                msg = by_id[cid]
                if ms == short_ms:
                    assert msg == {"id": cid, "result": short_ms}, msg
                else:
                    e = error_of(msg, 503)
                    assert same_json(e.get("data"), SHUTDOWN), msg
            assert "did not run in time" not in err, err[-4000:]

        # A new server on the same log: what the old one's cleanups wrote.
        with Server(workers=1, env=env) as srv2:
            got = run(cleanup_records(srv2, shorts + longs))
        for t in shorts:
            assert got[t] == [rec(t, None)], (t, got[t])
        for t in longs:
            assert len(got[t]) == 1 and same_json(got[t][0],
                                                  rec(t, SHUTDOWN)), \
                (t, got[t])


def test_second_sigterm_ends_the_grace_at_once():
    grace = 60
    tags = [tag() for _ in range(10)]
    with demo_log_dir() as log:
        env = dict(SAN_ENV, WSPOOL_DEMO_LOG=log)
        srv = Server(workers=1, env=env,
                     extra_args=["--grace", str(grace), "--call-timeout", "0"])
        with srv:
            async def body():
                c = await Client.connect(srv)
                for i, t in enumerate(tags):
                    await c.send({"method": "sleep", "params": [600000, t],
                                  "id": i})
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: metric_wait(
                        srv.port,
                        lambda m: m.value("wspool_cleanups_pending") >= 10,
                        20, "10 cleanups journaled"))
                srv.proc.send_signal(signal.SIGTERM)
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: log_wait(srv, r"SIGTERM: shutting down",
                                           10, "the shutdown log line"))
                # Within the grace: nothing is cancelled yet.
                assert await c.quiet(0.5) == []
                t0 = time.monotonic()
                srv.proc.send_signal(signal.SIGTERM)
                msgs, code = await read_all(c)
                return msgs, code, time.monotonic() - t0

            msgs, code, took = run(body(), timeout=120)
            rc = wait_exit(srv.proc, 30, "the master after two SIGTERMs")
            err = srv.stop()
            assert rc == 0, err[-4000:]
            assert "again: ending the grace period now" in err, err[-4000:]
            assert code == 1001, code
            assert sorted(m["id"] for m in msgs) == list(range(10)), msgs
            for m in msgs:
                assert same_json(error_of(m, 503).get("data"), SHUTDOWN), m
            # Cancelled well before the 60 s grace (a bound, not a timing).
            assert took < grace / 2, took

        with Server(workers=1, env=env) as srv2:
            got = run(cleanup_records(srv2, tags))
        for t in tags:
            assert len(got[t]) == 1 and same_json(got[t][0],
                                                  rec(t, SHUTDOWN)), \
                (t, got[t])


# ---- supervision -----------------------------------------------------------------

BACKOFF = re.compile(r"keep failing to start \((\d+) in a row\): "
                     r"next start in (\d+) ms")


def test_crash_loop_backs_off_and_stays_alive():
    srv = Server(workers=1, healthy=False,
                 extra_args=["--worker-path", "/bin/false"])
    with srv:
        lines = wait_for(
            lambda: (lambda l: l if len(l) >= 5 else None)(
                BACKOFF.findall(srv.stderr_text())),
            30, "5 backoff log lines")
        delays = [int(d) for _, d in lines]
        runs = [int(n) for n, _ in lines]
        assert all(a <= b for a, b in zip(delays, delays[1:])), delays
        assert delays[-1] > delays[0], delays
        assert runs == sorted(runs), runs
        assert max(delays) <= 10000, delays
        assert srv.health() == 503
        assert srv.proc.poll() is None, "the master died"
        m = scrape(srv.port)
        assert m.value("wspool_workers_ready") == 0
        assert m.value("wspool_worker_starts_total") >= 5, m.text
        # stop(): SIGTERM, exit status 0 within the deadline.


def test_max_calls_per_worker_recycles():
    with Server(workers=1, extra_args=["--max-calls-per-worker", "5"]) as srv:
        async def body():
            pids = []
            async with await Client.connect(srv) as c:
                for _ in range(30):
                    msg = await c.request("whoami", [], timeout=20)
                    assert "result" in msg, msg
                    pids.append(msg["result"]["pid"])
                assert await c.probe() == []
            return pids
        pids = run(body())
        per_pid = Counter(pids)
        assert len(per_pid) > 1, per_pid
        # Recycled after 5 calls: no worker answered more than 5.
        assert max(per_pid.values()) <= 5, per_pid
        assert len(per_pid) >= 6, per_pid


# ---- limits ------------------------------------------------------------------------

def upgrade(port, extra=None):
    """An upgrade request by hand: (status, headers)."""
    hdrs = upgrade_headers(extra=extra)
    status, h, _ = http_request(port, "GET", "/ws", headers=hdrs)
    return status, h


def test_max_connections_refuses_with_503():
    with Server(workers=1, extra_args=["--max-connections", "2"]) as srv:
        async def body():
            a = await Client.connect(srv)
            b = await Client.connect(srv)
            await a.probe()
            await b.probe()
            status, _, body_ = await asyncio.get_running_loop().run_in_executor(
                None, lambda: http_request(srv.port, "GET", "/ws",
                                           headers=upgrade_headers()))
            assert status == 503, (status, body_)
            # The two open connections are unaffected.
            await a.probe()
            await b.probe()
            await a.close()
            # A slot is free again once the server has seen the close.
            c = None
            end = harness.deadline(10)
            while c is None:
                try:
                    c = await Client.connect(srv)
                except harness.websockets.exceptions.InvalidStatusCode as exc:
                    assert exc.status_code == 503, exc
                    assert time.monotonic() < end, "no slot after a close"
                    await asyncio.sleep(0.05)
            await c.probe()
            await c.close()
            await b.close()
        run(body())
        m = scrape(srv.port)
        assert m.value("wspool_connections_refused_total") >= 1, m.text


def test_max_inflight_per_connection_429():
    with Server(workers=1, extra_args=["--max-inflight", "2"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                t = [tag() for _ in range(3)]
                for i in range(3):
                    await c.send({"method": "sleep", "params": [2000, t[i]],
                                  "id": i})
                got = {}
                while len(got) < 3:
                    msg = await c.recv(timeout=20)
                    got[msg["id"]] = msg
                assert got[0] == {"id": 0, "result": 2000}, got
                assert got[1] == {"id": 1, "result": 2000}, got
                error_of(got[2], 429)
                # Below the limit again: accepted.
                assert await c.result("add", [1, 2]) == 3
        run(body())
        m = scrape(srv.port)
        assert m.value("wspool_calls_refused_total", code="429") == 1, m.text


def test_queue_timeout_503_after_waiting():
    args = ["--worker-max-inflight", "1", "--queue-timeout", "0.5"]
    with Server(workers=1, extra_args=args) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                await c.send({"method": "sleep", "params": [4000, tag()],
                              "id": "long"})
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: metric_wait(
                        srv.port, lambda m: m.value(
                            "wspool_calls_in_flight") == 1,
                        10, "the long sleep in flight"))
                await c.send({"method": "echo", "params": ["x"],
                              "id": "second"})
                first = await c.recv(timeout=10)
                e = error_of(first, 503)
                assert first["id"] == "second", first
                # It waited on the queue (not refused for a full queue).
                assert "in time" in e.get("message", ""), e
                last = await c.recv(timeout=10)
                assert last == {"id": "long", "result": 4000}, last
        run(body())
        m = scrape(srv.port)
        assert m.value("wspool_calls_refused_total", code="503") == 1, m.text
        assert m.value("wspool_calls_queued") == 0


def test_worker_max_inflight_queues_the_call():
    with Server(workers=1, extra_args=["--worker-max-inflight", "1"]) as srv:
        async def body():
            async with await Client.connect(srv) as c:
                await c.send({"method": "sleep", "params": [1500, tag()],
                              "id": "first"})
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: metric_wait(
                        srv.port, lambda m: m.value(
                            "wspool_calls_in_flight") == 1,
                        10, "the sleep in flight"))
                await c.send({"method": "echo", "params": ["queued"],
                              "id": "second"})
                m = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: metric_wait(
                        srv.port, lambda m: m.value(
                            "wspool_calls_queued") == 1,
                        10, "the echo on the queue"))
                a = await c.recv(timeout=10)
                b = await c.recv(timeout=10)
                assert a == {"id": "first", "result": 1500}, a
                assert b == {"id": "second", "result": "queued"}, b
                # docs/operations.md: in flight = at a worker, queued =
                # waiting for one; the queued echo is not at a worker.
                assert m.value("wspool_calls_in_flight") == 1, m.text
        run(body())


def test_handshake_timeout_closes_a_silent_connection():
    with Server(workers=1, extra_args=["--handshake-timeout", "1"]) as srv:
        with socket.create_connection(("127.0.0.1", srv.port),
                                      timeout=harness.scaled(10)) as s:
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                raise AssertionError("the server kept a silent connection "
                                     "open past the handshake timeout")
            # The server may say 408 before closing; then it must close.
            while data:
                assert data.startswith(b"HTTP/1.1 408") or \
                    data.startswith(b"HTTP/1.0 408"), data[:200]
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    break
                except socket.timeout:
                    raise AssertionError("no EOF after the 408")
        assert srv.health() == 200


def test_idle_timeout_closes_with_1000():
    with Server(workers=1, extra_args=["--idle-timeout", "1"]) as srv:
        async def body():
            c = await Client.connect(srv)
            await c.probe()          # activity, then silence
            assert await closed_code(c.ws, timeout=15) == 1000
        run(body())


def test_keepalive_ping_then_close_when_silent():
    args = ["--ping-interval", "1", "--pong-timeout", "1"]
    with Server(workers=1, extra_args=args) as srv:
        with RawWS(srv.port, timeout=15) as ws:
            fin, op, payload = ws.read_frame()
            assert op == harness.OP_PING, (op, payload)
            assert fin
            # Never answered: the server gives up on us.
            assert ws.read_close() == 1001


def test_keepalive_pong_keeps_the_connection():
    args = ["--ping-interval", "1", "--pong-timeout", "1"]
    with Server(workers=1, extra_args=args) as srv:
        with RawWS(srv.port, timeout=15) as ws:
            for _ in range(3):
                fin, op, payload = ws.read_frame()
                assert op == harness.OP_PING, (op, payload)
                ws.send_frame(harness.OP_PONG, payload)
            assert ws.call({"method": "add", "params": [2, 3], "id": 1}) == \
                {"id": 1, "result": 5}


def test_allow_origin():
    with Server(workers=1,
                extra_args=["--allow-origin", "https://ok.example"]) as srv:
        assert upgrade(srv.port, {"Origin": "https://evil.example"})[0] == 403
        assert upgrade(srv.port, {"Origin": "https://ok.example"})[0] == 101
        assert upgrade(srv.port)[0] == 101
        with RawWS(srv.port, headers={"Origin": "https://ok.example"}) as ws:
            assert ws.call({"method": "echo", "params": ["hi"], "id": 1}) == \
                {"id": 1, "result": "hi"}


# ---- /metrics -----------------------------------------------------------------------

def test_metrics_match_a_known_workload():
    n_add, n_404 = 37, 4
    with Server(workers=2, env=SAN_ENV) as srv:
        all_ready(srv, 2)
        before = scrape(srv.port)
        assert before.get("wspool_calls_total", route="add",
                          outcome="ok") in (None, 0), before.text
        assert before.get("wspool_calls_refused_total",
                          code="404") in (None, 0), before.text

        async def in_thread(f):
            return await asyncio.get_running_loop().run_in_executor(None, f)

        async def body():
            c = await Client.connect(srv)
            for i in range(n_add):
                assert await c.result("add", [i, 1]) == i + 1
            for i in range(n_404):
                error_of(await c.request("no.such.route%d" % i, []), 404)
            t = tag()
            msg = await c.request("crash", ["segv", t], timeout=20)
            e = error_of(msg, 502)
            assert e.get("data", {}).get("signal") == "SIGSEGV", msg
            # Its cleanup runs on a worker once the crash is handled.
            end = harness.deadline(20)
            while True:
                got = await c.request("cleanups", [t])
                if "result" in got and got["result"]:
                    break
                assert time.monotonic() < end, got
                await asyncio.sleep(0.05)
            m = await in_thread(lambda: metric_wait(
                srv.port,
                lambda m: (m.get("wspool_worker_deaths_total",
                                 reason="SIGSEGV") or 0) >= 1 and
                m.value("wspool_workers_ready") == 2,
                20, "the SIGSEGV death counted and the pool back to 2"))
            await c.close()
            # The client's close is seen: one connection fewer.
            was = m.value("wspool_connections_open")
            await in_thread(lambda: metric_wait(
                srv.port,
                lambda m2: m2.value("wspool_connections_open") <= was - 1,
                10, "wspool_connections_open to drop below %d" % was))
            return m

        m = run(body())
        assert m.value("wspool_calls_total", route="add",
                       outcome="ok") == n_add, m.text
        assert m.value("wspool_calls_refused_total",
                       code="404") == n_404, m.text
        assert m.value("wspool_calls_total", route="crash",
                       outcome="crashed") == 1, m.text
        assert m.value("wspool_worker_deaths_total", reason="SIGSEGV") >= 1
        count = check_histogram(m, "wspool_call_duration_seconds")
        assert count >= n_add, count
        assert m.value("wspool_cleanup_runs_total") >= 1, m.text
        assert m.value("wspool_connections_open") >= 1, m.text
        assert m.value("wspool_connections_accepted_total") >= 1
        assert m.value("wspool_worker_starts_total") >= 3, m.text
        assert m.value("wspool_calls_in_flight") == 0, m.text
        assert m.value("wspool_calls_queued") == 0
        assert m.value("wspool_cleanups_pending") == 0, m.text
        assert m.value("wspool_bytes_received_total") > 0
        assert m.value("wspool_bytes_sent_total") > 0
        for fam, kind in (("wspool_connections_open", "gauge"),
                          ("wspool_connections_accepted_total", "counter"),
                          ("wspool_connections_refused_total", "counter"),
                          ("wspool_calls_total", "counter"),
                          ("wspool_calls_refused_total", "counter"),
                          ("wspool_call_duration_seconds", "histogram"),
                          ("wspool_calls_in_flight", "gauge"),
                          ("wspool_calls_queued", "gauge"),
                          ("wspool_workers_ready", "gauge"),
                          ("wspool_worker_starts_total", "counter"),
                          ("wspool_worker_deaths_total", "counter"),
                          ("wspool_cleanups_pending", "gauge"),
                          ("wspool_cleanup_runs_total", "counter"),
                          ("wspool_cleanups_retried_total", "counter"),
                          ("wspool_cleanups_dropped_total", "counter"),
                          ("wspool_bytes_received_total", "counter"),
                          ("wspool_bytes_sent_total", "counter")):
            assert m.types.get(fam) == kind, (fam, m.types.get(fam))
            assert fam in m.helps, fam
        for name, labels, value in m.samples:
            if m.types.get(m.family(name)) == "counter":
                assert name.endswith("_total") and value >= 0, (name, value)
        # Counters only grow; no new add call, so the same count.
        after = scrape(srv.port)
        assert after.value("wspool_calls_total", route="add",
                           outcome="ok") == n_add
        assert after.value("wspool_calls_refused_total", code="404") == n_404


# ---- configuration ------------------------------------------------------------------

class ConfigServer(Server):
    """A master started with only --config FILE (listen and workers in it)."""

    def __init__(self, lines, **kw):
        super().__init__(**kw)
        self.lines = lines
        self.config_path = None

    def _argv(self):
        self.config_path = os.path.join(self._tmpdir, "wspool.conf")
        with open(self.config_path, "w") as f:
            f.write("# written by test_operations.py\n\n")
            f.write("listen = 127.0.0.1:%d\n" % self.port)
            f.write("journal = %s\n" % self.journal)
            for line in self.lines:
                f.write(line + "\n")
        return harness.wrap_command([harness.MASTER, "--config",
                                     self.config_path])


def test_config_file_starts_a_working_server():
    with ConfigServer(["workers = 3", "  grace=2   ", "# a comment",
                       "log-level = info"]) as srv:
        wait_for(lambda: len(worker_pids(srv.proc.pid)) == 3, 30,
                 "3 workers from the config file")

        async def body():
            async with await Client.connect(srv) as c:
                assert await c.result("add", [40, 2]) == 42
                r = await c.result("whoami", [])
                assert r["pid"] in worker_pids(srv.proc.pid), r
        run(body())
        assert "with 3 workers" in srv.stderr_text()


def run_master(args, env=None, timeout=30):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(harness.wrap_command([harness.MASTER] + args),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=e, timeout=harness.scaled(timeout))


@pytest.mark.parametrize("line,named", [
    ("no-such-option = 1", "no-such-option"),
    ("workers = lots", "workers"),
    ("grace = -1", "grace"),
])
def test_config_file_bad_option_exits_2(tmp_path, line, named):
    conf = tmp_path / "bad.conf"
    conf.write_text("listen = 127.0.0.1:%d\n%s\n" % (harness.free_port(), line))
    p = run_master(["--config", str(conf)])
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert named in p.stderr, p.stderr
    assert not harness.sanitizer_problems(p.stderr), p.stderr


def test_config_file_missing_exits_2(tmp_path):
    p = run_master(["--config", str(tmp_path / "none.conf")])
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "none.conf" in p.stderr, p.stderr


def test_check_demo_module_ok(tmp_path):
    p = run_master(["--check"])
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    p = run_master(["--check", harness.DEMO_SO])
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    conf = tmp_path / "ok.conf"
    conf.write_text("workers = 2\nlisten = 127.0.0.1:%d\n" % harness.free_port())
    p = run_master(["--config", str(conf), "--check"])
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert not harness.sanitizer_problems(p.stderr), p.stderr


def test_check_missing_module_fails(tmp_path):
    missing = str(tmp_path / "no-such-module.so")
    p = run_master(["--check", missing])
    assert p.returncode not in (0, None), (p.returncode, p.stdout, p.stderr)
    assert "no-such-module.so" in p.stderr, p.stderr
    assert not harness.sanitizer_problems(p.stderr), p.stderr


def test_check_module_that_is_not_a_module_fails(tmp_path):
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"\x7fELF this is not a shared object\n")
    p = run_master(["--check", str(bogus)])
    assert p.returncode not in (0, None), (p.returncode, p.stdout, p.stderr)
    assert not harness.sanitizer_problems(p.stderr), p.stderr


def _package_version():
    with open(os.path.join(harness.BUILDDIR, "config.h")) as f:
        m = re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read())
    return m.group(1)


def test_help_and_version():
    p = run_master(["--help"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Usage: wspool-master"), p.stdout[:200]
    for opt in ("--listen", "--workers", "--grace", "--config", "--check",
                "--max-connections", "--allow-origin", "--help", "--version"):
        assert opt in p.stdout, opt
    p = run_master(["--version"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[0].split()[0] == "wspool-master", p.stdout
    assert _package_version() in p.stdout, p.stdout
    p = run_master(["-V"])
    assert p.returncode == 0 and _package_version() in p.stdout
    p = run_master(["--no-such-flag"])
    assert p.returncode == 2, (p.returncode, p.stderr)
