/**
 * The request log and request metrics: one RequestLine per request, written when its answer is
 * made, with the ingest counts the pipeline reported to the request's observer (c.var.observer).
 */
import type { Context, MiddlewareHandler } from 'hono'
import { databaseCodeOf, toDatabaseError } from '../db/errors'
import { ApiError } from '../errors'
import type { AppEnv } from '../types'
import { type RequestLine, RequestRecord, type Telemetry } from './telemetry'

/**
 * The matched route pattern: a bounded set of values for logs and metric labels. A known path
 * refused for its method (405) keeps its path; any other path no route knows is `unmatched`.
 */
const routeOf = (c: Context<AppEnv>): string => {
  const path = c.req.routePath
  if (path !== '' && !path.includes('*')) return path
  return c.error instanceof ApiError && c.error.code === 'METHOD_NOT_ALLOWED'
    ? c.req.path
    : 'unmatched'
}

/**
 * Observe every request below it: a request line to `telemetry` when it is answered.
 *
 * @example
 * ```ts
 * app.use(requestId(), observe(fanOut(consoleTelemetry(), analytics)))
 * ```
 */
export function observe(telemetry: Telemetry): MiddlewareHandler<AppEnv> {
  return async function observe(c, next) {
    const started = performance.now()
    const record = new RequestRecord(telemetry, () => ({
      request_id: c.var.requestId,
      route: routeOf(c),
    }))
    c.set('observer', record)
    await next()
    const error = c.error
    const code =
      error instanceof ApiError
        ? error.code
        : error !== undefined
          ? 'INTERNAL'
          : c.res.status === 404
            ? 'NOT_FOUND'
            : undefined
    const route = routeOf(c)
    // A database failure outside the pipeline (readiness): logged here, classified the same way.
    if (code === 'DATABASE_UNAVAILABLE' && record.databaseFailures === 0) {
      const cause = error instanceof ApiError ? error.cause : error
      const dbCode = databaseCodeOf(cause)
      telemetry.databaseFailure({
        time: new Date().toISOString(),
        request_id: c.var.requestId,
        route,
        db_class: toDatabaseError(cause).kind,
        ...(dbCode === undefined ? {} : { db_code: dbCode }),
      })
    }
    const tally = record.tally
    const owner = c.get('owner') as string | undefined
    const line: RequestLine = {
      time: new Date().toISOString(),
      request_id: c.var.requestId,
      method: c.req.method,
      route,
      status: c.res.status,
      ...(owner === undefined ? {} : { owner }),
      ...(tally === undefined
        ? {}
        : {
            lines: tally.lines,
            accepted: tally.accepted,
            rejected: tally.rejected,
            bytes: tally.bytes,
            chunks: tally.chunks,
            rejected_by_code: tally.rejectedByCode,
            commit_ms: round(record.commitMs),
            commit_max_ms: round(record.commitMaxMs),
          }),
      duration_ms: round(performance.now() - started),
      ...(code === undefined ? {} : { error_code: code }),
    }
    telemetry.request(line)
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100
