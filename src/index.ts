/**
 * Worker entry: parse the bindings once, build the app over libSQL-over-HTTP, serve. A bad
 * configuration fails closed: every request gets the 500 CONFIG_INVALID problem, which names the
 * variable and never its value.
 */
import { createClient } from '@libsql/client/web'
import { createApp } from './app'
import { createVerifier } from './auth/jwt'
import { parseConfig, WORKERS_MAX_CHUNKS } from './config'
import { fetchWithDeadline } from './db/client'
import { ReadStore } from './db/reads'
import { TurnStore } from './db/store'
import { ApiError, problemResponse } from './errors'

type Handler = (request: Request) => Response | Promise<Response>

let built: { env: object; handle: Handler } | undefined

function build(env: Record<string, unknown>): Handler {
  try {
    const config = parseConfig(env, { INGEST_MAX_CHUNKS: WORKERS_MAX_CHUNKS })
    // No file on Workers; and a WebSocket opened by one request cannot be used by the next
    // (workerd ties I/O objects to the request that made them), so ws:/wss: would fail after one.
    const protocol = new URL(config.libsqlUrl).protocol
    if (!['libsql:', 'https:', 'http:'].includes(protocol)) {
      throw new ApiError(
        'CONFIG_INVALID',
        `Configuration invalid: LIBSQL_URL must be a libsql:, https: or http: URL on Workers (${protocol} is not supported here)`,
      )
    }
    const client = createClient({
      url: config.libsqlUrl,
      ...(config.libsqlAuthToken === undefined ? {} : { authToken: config.libsqlAuthToken }),
      fetch: fetchWithDeadline(config.libsqlTimeoutMs),
    })
    const app = createApp({
      limits: config.ingest,
      store: new TurnStore(client),
      reads: new ReadStore(client),
      verify: createVerifier(config.auth, { retryAfterS: config.ingest.retryAfterS }),
    })
    return (request) => app.fetch(request)
  } catch (error) {
    const failure =
      error instanceof ApiError
        ? error
        : new ApiError('CONFIG_INVALID', 'Configuration invalid: the worker could not start.')
    console.error(failure.message)
    return (request) => withRequestId(problemResponse(failure), request)
  }
}

/** The request id the app would have answered with, on the answer given without the app. */
function withRequestId(response: Response, request: Request): Response {
  const id = request.headers.get('x-request-id')?.slice(0, 128) || crypto.randomUUID()
  response.headers.set('x-request-id', id)
  return response
}

export default {
  fetch(request: Request, env: Record<string, unknown>): Response | Promise<Response> {
    // Bindings are fixed for an isolate's life; build once, rebuild only if they change.
    if (built?.env !== env) built = { env, handle: build(env) }
    return built.handle(request)
  },
}
