/** Node's per-owner limiter: in-process (one instance's count), over rate-limiter-flexible. */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { OwnerLimiter, RateLimitPolicy } from './rate-limit'

export function memoryLimiter(policy: RateLimitPolicy): OwnerLimiter {
  const limiter = new RateLimiterMemory({ points: policy.requests, duration: policy.periodS })
  return {
    policy,
    async take(owner) {
      try {
        const res = await limiter.consume(owner)
        return {
          allowed: true,
          remaining: res.remainingPoints,
          resetS: Math.ceil(res.msBeforeNext / 1000),
        }
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error
        return {
          allowed: false,
          remaining: 0,
          resetS: Math.max(1, Math.ceil(error.msBeforeNext / 1000)),
        }
      }
    },
  }
}
