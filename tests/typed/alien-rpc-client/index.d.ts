// index.d.ts: a stand-in for the types of "@alien-rpc/client" (0.4) that
// generated WebSocket route definitions use, as alien-rpc declares them
// (packages/client/src/types.ts: RouteProtocol, namespace ws,
// RouteFunctions; client.ts: defineClient), trimmed to WebSocket routes.
// alien-rpc is not on the npm registry wspool's tests can reach.

type AnyFn = (...args: any) => any

export type ErrorMode = 'return' | 'reject'

export interface ClientOptions<TErrorMode extends ErrorMode = ErrorMode> {
  /** The base URL: WebSocket routes connect to prefixUrl + "ws". */
  prefixUrl?: string | URL
  errorMode?: TErrorMode | undefined
}

export type RouteProtocol<TRoute> = {
  name: string
  createFunction: (route: TRoute, client: Client, routeName: string) => AnyFn
}

export declare namespace ws {
  export type Route<TCallee extends AnyFn = AnyFn> = {
    protocol: RouteProtocol<Route>
    /**
     * The route's messaging pattern.
     *
     * - `n`: One-way notification (no response).
     * - `r`: Request with one response.
     * - `s`: Subscription with multiple responses.
     */
    pattern: 'n' | 'r' | 's'
    // Doesn't exist at runtime.
    callee: TCallee
  }

  export type RouteFunction<TRoute, TErrorMode extends ErrorMode> =
    TRoute extends ws.Route<(...args: infer TArgs) => infer TResult>
      ? (
          ...args: TArgs
        ) => TRoute['pattern'] extends 'r'
          ? TErrorMode extends 'return'
            ? Promise<[Error, undefined] | [undefined, Awaited<TResult>]>
            : TResult
          : TResult
      : never

  export type RequestOptions = {
    signal?: AbortSignal | undefined
  }

  export interface RequestError extends globalThis.Error {
    name: 'ws.RequestError'
    code: number
    data: unknown
  }
}

export type ClientRoutes = Record<string, ws.Route | Record<string, ws.Route>>

export type RouteFunctions<
  API extends ClientRoutes,
  TErrorMode extends ErrorMode,
> = {
  [K in keyof API]: API[K] extends infer TRoute
    ? TRoute extends Record<string, ws.Route>
      ? RouteFunctions<TRoute, TErrorMode>
      : ws.RouteFunction<TRoute, TErrorMode>
    : never
}

export type Client<
  API extends ClientRoutes = any,
  TErrorMode extends ErrorMode = ErrorMode,
> = {
  readonly options: Readonly<ClientOptions<TErrorMode>>
  ws?: WebSocket
} & RouteFunctions<API, TErrorMode>

export declare function defineClient<
  API extends ClientRoutes,
  TErrorMode extends ErrorMode = 'reject',
>(
  routes: API,
  options?: ClientOptions<TErrorMode>
): Client<API, TErrorMode>
