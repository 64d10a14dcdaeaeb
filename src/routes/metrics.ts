/**
 * `GET /metrics`: Prometheus text, behind its own bearer token (METRICS_TOKEN), never an ingest
 * token. Mounted only when the token is set; otherwise the path is a 404 like any unknown one.
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { HTTPException } from 'hono/http-exception'
import { ApiError } from '../errors'
import type { MetricsSource } from '../ops/deps'
import type { AppEnv } from '../types'

/** Hono's bearerAuth (a constant-time compare), its refusals turned into our 401 problem. */
function requireMetricsToken(token: string): MiddlewareHandler<AppEnv> {
  // Typed for Hono's default Env; it reads only the Authorization header.
  const check = bearerAuth({ token }) as unknown as MiddlewareHandler<AppEnv>
  return async function requireMetricsToken(c, next) {
    try {
      await check(c, next)
    } catch (error) {
      if (!(error instanceof HTTPException)) throw error
      throw new ApiError('UNAUTHORIZED', 'A valid METRICS_TOKEN bearer token is required.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' },
      })
    }
  }
}

export function metricsRoutes(source: MetricsSource) {
  return new Hono<AppEnv>().get('/', requireMetricsToken(source.token), async (c) => {
    const { contentType, body } = await source.render()
    return c.body(body, 200, { 'content-type': contentType })
  })
}
