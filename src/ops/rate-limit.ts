/**
 * The per-owner rate limit: decided after authentication and before a byte of the body is read.
 * Over the limit: a 429 RATE_LIMITED problem with `Retry-After` and the httpapi draft's
 * structured fields, `RateLimit-Policy: "owner";q=600;w=60` and `RateLimit: "owner";r=0;t=41`.
 * The counting is the limiter's: in-process on Node, the Rate Limiting binding on Workers.
 */
import type { MiddlewareHandler } from 'hono'
import { ApiError } from '../errors'
import type { AppEnv } from '../types'

export type RateLimitPolicy = { requests: number; periodS: number }

/** One request counted against an owner; what is known of the window after it. */
export type RateDecision = {
  allowed: boolean
  /** Requests left in the window; undefined where the limiter does not say (Workers). */
  remaining: number | undefined
  /** Seconds until the window frees a request; undefined where unknown. */
  resetS: number | undefined
}

export interface OwnerLimiter {
  readonly policy: RateLimitPolicy
  take(owner: string): Promise<RateDecision>
}

const policyField = (p: RateLimitPolicy) => `"owner";q=${p.requests};w=${p.periodS}`

/** The answer headers of a decision: the policy always, the rest as far as it is known. */
export function rateLimitHeaders(policy: RateLimitPolicy, d: RateDecision): Record<string, string> {
  const remaining = d.remaining ?? (d.allowed ? undefined : 0)
  const headers: Record<string, string> = { 'RateLimit-Policy': policyField(policy) }
  if (remaining !== undefined) {
    headers.RateLimit = `"owner";r=${remaining}${d.resetS === undefined ? '' : `;t=${d.resetS}`}`
  }
  if (!d.allowed) headers['Retry-After'] = String(d.resetS ?? policy.periodS)
  return headers
}

/**
 * Count the request against `c.var.owner` (mount it after requireOwner); no limiter: no limit.
 *
 * @example
 * ```ts
 * app.post('/v1/ingest', requireOwner(verify), rateLimit(limiter), handler)
 * ```
 */
export function rateLimit(limiter: OwnerLimiter | undefined): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    if (limiter === undefined) return next()
    const decision = await limiter.take(c.var.owner)
    const headers = rateLimitHeaders(limiter.policy, decision)
    if (!decision.allowed) {
      throw new ApiError(
        'RATE_LIMITED',
        `More than ${limiter.policy.requests} requests in ${limiter.policy.periodS} s for this owner; nothing was read. Retry after Retry-After seconds.`,
        { headers },
      )
    }
    await next()
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value)
  }
}
