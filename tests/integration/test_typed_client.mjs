// test_typed_client.mjs: --emit-routes ts as an alien-rpc app uses it.
// The demo's definitions (wspool-master --emit-routes ts) and odd_module's
// (wspool-worker --emit-routes ts) type-check with tsc --strict --noEmit,
// with tests/typed/usage.ts stating what they promise a client; compiled
// to JS, they drive a real master through a minimal alien-rpc client
// (tests/typed/alien-rpc-client: defineClient and the websocket protocol,
// in the shape of alien-rpc's) on Node's built-in WebSocket.
//
// npm typescript is installed once into the build tree
// ($WSPOOL_BUILDDIR/tests/typed/node); without npm or its registry the
// tests are skipped, saying why. Run with node --test (run-node.sh).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { BUILDDIR, MASTER, Master, waitFor } from './harness.mjs';

const SRCDIR = process.env.WSPOOL_SRCDIR ||
  path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKER = path.join(BUILDDIR, 'worker', 'wspool-worker');
const ODD_SO = path.join(BUILDDIR, 'tests', 'typed', '.libs', 'odd_module.so');
const TYPED = path.join(SRCDIR, 'tests', 'typed');
const WORK = path.join(BUILDDIR, 'tests', 'typed', 'node');
const TSC = path.join(WORK, 'node_modules', 'typescript', 'bin', 'tsc');

function run(argv, options = {}) {
  const r = spawnSync(argv[0], argv.slice(1), {
    encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300000, ...options,
  });
  return { status: r.status, signal: r.signal, out: r.stdout ?? '', err: r.stderr ?? '',
    error: r.error };
}

function show(r) {
  return `status ${r.status} ${r.signal ?? ''}\n${r.out}\n${r.err}`;
}

// Copy a file or a tree as new files of our own: a source tree may be
// read-only (make distcheck), and these copies are rewritten.
function copy(src, dst) {
  fs.rmSync(dst, { recursive: true, force: true });
  if (fs.statSync(src).isDirectory()) {
    fs.mkdirSync(dst, { recursive: true });
    for (const name of fs.readdirSync(src)) copy(path.join(src, name), path.join(dst, name));
  } else {
    fs.writeFileSync(dst, fs.readFileSync(src));
  }
}

// The TypeScript compiler in the build tree: installed once, as
// bench/compare installs npm ws. Returns why not, or null.
function setUp() {
  fs.mkdirSync(WORK, { recursive: true });
  copy(path.join(TYPED, 'package.json'), path.join(WORK, 'package.json'));
  if (!fs.existsSync(path.join(WORK, 'node_modules', 'typescript', 'package.json'))) {
    const npm = run(['npm', 'install', '--no-audit', '--no-fund', '--silent'], { cwd: WORK });
    if (npm.error?.code === 'ENOENT') {
      return 'no npm (Debian: npm) to install the TypeScript compiler';
    }
    if (npm.error || npm.status !== 0) {
      return `npm install typescript failed in ${WORK} (${npm.error ?? show(npm)})`;
    }
  }
  // The stand-in for @alien-rpc/client, fresh each run (npm install may
  // prune what it did not install).
  copy(path.join(TYPED, 'alien-rpc-client'),
    path.join(WORK, 'node_modules', '@alien-rpc', 'client'));
  for (const f of ['tsconfig.json', 'usage.ts']) {
    copy(path.join(TYPED, f), path.join(WORK, f));
  }
  fs.rmSync(path.join(WORK, 'out'), { recursive: true, force: true });
  return null;
}

// Each test is skipped, with the reason, when there is no compiler.
const skip = setUp() ?? false;

// Write a generated file, checking the program said nothing else.
function emit(argv, file) {
  const r = run(argv);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.err, '', show(r));
  fs.writeFileSync(path.join(WORK, file), r.out);
  return r.out;
}

test('the definitions type-check with tsc --strict --noEmit', { skip }, () => {
  const api = emit([MASTER, '--emit-routes', 'ts'], 'api.ts');
  assert.match(api, /^import type \{ ws \} from "@alien-rpc\/client"$/m);
  assert.match(api, /^import websocket from "@alien-rpc\/client\/protocols\/websocket"$/m);
  assert.ok(api.includes('\n  add: {protocol: websocket, pattern: "r"} as ws.Route<(a: number, ' +
    'b: number, requestOptions?: ws.RequestOptions) => Promise<number>>,\n'), api);
  emit([WORKER, '--emit-routes', 'ts', ODD_SO], 'odd.ts');
  const tsc = run([process.execPath, TSC, '--strict', '--noEmit', '-p', WORK]);
  assert.equal(tsc.status, 0, `tsc found errors:\n${show(tsc)}`);
});

test('a type error in the use of the definitions fails the check', { skip }, () => {
  // The check is real: the same project with one wrong call does not pass.
  const bad = path.join(WORK, 'usage.ts');
  const good = fs.readFileSync(bad, 'utf8');
  try {
    fs.writeFileSync(bad, good + '\nexport const wrong: string = await api.add(1, 2)\n');
    const tsc = run([process.execPath, TSC, '--strict', '--noEmit', '-p', WORK]);
    assert.notEqual(tsc.status, 0, show(tsc));
    assert.match(tsc.out, /usage\.ts.*error TS2322: Type 'number' is not assignable to type 'string'/);
  } finally {
    fs.writeFileSync(bad, good);
  }
});

// ---- a client of a live master ----------------------------------------

const master = new Master({ prefix: 'wspool-typed-' });
let port = 0;

after(async () => { if (master.proc !== null) await master.stop(); });

// The master's calls in flight (at a worker), from /metrics.
async function inFlight() {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const m = /^wspool_calls_in_flight (\d+)$/m.exec(await res.text());
  assert.ok(m, 'no wspool_calls_in_flight in /metrics');
  return Number(m[1]);
}

async function readAll(stream) {
  const out = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

const tag = () => `t-${Math.random().toString(16).slice(2)}${Date.now()}`;

test('a Node client calls the demo routes through them', { skip, timeout: 120000 }, async () => {
  // The definitions of the first test, compiled to JS next to usage.js.
  const tsc = run([process.execPath, TSC, '-p', WORK]);
  assert.equal(tsc.status, 0, show(tsc));
  const routes = (await import(pathToFileURL(path.join(WORK, 'out', 'api.js')))).default;
  const { defineClient } = await import(
    pathToFileURL(path.join(WORK, 'node_modules', '@alien-rpc', 'client', 'index.js')));
  assert.deepEqual(Object.keys(routes), ['echo', 'add', 'count', 'sparse', 'fail', 'crash',
    'sleep', 'settle', 'note', 'notes', 'cleanups', 'whoami', 'secret']);
  assert.deepEqual({ ...routes.count, protocol: routes.count.protocol.name },
    { protocol: 'ws', pattern: 's' });

  await master.start();
  port = master.port;
  const api = defineClient(routes, { prefixUrl: `http://127.0.0.1:${port}/` });
  try {
    // Requests resolve with their result.
    assert.equal(await api.add(1, 2), 3);
    assert.equal(await api.add(0.5, 0.25), 0.75);
    const value = { a: [1, 'x', null, { b: true }], s: 'é\u2028' };
    assert.deepEqual(await api.echo(value), value);
    assert.equal(typeof (await api.whoami()).pid, 'number');

    // Subscriptions are streams that end at close.
    const counts = await readAll(api.count(3, 0));
    assert.deepEqual(counts.map((c) => c.count), [0, 1, 2]);
    assert.ok(counts.every((c) => typeof c.timestamp === 'number'), counts);
    assert.deepEqual(await readAll(api.sparse(4)), [0, undefined, 2, undefined]);

    // A notification resolves once sent; its effect shows in notes.
    const t = tag();
    assert.equal(await api.note(t, { v: 1 }), undefined);
    assert.deepEqual(await waitFor(() => api.notes(t), (v) => v.length > 0, 20000, 'the note'),
      [{ v: 1 }]);

    // Errors reject with code, message and data.
    await assert.rejects(api.fail(418, "I'm a teapot", { why: 'tea' }), (e) => {
      assert.equal(e.name, 'ws.RequestError');
      assert.equal(e.code, 418);
      assert.equal(e.message, "I'm a teapot");
      assert.deepEqual(e.data, { why: 'tea' });
      return true;
    });
    await assert.rejects(api.secret(), { name: 'ws.RequestError', code: 401 });
    // What the types refuse, the server refuses too (JS has no types).
    await assert.rejects(api.add('1', 2), (e) => {
      assert.equal(e.code, 400);
      assert.deepEqual(e.data, { path: '/0', value: '1' });
      return true;
    });

    // Cancelling a stream, or aborting a request, cancels the call.
    const t2 = tag();
    const reader = api.count(1000, 20, t2).getReader();
    assert.equal((await reader.read()).value.count, 0);
    await reader.cancel();
    // The first chunk came after the cleanup's registration: it runs,
    // with the reason the .cancel gave.
    const records = await waitFor(() => api.cleanups(t2), (v) => v.length > 0, 20000,
      'the cleanup of the cancelled count');
    assert.equal(records.length, 1, JSON.stringify(records));
    assert.equal(records[0].reason?.kind, 'cancelled', JSON.stringify(records));
    const ctl = new AbortController();
    const slow = api.sleep(30000, tag(), { signal: ctl.signal });
    await waitFor(inFlight, (n) => n === 1, 20000, "the sleep in flight");
    ctl.abort(new Error('enough'));
    await assert.rejects(slow, /enough/);
    // Without the .cancel, the sleep would stay in flight for 30 s.
    await waitFor(inFlight, (n) => n === 0, 20000, 'no call in flight');
  } finally {
    api.ws?.close();
  }
});
