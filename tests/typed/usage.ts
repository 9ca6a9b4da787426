// usage.ts: what the generated definitions promise an alien-rpc client,
// checked by tsc --strict --noEmit (never run): each demo route's
// params and result types, and misuse refused (an @ts-expect-error with
// no error under it fails the check too). api.ts and odd.ts are written
// by wspool-master --emit-routes ts (the demo) and wspool-worker
// --emit-routes ts (tests/typed/odd_module).
import { defineClient, type ws } from '@alien-rpc/client'
import routes from './api.js'
import oddRoutes from './odd.js'

// True when A and B are the same type.
type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2
    ? true
    : false
function same<A, B>(ok: Equals<A, B>) {
  return ok
}

const api = defineClient(routes, { prefixUrl: 'http://127.0.0.1:8080/' })

export async function demo(signal: AbortSignal) {
  same<number, Awaited<ReturnType<typeof api.add>>>(true)
  same<Promise<number>, ReturnType<typeof api.add>>(true)
  same<Promise<unknown>, ReturnType<typeof api.echo>>(true)
  same<ReadableStream<{ count: number; timestamp: number }>,
    ReturnType<typeof api.count>>(true)
  same<ReadableStream<number | undefined>, ReturnType<typeof api.sparse>>(true)
  same<Promise<void>, ReturnType<typeof api.note>>(true)
  same<Promise<unknown[]>, ReturnType<typeof api.notes>>(true)
  same<Promise<never>, ReturnType<typeof api.fail>>(true)
  same<Promise<'ok'>, ReturnType<typeof api.settle>>(true)
  same<Promise<'granted'>, ReturnType<typeof api.secret>>(true)
  same<[a: number, b: number, requestOptions?: ws.RequestOptions],
    Parameters<typeof api.add>>(true)

  const sum: number = await api.add(1, 2.5, { signal })
  const me = await api.whoami()
  const pid: number = me.pid
  const auth: string | undefined = me.headers['authorization']
  for (const record of await api.cleanups('tag')) {
    const kind: string | undefined = record.reason?.kind
    const index: number = record.index
  }
  api.echo()
  api.echo({ any: ['value'] })
  api.count(3, 0)
  api.count(3, 0, 'tag')
  api.count(3, 0, null, { signal })
  api.note('tag', 5)
  api.crash('segv')
  api.fail(418, "I'm a teapot", { some: 'data' }, null)
  api.settle('tag', 2, 1, 'error')

  // @ts-expect-error: add takes numbers
  api.add('1', 2)
  // @ts-expect-error: b is required
  api.add(1)
  // @ts-expect-error: one param too many
  api.add(1, 2, 3)
  // @ts-expect-error: count's tag is a string
  api.count(3, 0, 7)
  // @ts-expect-error: crash's how is one of a few words
  api.crash('explode')
  // @ts-expect-error: settle's how is "error" or "segv"
  api.settle('tag', 1, 0, 'abort')
  // @ts-expect-error: note takes a value
  api.note('tag')
  // @ts-expect-error: whoami takes no params
  api.whoami(1)
  // @ts-expect-error: not a route
  api.nope()
  // @ts-expect-error: a notification answers nothing
  const nothing: number = await api.note('tag', 1)
  return [sum, pid, auth, nothing]
}

// The odd module: keys exactly as the routes are named, params renamed
// where TypeScript could not take them.
const odd = defineClient(oddRoutes, { prefixUrl: 'http://127.0.0.1:8080/' })

export async function oddities() {
  const got: { 'quoted key': string; single: `tpl` } =
    await odd['user.get']('s', 1, true, null, 2, 3)
  odd['user.get']('s', 1, true, null, 2, 3, [], { a: 1 })
  odd['user.get']('s', 1, true, null, 2, 3, undefined, null, {})
  same<ReadableStream<(x: number) => void>,
    ReturnType<(typeof odd)['with space']>>(true)
  odd['with space']('asc', null, 1, 'and', 'more', 'params')
  odd['with space'](null, null, undefined)
  // @ts-expect-error: order is "asc" or "desc"
  odd['with space']('up', null, 1)
  odd['quote"back\\slash'](1, 'two', { three: 3 })
  same<Promise<void>, ReturnType<(typeof odd)['délai\u2028x\n\t\u0001']>>(true)
  const proto: null = await odd['__proto__']()
  await odd.$ok_1()
  await odd['1st']()
  const map: Map<string, [number, { a: 1; b: 2 }]> = await odd.class()
  return [got, proto, map]
}
