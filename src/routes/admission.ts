/**
 * Bounds per process (per isolate on Workers), not only per request: at most `maxConcurrent`
 * ingests in flight, and `maxConcurrentPerOwner` of one owner. Beyond, the answer comes at once,
 * before a byte of the body is read: 503 OVERLOADED or 429 TOO_MANY_REQUESTS, with Retry-After.
 * Once the server is shutting down, new ingests get 503 SHUTTING_DOWN.
 */
import type { MiddlewareHandler } from 'hono'
import { ApiError } from '../errors'
import type { AppEnv, IngestLimits } from '../types'

/**
 * @example
 * ```ts
 * new Hono<AppEnv>().post('/', requireOwner(verify), admitIngest(limits), handler)
 * ```
 */
export function admitIngest(
  limits: Pick<IngestLimits, 'maxConcurrent' | 'maxConcurrentPerOwner' | 'retryAfterS'>,
  shutdown?: AbortSignal,
): MiddlewareHandler<AppEnv> {
  let total = 0
  const perOwner = new Map<string, number>()
  const headers = { 'Retry-After': String(limits.retryAfterS) }
  return async function admitIngest(c, next) {
    if (shutdown?.aborted === true) {
      throw new ApiError('SHUTTING_DOWN', 'The server is shutting down; send this body again.', {
        headers,
      })
    }
    const owner = c.var.owner
    const mine = perOwner.get(owner) ?? 0
    if (mine >= limits.maxConcurrentPerOwner) {
      throw new ApiError(
        'TOO_MANY_REQUESTS',
        `This owner already has ${mine} ingests in flight (INGEST_MAX_CONCURRENT_PER_OWNER); nothing was read. Send this body again after the others finish.`,
        { headers },
      )
    }
    if (total >= limits.maxConcurrent) {
      throw new ApiError(
        'OVERLOADED',
        `${total} ingests are in flight (INGEST_MAX_CONCURRENT); nothing was read. Send this body again later.`,
        { headers },
      )
    }
    total++
    perOwner.set(owner, mine + 1)
    try {
      await next()
    } finally {
      total--
      const left = (perOwner.get(owner) ?? 1) - 1
      if (left === 0) perOwner.delete(owner)
      else perOwner.set(owner, left)
    }
  }
}
