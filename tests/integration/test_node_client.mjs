// test_node_client.mjs: a real master driven by Node's built-in WebSocket
// (the client alien-rpc users have), checking the exact JSON messages of
// echo, add, count, sparse, fail and .ping. Run with
// node --experimental-websocket --test; WSPOOL_BUILDDIR names the build tree.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';

import { Master } from './harness.mjs';

const master = new Master();
let port = 0;

// A client that queues parsed messages and hands them out with a timeout.
class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.raw = [];
    ws.addEventListener('message', (ev) => {
      assert.equal(typeof ev.data, 'string', 'a text message');
      this.raw.push(ev.data);
      const msg = JSON.parse(ev.data);
      const w = this.waiters.shift();
      if (w) w(msg); else this.queue.push(msg);
    });
  }

  static async open() {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('open timed out')), 10000);
      ws.addEventListener('open', () => { clearTimeout(t); resolve(); });
      ws.addEventListener('error', (e) => { clearTimeout(t); reject(e); });
    });
    return new Client(ws);
  }

  send(obj) { this.ws.send(JSON.stringify(obj)); }

  next(ms = 10000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const done = (msg) => { clearTimeout(t); resolve(msg); };
      this.waiters.push(done);
    });
  }

  async close() {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = once(this.ws, 'close');
    this.ws.close(1000);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('close timed out')), 10000);
    });
    try {
      const [ev] = await Promise.race([closed, timeout]);
      return ev.code;
    } finally {
      clearTimeout(timer);
    }
  }
}

before(async () => { await master.start(); port = master.port; });

after(async () => { await master.stop(); });

test('echo returns the value unchanged', async () => {
  const c = await Client.open();
  const value = { a: [1, 2.5, 'x\u00e9\u{1F642}', null, true], b: {} };
  c.send({ method: 'echo', params: [value], id: 1 });
  assert.deepStrictEqual(await c.next(), { id: 1, result: value });
  c.send({ method: 'echo', params: ['str'], id: 'sid' });
  assert.deepStrictEqual(await c.next(), { id: 'sid', result: 'str' });
  assert.equal(await c.close(), 1000);
});

test('add, and its schema errors', async () => {
  const c = await Client.open();
  c.send({ method: 'add', params: [2, 40], id: 1 });
  assert.deepStrictEqual(await c.next(), { id: 1, result: 42 });
  c.send({ method: 'add', params: [2], id: 2 });
  const err = await c.next();
  assert.equal(err.id, 2);
  assert.equal(err.error.code, 400);
  assert.deepStrictEqual(err.error.data, { path: '/1', value: null });
  await c.close();
});

test('count subscription: chunks in order, then close', async () => {
  const c = await Client.open();
  const t0 = Date.now();
  c.send({ method: 'count', params: [3, 10], id: 5 });
  for (let i = 0; i < 3; i++) {
    const m = await c.next();
    assert.deepStrictEqual(Object.keys(m).sort(), ['id', 'result']);
    assert.equal(m.id, 5);
    assert.deepStrictEqual(Object.keys(m.result).sort(), ['count', 'timestamp']);
    assert.equal(m.result.count, i);
    assert.ok(Number.isInteger(m.result.timestamp));
    assert.ok(m.result.timestamp >= t0 - 1000 && m.result.timestamp <= Date.now() + 1000);
  }
  assert.deepStrictEqual(await c.next(), { id: 5, close: true });
  await c.close();
});

test('sparse: undefined chunks have no result key', async () => {
  const c = await Client.open();
  c.send({ method: 'sparse', params: [4], id: 'sp' });
  const got = [];
  for (let i = 0; i < 5; i++) got.push(await c.next());
  assert.deepStrictEqual(got, [
    { id: 'sp', result: 0 }, { id: 'sp' }, { id: 'sp', result: 2 }, { id: 'sp' },
    { id: 'sp', close: true },
  ]);
  assert.ok(!('result' in got[1]) && !('result' in got[3]));
  await c.close();
});

test('fail passes the error through', async () => {
  const c = await Client.open();
  c.send({ method: 'fail', params: [418, 'teapot', { why: ['short', 'stout'] }], id: 3 });
  assert.deepStrictEqual(await c.next(), {
    id: 3, error: { code: 418, message: 'teapot', data: { why: ['short', 'stout'] } },
  });
  c.send({ method: 'fail', params: [42, 'odd'], id: 4 });
  const m = await c.next();
  assert.equal(m.id, 4);
  assert.equal(m.error.code, 500);
  await c.close();
});

test('.ping and an unknown route', async () => {
  const c = await Client.open();
  c.send({ method: '.ping' });
  assert.deepStrictEqual(await c.next(), { pong: true });
  c.send({ method: 'nope', params: [], id: 9 });
  const m = await c.next();
  assert.equal(m.id, 9);
  assert.equal(m.error.code, 404);
  assert.equal(m.error.message, 'Not Found');
  await c.close();
});
