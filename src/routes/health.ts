/** Liveness and readiness. */
import { Hono } from 'hono'
import { ApiError } from '../errors'
import type { AppDeps, AppEnv } from '../types'

export function healthRoutes(deps: AppDeps) {
  return (
    new Hono<AppEnv>()
      /** The process answers; the database is not touched. */
      .get('/healthz', (c) => c.json({ status: 'ok' }))
      /** The database answers `select 1`. */
      .get('/readyz', async (c) => {
        try {
          await deps.store.ping()
        } catch (cause) {
          throw new ApiError('DATABASE_UNAVAILABLE', 'The database did not answer.', {
            headers: { 'Retry-After': String(deps.limits.retryAfterS) },
            cause,
          })
        }
        return c.json({ status: 'ready' })
      })
  )
}
