/**
 * createApp(deps): the Hono app shared by the Worker and Node entries. Request id, problem+json
 * for every whole-request failure, routes mounted per resource. Reads no environment: tests build
 * it with a test database and test keys, the entries with real ones.
 */
import { type Context, Hono } from 'hono'
import type { Verifier } from './auth/jwt'
import type { IngestLimits } from './config'
import { ApiError, problemResponse } from './errors'
import type { ContentEncoding } from './ingest/body'
import type { BodyReader, ChunkWriter } from './ingest/pipeline'
import { observe } from './ops/observe'
import type { OwnerLimiter } from './ops/rate-limit'
import { requestId } from './ops/request-id'
import type { Telemetry } from './ops/telemetry'
import { healthRoutes } from './routes/health'
import { ingestRoutes } from './routes/ingest'
import { type MetricsSource, metricsRoutes } from './routes/metrics'
import type { AppEnv } from './types'

export type AppDeps = {
  limits: IngestLimits
  store: ChunkWriter & { ping(): Promise<void> }
  verify: Verifier
  /**
   * How a request's body is read and inflated. By default from the web Request, through
   * DecompressionStream (openBody: the Worker); the Node server reads its IncomingMessage instead
   * (src/node/body.ts).
   */
  readBody?: (c: Context<AppEnv>, encoding: ContentEncoding) => BodyReader | null
  /** Runs after each chunk commit (the Node entry yields to the event loop there). */
  afterCommit?: () => Promise<void>
  /** Where unexpected errors are reported; console.error by default. */
  log?: (message: string, error: unknown) => void
  /** Request and database-failure lines, and metrics; none: not observed. */
  telemetry?: Telemetry
  /** The per-owner rate limit of authenticated routes; none: no limit. */
  limiter?: OwnerLimiter
  /** `GET /metrics`; none: no such route. */
  metrics?: MetricsSource
}

const allowed: Record<string, string> = {
  '/v1/ingest': 'POST',
  '/healthz': 'GET, HEAD',
  '/readyz': 'GET, HEAD',
}

export function createApp(deps: AppDeps) {
  const log = deps.log ?? ((message, error) => console.error(message, error))
  const app = new Hono<AppEnv>()

  app.use(requestId())
  if (deps.telemetry !== undefined) app.use(observe(deps.telemetry))

  // Wrong methods on known paths are answered before authentication.
  app.use(async function methodNotAllowed(c, next) {
    const allow = allowed[c.req.path]
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
  if (deps.metrics !== undefined) app.route('/metrics', metricsRoutes(deps.metrics))

  app.notFound((c) =>
    problemResponse(new ApiError('NOT_FOUND', `No route for ${c.req.path}.`), c.var.requestId),
  )
  app.onError((error, c) => {
    if (error instanceof ApiError) {
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
