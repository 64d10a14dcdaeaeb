/**
 * The Worker's ops: request and database-failure lines through `console` as objects (Workers Logs
 * indexes their fields), counters through an Analytics Engine dataset when one is bound, and the
 * per-owner limit through the Rate Limiting binding. The bindings are typed here structurally.
 */
import type { OpsConfig } from '../config'
import { ApiError } from '../errors'
import type { OwnerLimiter, RateLimitPolicy } from './rate-limit'
import { type DatabaseFailureLine, fanOut, type RequestLine, type Telemetry } from './telemetry'

/** The Rate Limiting binding (`[[ratelimits]]`). */
export type RateLimitBinding = { limit(options: { key: string }): Promise<{ success: boolean }> }

/** An Analytics Engine dataset binding (`[[analytics_engine_datasets]]`). */
export type AnalyticsDataset = {
  writeDataPoint(point: { blobs?: string[]; doubles?: number[]; indexes?: string[] }): void
}

export const isRateLimitBinding = (value: unknown): value is RateLimitBinding =>
  typeof (value as RateLimitBinding | undefined)?.limit === 'function'

export const isAnalyticsDataset = (value: unknown): value is AnalyticsDataset =>
  typeof (value as AnalyticsDataset | undefined)?.writeDataPoint === 'function'

/** Workers Logs: one structured object per line. */
export const consoleTelemetry = (): Telemetry => ({
  request: (line) => console.log({ msg: 'request', ...line }),
  chunkCommitted: () => {},
  databaseFailure: (line) => console.error({ msg: 'database failure', ...line }),
})

/**
 * Analytics Engine: one data point per request and one per database failure (the dataset
 * allows 250 per invocation; chunk commit times travel summed in the request's point).
 * Request point: blobs [kind, route, status, error code, rejected by code as JSON],
 * doubles [1, lines, accepted, rejected, bytes, chunks, duration ms, commit ms, commit max ms],
 * index: route. Failure point: blobs [kind, route, class, SQLite code], doubles [1].
 */
export const analyticsTelemetry = (dataset: AnalyticsDataset): Telemetry => ({
  request: (line: RequestLine) =>
    dataset.writeDataPoint({
      indexes: [line.route],
      blobs: [
        'request',
        line.route,
        String(line.status),
        line.error_code ?? '',
        JSON.stringify(line.rejected_by_code ?? {}),
      ],
      doubles: [
        1,
        line.lines ?? 0,
        line.accepted ?? 0,
        line.rejected ?? 0,
        line.bytes ?? 0,
        line.chunks ?? 0,
        line.duration_ms,
        line.commit_ms ?? 0,
        line.commit_max_ms ?? 0,
      ],
    }),
  chunkCommitted: () => {},
  databaseFailure: (line: DatabaseFailureLine) =>
    dataset.writeDataPoint({
      indexes: [line.route],
      blobs: ['database_failure', line.route, line.db_class, line.db_code ?? ''],
      doubles: [1],
    }),
})

/**
 * The binding counts per Cloudflare location, over its own `period` (10 or 60 s) and `limit`
 * from wrangler.toml; `policy` only describes them in the answer headers. It does not say
 * what remains, so only a refusal carries `RateLimit` (r=0). A binding that fails lets the
 * request through: a limiter outage must not stop ingest.
 */
export function bindingLimiter(binding: RateLimitBinding, policy: RateLimitPolicy): OwnerLimiter {
  return {
    policy,
    async take(owner) {
      try {
        const { success } = await binding.limit({ key: owner })
        return { allowed: success, remaining: undefined, resetS: undefined }
      } catch (error) {
        console.error({ msg: 'rate limiter failed; request let through', error: String(error) })
        return { allowed: true, remaining: undefined, resetS: undefined }
      }
    },
  }
}

/**
 * The Worker's ops from its configuration and bindings: console lines always, Analytics Engine
 * when `METRICS` is bound, the `RATE_LIMITER` binding when RATE_LIMIT_REQUESTS is set (which then
 * must be bound, with RATE_LIMIT_PERIOD_S the binding's period, 10 or 60).
 */
export function workerOps(
  config: OpsConfig,
  env: Record<string, unknown>,
): { telemetry: Telemetry; limiter?: OwnerLimiter } {
  const dataset = env.METRICS
  const telemetry = isAnalyticsDataset(dataset)
    ? fanOut(consoleTelemetry(), analyticsTelemetry(dataset))
    : consoleTelemetry()
  const policy = config.rateLimit
  if (policy === undefined) return { telemetry }
  if (policy.periodS !== 10 && policy.periodS !== 60) {
    throw new ApiError(
      'CONFIG_INVALID',
      'Configuration invalid: RATE_LIMIT_PERIOD_S must be 10 or 60 on Workers (the Rate Limiting binding)',
    )
  }
  if (!isRateLimitBinding(env.RATE_LIMITER)) {
    throw new ApiError(
      'CONFIG_INVALID',
      'Configuration invalid: RATE_LIMIT_REQUESTS is set but no RATE_LIMITER binding ([[ratelimits]]) is configured',
    )
  }
  return { telemetry, limiter: bindingLimiter(env.RATE_LIMITER, policy) }
}
