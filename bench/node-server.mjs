// node-server.mjs: the Node.js baseline of wspool's benchmarks: npm `ws`
// serving the demo routes in-process, the way alien-rpc does on Node (one
// process, handlers awaited per message, subscriptions as async generators
// sent chunk by chunk), speaking the same wire protocol (spec/wire-protocol.md).
//
// Usage: node node-server.mjs [--listen HOST:PORT] [--ws-path /ws]
// Prints "listening HOST:PORT" on stdout when ready; /healthz answers 200.

import http from 'node:http'
import { WebSocketServer } from 'ws'

function arg(name, dflt) {
  const i = process.argv.indexOf(name)
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt
}

const listen = arg('--listen', '127.0.0.1:8081')
const wsPath = arg('--ws-path', '/ws')
const colon = listen.lastIndexOf(':')
const host = listen.slice(0, colon)
const port = Number(listen.slice(colon + 1))
const MAX_MESSAGE = 1 << 20
const MAX_INFLIGHT = 1024

class RouteError extends Error {
  constructor(code, message, data) {
    super(message)
    this.code = code
    this.data = data
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(t)
      reject(signal.reason)
    }, { once: true })
  })

// The declared schema of `add`: two numbers, checked before the handler.
function checkAdd(params) {
  for (let i = 0; i < 2; i++) {
    if (i >= params.length)
      throw new RouteError(400, 'Expected number', { path: `/${i}`, value: null })
    if (typeof params[i] !== 'number')
      throw new RouteError(400, 'Expected number', { path: `/${i}`, value: params[i] })
  }
  if (params.length > 2)
    throw new RouteError(400, 'Unexpected property', { path: '/2', value: params[2] })
}

// The demo routes the benchmarks use (and a few more of the demo module's).
const routes = {
  echo: { pattern: 'request', handler: async (value, _ctx) => value },
  add: { pattern: 'request', schema: checkAdd, handler: async (a, b, _ctx) => a + b },
  count: {
    pattern: 'subscription',
    handler: async function* (n, intervalMs, _tag, ctx) {
      for (let i = 0; i < n; i++) {
        yield { count: i, timestamp: Date.now() }
        if (intervalMs > 0 && i + 1 < n) await sleep(intervalMs, ctx.signal)
      }
    },
  },
  sparse: {
    pattern: 'subscription',
    handler: async function* (n, _ctx) {
      for (let i = 0; i < n; i++) yield i % 2 === 0 ? i : undefined
    },
  },
  fail: {
    pattern: 'request',
    handler: async (code, message, data, _ctx) => {
      const c = Number.isInteger(code) && code >= 400 && code <= 599 ? code : 500
      throw new RouteError(c, String(message), data)
    },
  },
  sleep: {
    pattern: 'request',
    handler: async (ms, _tag, ctx) => {
      await sleep(ms, ctx.signal)
      return ms
    },
  },
}

function send(ws, obj) {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(obj))
}

function errorObject(err) {
  if (err instanceof RouteError) {
    const e = { code: err.code, message: err.message }
    if (err.data !== undefined) e.data = err.data
    return e
  }
  return { code: 500, message: err instanceof Error ? err.message : String(err) }
}

async function runCall(ws, pending, msg) {
  const { method, id } = msg
  const params = msg.params === undefined ? [] : msg.params
  const route = routes[method]
  if (!route) {
    if (id !== undefined) send(ws, { id, error: { code: 404, message: 'Not Found' } })
    return
  }
  if (!Array.isArray(params)) {
    if (id !== undefined) send(ws, { id, error: { code: 400, message: 'params must be an array' } })
    return
  }
  const ctrl = new AbortController()
  const ctx = { signal: ctrl.signal, id: ws.connId, ip: ws.remoteIp }
  if (id !== undefined) {
    if (pending.has(id)) {
      send(ws, { id, error: { code: 400, message: 'id already in flight' } })
      return
    }
    if (pending.size >= MAX_INFLIGHT) {
      send(ws, { id, error: { code: 429, message: 'Too Many Requests' } })
      return
    }
    pending.set(id, ctrl)
  }
  try {
    if (route.schema) route.schema(params)
    // Positional params, padded to the handler's arity, then the context.
    const arity = route.handler.length - 1
    const args = params.length >= arity
      ? [...params.slice(0, Math.max(arity, 0)), ctx]
      : [...params, ...Array(arity - params.length).fill(undefined), ctx]
    const result = await route.handler(...args)
    if (id === undefined) return
    if (route.pattern === 'subscription') {
      for await (const chunk of result) {
        if (ctrl.signal.aborted) return
        send(ws, chunk === undefined ? { id } : { id, result: chunk })
      }
      if (!ctrl.signal.aborted) send(ws, { id, close: true })
    } else if (!ctrl.signal.aborted) {
      send(ws, { id, result })
    }
  } catch (err) {
    if (id !== undefined && !ctrl.signal.aborted) send(ws, { id, error: errorObject(err) })
  } finally {
    if (id !== undefined && pending.get(id) === ctrl) pending.delete(id)
  }
}

function validId(id) {
  return (Number.isInteger(id) && id >= 0 && id <= Number.MAX_SAFE_INTEGER) ||
    (typeof id === 'string' && Buffer.byteLength(id) <= 256)
}

function onMessage(ws, pending, data, isBinary) {
  if (isBinary) {
    ws.close(1003, 'binary messages are not supported')
    return
  }
  let msg
  try {
    msg = JSON.parse(data)
  } catch {
    send(ws, { id: null, error: { code: 400, message: 'Invalid JSON' } })
    return
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg) ||
      typeof msg.method !== 'string') {
    send(ws, { id: null, error: { code: 400, message: 'Not a call' } })
    return
  }
  if (msg.method === '.ping') {
    send(ws, { pong: true })
    return
  }
  if (msg.method === '.cancel') {
    const target = Array.isArray(msg.params) && msg.params.length > 0 ? msg.params[0] : msg.id
    const ctrl = pending.get(target)
    if (ctrl) {
      pending.delete(target)
      ctrl.abort({ kind: 'cancelled' })
    }
    return
  }
  if (msg.id !== undefined && !validId(msg.id)) {
    send(ws, { id: null, error: { code: 400, message: 'Invalid id' } })
    return
  }
  runCall(ws, pending, msg)
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0]
  if (path === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n')
  } else if (path === wsPath) {
    res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' }).end('Upgrade Required\n')
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found\n')
  }
})

const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE, clientTracking: false })
let nextConn = 0

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0]
  if (path !== wsPath) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
    return
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.connId = `node-${process.pid}-${nextConn++}`
    ws.remoteIp = req.socket.remoteAddress
    const pending = new Map()
    ws.on('message', (data, isBinary) => onMessage(ws, pending, data, isBinary))
    ws.on('close', () => {
      for (const ctrl of pending.values()) ctrl.abort({ kind: 'disconnected' })
      pending.clear()
    })
    ws.on('error', () => {})
  })
})

server.listen(port, host, () => {
  const a = server.address()
  process.stdout.write(`listening ${a.address}:${a.port}\n`)
})

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close()
    process.exit(0)
  })
}
