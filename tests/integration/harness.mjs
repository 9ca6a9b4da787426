// harness.mjs: what the Node tests share (harness.py's counterpart): a
// real master on a free loopback port, started, polled until healthy and
// stopped with SIGTERM, its output checked for sanitizer reports; and
// waiting for a condition with a deadline.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const BUILDDIR = process.env.WSPOOL_BUILDDIR || process.cwd();
export const MASTER = path.join(BUILDDIR, 'master', 'wspool-master');
const SANITIZER_MARKERS = ['AddressSanitizer', 'runtime error:', 'LeakSanitizer'];

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
}

// Poll fn until ok(its value) (deadline in ms); returns the value.
export async function waitFor(fn, ok, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() >= end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await delay(50);
  }
}

// A wspool-master with the demo module (or args' own), its output in logs.
export class Master {
  constructor({ args = [], env = {}, prefix = 'wspool-node-' } = {}) {
    this.args = args;
    this.env = env;
    this.tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.proc = null;
    this.port = 0;
    this.logs = '';
  }

  async healthz() {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/healthz`,
        { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  // Start it and poll /healthz until 200 (deadline 30 s); retry on a port
  // that was taken meanwhile.
  async start() {
    for (let attempt = 0; attempt < 5; attempt++) {
      this.port = await freePort();
      this.logs = '';
      const proc = spawn(MASTER, ['--listen', `127.0.0.1:${this.port}`, '--workers', '2',
        '--journal', path.join(this.tmpdir, `journal-${attempt}`), ...this.args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, WSPOOL_DEMO_LOG: path.join(this.tmpdir, 'demo.log'), ...this.env },
      });
      this.proc = proc;
      proc.stdout.on('data', (d) => { this.logs += d; });
      proc.stderr.on('data', (d) => { this.logs += d; });
      let exited = null;
      proc.on('exit', (code, sig) => { exited = { code, sig }; });
      const end = Date.now() + 30000;
      while (Date.now() < end && exited === null) {
        if (await this.healthz() === 200) return this;
        await delay(50);
      }
      if (exited !== null && /in use/i.test(this.logs)) continue;
      if (exited === null) proc.kill('SIGKILL');
      throw new Error(`master not healthy (exit ${JSON.stringify(exited)}):\n${this.logs}`);
    }
    throw new Error('no free port');
  }

  // SIGTERM: it must exit 0 (SIGKILL after 15 s), with no sanitizer report.
  async stop() {
    const proc = this.proc;
    if (proc !== null && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
      const { code, sig } = await exited;
      clearTimeout(timer);
      assert.equal(sig, null, `master killed by ${sig}:\n${this.logs}`);
      assert.equal(code, 0, `master exit status after SIGTERM:\n${this.logs}`);
    }
    for (const m of SANITIZER_MARKERS) {
      assert.ok(!this.logs.includes(m), `${m} in the master's output:\n${this.logs}`);
    }
    fs.rmSync(this.tmpdir, { recursive: true, force: true });
  }
}
