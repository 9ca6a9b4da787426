// websocket.d.ts: the type alien-rpc's protocols/websocket.ts gets from its
// `export default {name: 'ws' as const, createFunction(...) {...}}`.
import type { Client, ws } from '../index.js'

declare const _default: {
  name: 'ws'
  createFunction(
    route: ws.Route,
    client: Client,
    method: string
  ): (...params: any[]) => Promise<any> | ReadableStream<any>
}
export default _default
