/**
 * Worker entry: parse the bindings once, build the app over libSQL-over-HTTP, serve. A bad
 * configuration fails closed: every request gets the 500 CONFIG_INVALID problem, which names the
 * variable and never its value.
 */
import { createClient } from '@libsql/client/web'
import { createApp } from './app'
import { createVerifier } from './auth/jwt'
import { parseConfig } from './config'
import { fetchWithDeadline } from './db/client'
import { ReadStore } from './db/reads'
import { TurnStore } from './db/store'
import { ApiError, problemResponse } from './errors'

type Handler = (request: Request) => Response | Promise<Response>

let built: { env: object; handle: Handler } | undefined

function build(env: Record<string, unknown>): Handler {
  try {
    const config = parseConfig(env)
    if (config.libsqlUrl.startsWith('file:')) {
      throw new ApiError(
        'CONFIG_INVALID',
        'Configuration invalid: LIBSQL_URL must be a libsql:, https:, http: or ws(s): URL on Workers',
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
      verify: createVerifier(config.auth),
    })
    return (request) => app.fetch(request)
  } catch (error) {
    const failure =
      error instanceof ApiError
        ? error
        : new ApiError('CONFIG_INVALID', 'Configuration invalid: the worker could not start.')
    console.error(failure.message)
    return () => problemResponse(failure)
  }
}

export default {
  fetch(request: Request, env: Record<string, unknown>): Response | Promise<Response> {
    // Bindings are fixed for an isolate's life; build once, rebuild only if they change.
    if (built?.env !== env) built = { env, handle: build(env) }
    return built.handle(request)
  },
}
