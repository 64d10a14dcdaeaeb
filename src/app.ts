/**
 * createApp(deps): the Hono app shared by the Worker and Node entries. Request id, problem+json
 * for every whole-request failure, routes mounted per resource. Reads no environment: tests build
 * it with a test database and test keys, the entries with real ones.
 */
import { Hono } from 'hono'
import { ApiError, problemResponse } from './errors'
import type { OpsDeps } from './ops/deps'
import { observe } from './ops/observe'
import { requestId } from './ops/request-id'
import { healthRoutes } from './routes/health'
import { ingestRoutes } from './routes/ingest'
import { metricsRoutes } from './routes/metrics'
import { openapiRoutes } from './routes/openapi'
import { sessionsRoutes } from './routes/sessions'
import { usageRoutes } from './routes/usage'
import { webRoutes } from './routes/web'
import type { AppDeps, AppEnv } from './types'

const allowed: Record<string, string> = {
  '/v1/ingest': 'POST',
  '/healthz': 'GET, HEAD',
  '/readyz': 'GET, HEAD',
  '/': 'GET, HEAD',
  '/v1/sessions': 'GET, HEAD',
  '/v1/usage': 'GET, HEAD',
  '/openapi.json': 'GET, HEAD',
}

/** The methods of a known path; every path under /v1/sessions/ is a read. */
const allowedAt = (path: string): string | undefined =>
  allowed[path] ?? (path.startsWith('/v1/sessions/') ? 'GET, HEAD' : undefined)

export function createApp(deps: AppDeps & OpsDeps) {
  const log = deps.log ?? ((message, error) => console.error(message, error))
  const info = deps.info ?? ((message) => console.info(message))
  const app = new Hono<AppEnv>()

  app.use(requestId())
  if (deps.telemetry !== undefined) app.use(observe(deps.telemetry))

  // Wrong methods on known paths are answered before authentication.
  app.use(async function methodNotAllowed(c, next) {
    const allow = allowedAt(c.req.path)
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method
    if (allow !== undefined && !allow.split(', ').includes(method)) {
      throw new ApiError(
        'METHOD_NOT_ALLOWED',
        `${c.req.method} is not allowed here; use ${allow}.`,
        {
          headers: { Allow: allow },
        },
      )
    }
    await next()
  })

  app.route('/', healthRoutes(deps))
  app.route('/v1/ingest', ingestRoutes(deps))
  app.route('/', webRoutes())
  app.route('/v1/sessions', sessionsRoutes(deps))
  app.route('/v1/usage', usageRoutes(deps))
  app.route('/', openapiRoutes())
  if (deps.metrics !== undefined) app.route('/metrics', metricsRoutes(deps.metrics))

  app.notFound((c) =>
    problemResponse(new ApiError('NOT_FOUND', `No route for ${c.req.path}.`), c.var.requestId),
  )
  app.onError((error, c) => {
    if (error instanceof ApiError) {
      // The client went away mid-body: its mistake, not a server failure; one line at info.
      if (error.code === 'BODY_INCOMPLETE') {
        const stored = error.committed?.accepted ?? 0
        info(`client gone ${c.req.method} ${c.req.path}: ${stored} lines committed`)
      }
      if (error.status >= 500)
        log(`${error.code} ${c.req.method} ${c.req.path}`, error.cause ?? error)
      return problemResponse(error, c.var.requestId)
    }
    log(`INTERNAL ${c.req.method} ${c.req.path}`, error)
    return problemResponse(
      new ApiError('INTERNAL', 'The request failed unexpectedly.'),
      c.var.requestId,
    )
  })
  return app
}
