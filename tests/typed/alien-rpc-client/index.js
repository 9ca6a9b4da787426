// index.js: a stand-in for "@alien-rpc/client"'s defineClient, as its
// client.ts builds a client: a proxy that turns each route of the
// generated definitions into a function made by the route's protocol,
// named by its key (nested objects prefix their keys, "scope.").

export function defineClient(routes, options = {}) {
  const client = { options: { errorMode: 'reject', ...options }, ws: undefined }
  return createClientProxy(routes, client, '')
}

function createClientProxy(routes, client, keyPrefix) {
  const cache = new Map()
  return new Proxy(client, {
    get(target, key) {
      if (typeof key === 'string' && Object.hasOwn(routes, key)) {
        let value = cache.get(key)
        if (!value) {
          const route = routes[key]
          value =
            route.protocol && typeof route.protocol.createFunction === 'function'
              ? route.protocol.createFunction(route, target, keyPrefix + key)
              : createClientProxy(route, target, keyPrefix + key + '.')
          cache.set(key, value)
        }
        return value
      }
      return target[key]
    },
  })
}
