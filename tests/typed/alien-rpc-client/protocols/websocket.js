// websocket.js: a minimal "@alien-rpc/client/protocols/websocket" in the
// shape of alien-rpc's (packages/client/src/protocols/websocket.ts): one
// WebSocket per client, at prefixUrl + "ws"; a request's promise resolves
// with its result or rejects with a ws.RequestError (code, message,
// data); a subscription is a ReadableStream of its results that closes on
// {"close": true}, errors on an error and sends .cancel when cancelled; a
// notification's promise resolves once it is sent. A last argument
// {signal} is the request options, as there. No retries, pings or idle
// timeout: this is for tests.

export default {
  name: 'ws',
  createFunction(route, client, method) {
    if (route.pattern === 'n') {
      return async (...params) => {
        const conn = await connect(client)
        conn.ws.send(JSON.stringify({ method, params }))
      }
    }
    return (...params) => {
      let signal
      if (params.length > 0 && isRequestOptions(params[params.length - 1])) {
        signal = params.pop().signal
      }
      if (route.pattern === 'r') {
        return new Promise((resolve, reject) => {
          call(client, method, params, signal, reject, (msg, done) => {
            done()
            if ('error' in msg) reject(makeRequestError(msg))
            else resolve(msg.result)
          })
        })
      }
      let cancel = () => {}
      return new ReadableStream({
        start(controller) {
          cancel = call(client, method, params, signal,
            (error) => controller.error(error),
            (msg, done) => {
              if ('close' in msg) {
                done()
                controller.close()
              } else if ('error' in msg) {
                done()
                controller.error(makeRequestError(msg))
              } else {
                controller.enqueue(msg.result)
              }
            })
        },
        cancel() {
          cancel()
        },
      })
    }
  },
}

function isRequestOptions(obj) {
  if (obj && Object.getPrototypeOf(obj) === Object.prototype) {
    const keys = Object.keys(obj)
    return (
      keys.length === 1 &&
      keys[0] === 'signal' &&
      (obj.signal === undefined || obj.signal instanceof AbortSignal)
    )
  }
  return false
}

const connections = new WeakMap()

// The client's connection: {ws, nextId, pending: Map id -> onMessage},
// once open.
function connect(client) {
  let ws = client.ws
  if (!ws || ws.readyState > WebSocket.OPEN) {
    const url = new URL('ws', String(client.options.prefixUrl))
    url.protocol = url.protocol.replace('http', 'ws')
    ws = client.ws = new WebSocket(url.href)
    const conn = { ws, nextId: 1, pending: new Map() }
    conn.opened = new Promise((resolve, reject) => {
      ws.addEventListener('open', () => resolve(conn), { once: true })
      ws.addEventListener('error',
        () => reject(new Error('WebSocket failed to connect')), { once: true })
    })
    ws.addEventListener('message', (event) => {
      const msg = JSON.parse(event.data)
      conn.pending.get(msg.id)?.(msg)
    })
    ws.addEventListener('close', () => {
      for (const onMessage of conn.pending.values()) {
        onMessage({ id: null, lost: true })
      }
      conn.pending.clear()
    })
    connections.set(ws, conn)
  }
  return connections.get(ws).opened
}

// Send a call with an id; onMessage(msg, done) gets its answers until
// done() is called. Returns a function that cancels it (.cancel).
function call(client, method, params, signal, fail, onMessage) {
  let id = null
  let conn = null
  let ended = false
  const done = () => {
    ended = true
    if (conn) conn.pending.delete(id)
  }
  const cancel = () => {
    if (ended) return
    done()
    if (conn && conn.ws.readyState === WebSocket.OPEN) {
      conn.ws.send(JSON.stringify({ method: '.cancel', params: [id] }))
    }
  }
  signal?.throwIfAborted()
  signal?.addEventListener('abort', () => {
    cancel()
    fail(signal.reason)
  })
  connect(client).then((c) => {
    if (ended) return
    conn = c
    id = conn.nextId++
    conn.pending.set(id, (msg) => {
      if (msg.lost) {
        done()
        fail(new Error('WebSocket lost connection'))
      } else {
        onMessage(msg, done)
      }
    })
    conn.ws.send(JSON.stringify({ method, params, id }))
  }, fail)
  return cancel
}

function makeRequestError(response) {
  const error = Object.assign(new Error(), response.error)
  error.name = 'ws.RequestError'
  return error
}
