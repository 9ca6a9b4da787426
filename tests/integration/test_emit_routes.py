# test_emit_routes.py: the route manifests. --emit-routes json of the
# demo against its table (demo-routes spec), of tests/typed/odd_module
# name by name; the master's output is the worker's; the errors of the
# emit mode (format, module, names); and GET /routes of a live master.
# (--emit-routes ts is type-checked and used in test_typed_client.mjs.)

import json
import os
import shlex
import subprocess

import pytest

import harness
from harness import http_request

ODD_SO = os.path.join(harness.BUILDDIR, "tests", "typed", ".libs",
                      "odd_module.so")
BAD_SO = os.path.join(harness.BUILDDIR, "tests", "unit", ".libs",
                      "bad_module.so")


def run(argv, env=None):
    e = dict(os.environ)
    e.update(harness.SAN_ENV)
    e.update(env or {})
    p = subprocess.run(harness.wrap_command(argv), stdin=subprocess.DEVNULL,
                       capture_output=True, env=e,
                       timeout=harness.scaled(60))
    assert not harness.sanitizer_problems(p.stderr.decode(errors="replace")), \
        p.stderr
    return p


def emit(program, fmt, module=None, env=None):
    argv = [program, "--emit-routes", fmt] + ([module] if module else [])
    return run(argv, env)


def P(name, type_, optional=False, nullable=False, ts_type=None):
    return {"name": name, "type": type_, "optional": optional,
            "nullable": nullable, "ts_type": ts_type}


def OPT(name, type_):
    return P(name, type_, optional=True, nullable=True)


REASON = ("{kind: string, code?: number, message?: string, signal?: string, "
          "status?: number, worker?: {pid: number, host: string}} | null")

# The demo's table, as the demo-routes spec describes it.
DEMO = [
    ("echo", "request", [OPT("value", "any")], "unknown", True),
    ("add", "request", [P("a", "number"), P("b", "number")], "number", True),
    ("count", "subscription",
     [P("n", "integer"), P("interval_ms", "integer"), OPT("tag", "string")],
     "{count: number, timestamp: number}", False),
    ("sparse", "subscription", [P("n", "integer")], "number | undefined",
     False),
    ("fail", "request",
     [P("code", "integer"), P("message", "string"), OPT("data", "any"),
      OPT("tag", "string")], "never", False),
    ("crash", "request",
     [P("how", "string", ts_type='"segv" | "abort" | "exit" | "oom" | '
        '"stack" | "hang"'), OPT("tag", "string"), OPT("cleanup_ms", "integer")],
     "never", False),
    ("sleep", "request", [P("ms", "integer"), OPT("tag", "string")], "number",
     False),
    ("settle", "request",
     [P("tag", "string"), P("n", "integer"), P("failing", "integer"),
      P("how", "string", ts_type='"error" | "segv"')], '"ok"', False),
    ("note", "notification", [P("tag", "string"), P("value", "any")], None,
     False),
    ("notes", "request", [P("tag", "string")], "unknown[]", True),
    ("cleanups", "request", [P("tag", "string")],
     "{tag: string, index: number, reason: %s}[]" % REASON, True),
    ("whoami", "request", [],
     "{id: string, ip: string, pid: number, headers: Record<string, string>}",
     True),
    ("secret", "request", [], '"granted"', True),
]


def test_the_demo_manifest():
    p = emit(harness.WORKER, "json", harness.DEMO_SO)
    assert p.returncode == 0 and p.stderr == b"", p
    got = json.loads(p.stdout)
    want = [{"name": n, "pattern": pat, "params": params, "rest": False,
             "result_type": result, "idempotent": idem, "timeout_ms": 0}
            for n, pat, params, result, idem in DEMO]
    assert [r["name"] for r in got] == [r["name"] for r in want]
    for g, w in zip(got, want):
        assert g == w, (g, w)
    # One route per line, for diffs.
    assert p.stdout.count(b"\n") == len(DEMO) + 2


def test_the_master_writes_what_the_worker_writes():
    for fmt in ("json", "ts"):
        worker = emit(harness.WORKER, fmt, harness.DEMO_SO)
        assert worker.returncode == 0, worker
        for module in (None, harness.DEMO_SO):
            master = emit(harness.MASTER, fmt, module)
            assert (master.returncode, master.stderr) == (0, b""), master
            assert master.stdout == worker.stdout


def test_odd_names_are_kept_exactly():
    p = emit(harness.WORKER, "json", ODD_SO)
    assert p.returncode == 0 and p.stderr == b"", p
    got = {r["name"]: r for r in json.loads(p.stdout)}
    assert list(got) == ["user.get", "with space", 'quote"back\\slash',
                         "d\u00e9lai\u2028x\n\t\x01", "__proto__", "$ok_1",
                         "1st", "class"]
    assert [q["name"] for q in got["user.get"]["params"]] == [
        "class", "requestOptions", "a", "a", "arg0", None, "rest",
        "with space"]
    assert got["user.get"]["result_type"] == \
        "{\"quoted key\": string, 'single': `tpl`}"
    assert got["with space"]["params"][0] == P(
        "order", "string", nullable=True, ts_type='"asc" | "desc"')
    assert got["with space"]["rest"] is True
    assert got["with space"]["pattern"] == "subscription"
    # No schema: any params.
    assert (got["1st"]["params"], got["1st"]["rest"]) == (None, True)
    # A notification answers nothing, whatever it declares.
    assert got["d\u00e9lai\u2028x\n\t\x01"]["result_type"] is None
    assert (got["$ok_1"]["idempotent"], got["$ok_1"]["timeout_ms"]) == \
        (True, 1500)
    ts = emit(harness.WORKER, "ts", ODD_SO)
    assert ts.returncode == 0, ts
    assert b'\n  "user.get": {protocol: websocket, pattern: "r"} as ' in \
        ts.stdout
    assert b'\n  ["__proto__"]: {' in ts.stdout
    # Escaped, the module's name stays inside its comment line.
    assert ts.stdout.startswith(
        b'// Route definitions of the wspool module "odd \\"module\\"\\n'
        b'// */" for alien-rpc clients.\n')


def test_emitting_does_not_run_init():
    env = {"WSPOOL_ODD_MODULE": "init"}
    check = run([harness.WORKER, "--check", ODD_SO], env)
    assert check.returncode == 1 and b"init failed" in check.stderr, check
    p = emit(harness.WORKER, "json", ODD_SO, env)
    assert p.returncode == 0 and json.loads(p.stdout), p


def test_a_bad_format_is_a_usage_error():
    for program in (harness.WORKER, harness.MASTER):
        p = run([program, "--emit-routes", "yaml", harness.DEMO_SO])
        assert p.returncode == 2, p
        assert b"yaml" in p.stderr and p.stdout == b"", p
        p = run([program, "--emit-routes"])
        assert p.returncode == 2 and p.stdout == b"", p
    p = run([harness.WORKER, "--emit-routes", "yaml", harness.DEMO_SO])
    assert b"--emit-routes wants ts or json, not 'yaml'" in p.stderr, p
    # The worker's emit mode needs a module, not a master.
    p = run([harness.WORKER, "--emit-routes", "ts"])
    assert p.returncode == 2 and b"MODULE.so" in p.stderr, p


@pytest.mark.parametrize("program", ["worker", "master"])
def test_a_module_that_cannot_be_loaded(program, tmp_path):
    exe = harness.WORKER if program == "worker" else harness.MASTER
    missing = str(tmp_path / "no-such-module.so")
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"\x7fELF this is not a shared object\n")
    for module in (missing, str(bogus)):
        for fmt in ("ts", "json"):
            p = emit(exe, fmt, module)
            assert p.returncode == 1, p
            assert os.path.basename(module).encode() in p.stderr, p
            assert p.stdout == b"", p


def test_a_module_that_cannot_be_written():
    # Refused at load: a type expression that would break the output.
    p = emit(harness.WORKER, "ts", BAD_SO, {"WSPOOL_BAD_MODULE": "result_type"})
    assert p.returncode == 1 and p.stdout == b"", p
    assert b"route one: bad result_type: unbalanced brackets" in p.stderr, p
    p = emit(harness.MASTER, "json", BAD_SO, {"WSPOOL_BAD_MODULE": "ts_type"})
    assert p.returncode == 1 and p.stdout == b"", p
    assert b"',' or ';' outside brackets" in p.stderr, p
    # A route name that is not UTF-8: no output at all, not half of it.
    for fmt in ("ts", "json"):
        p = emit(harness.WORKER, fmt, ODD_SO, {"WSPOOL_ODD_MODULE": "not_utf8"})
        assert p.returncode == 1 and p.stdout == b"", p
        assert b"route 6: the name is not UTF-8" in p.stderr, p


# ---- GET /routes ------------------------------------------------------------

def manifest(port):
    status, headers, body = http_request(port, "GET", "/routes")
    assert status == 200, (status, body)
    assert headers["content-type"] == "application/json", headers
    assert headers.get("cache-control") == "no-store", headers
    return json.loads(body)


def test_get_routes_of_a_live_master(server):
    got = manifest(server.port)
    assert [(r["name"], r["pattern"]) for r in got] == \
        [(n, pat) for n, pat, _, _, _ in DEMO]
    idempotent = {n: idem for n, _, _, _, idem in DEMO}
    # The default --call-timeout (30 s) for requests and notifications,
    # none for subscriptions.
    for r in got:
        assert set(r) == {"name", "pattern", "idempotent", "timeout_ms",
                          "deadline_ms"}, r
        assert r["idempotent"] == idempotent[r["name"]], r
        assert r["timeout_ms"] == 0, r
        assert r["deadline_ms"] == (
            None if r["pattern"] == "subscription" else 30000), r
    # Plain GET only: an upgrade to /routes is no WebSocket path.
    status = http_request(server.port, "GET", "/routes", headers={
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13"})[0]
    assert status == 404


def test_get_routes_is_503_until_a_worker_tells_them(tmp_path):
    # The cleanup runner loads the module too and tells the routes when it
    # is ready: a worker program whose runner never joins (it only sleeps)
    # leaves the hand-started worker to tell them. Its other modes (the
    # module's digest) are the real program's.
    wrapper = tmp_path / "worker-without-runner"
    wrapper.write_text('#!/bin/sh\ncase " $* " in *" --runner "*) '
                       'exec sleep 3600 ;; esac\nexec %s "$@"\n'
                       % shlex.quote(harness.WORKER))
    wrapper.chmod(0o755)
    with harness.Server(workers=0, worker_listen=True, healthy=False,
                        module=ODD_SO,
                        extra_args=["--call-timeout", "2.5",
                                    "--worker-path", str(wrapper)]) as srv:
        status, headers, body = http_request(srv.port, "GET", "/routes")
        assert status == 503, (status, body)
        assert body == b"no worker has told the routes yet\n"
        with harness.Worker(srv.worker_address, ODD_SO):
            got = harness.wait_for(
                lambda: http_request(srv.port, "GET", "/routes")[0] == 200
                and manifest(srv.port), 30, "GET /routes 200")
        # The table stays known when its worker has gone.
        assert manifest(srv.port) == got
    by_name = {r["name"]: r for r in got}
    assert list(by_name) == ["user.get", "with space", 'quote"back\\slash',
                             "d\u00e9lai\u2028x\n\t\x01", "__proto__",
                             "$ok_1", "1st", "class"]
    assert by_name["$ok_1"]["timeout_ms"] == 1500
    assert by_name["$ok_1"]["deadline_ms"] == 1500
    assert by_name["user.get"]["deadline_ms"] == 2500
    assert by_name["with space"]["deadline_ms"] is None
    assert by_name["d\u00e9lai\u2028x\n\t\x01"]["pattern"] == "notification"
