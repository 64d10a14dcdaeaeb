/** What createApp takes for operating tributary, beside AppDeps; every part optional. */
import type { OwnerLimiter } from './rate-limit'
import type { Telemetry } from './telemetry'

/** The Prometheus text of `GET /metrics`, and the bearer token that may read it. */
export type MetricsSource = {
  token: string
  render(): Promise<{ contentType: string; body: string }>
}

export type OpsDeps = {
  /** Request and database-failure lines, and metrics; none: not observed. */
  telemetry?: Telemetry
  /** The per-owner rate limit of authenticated routes; none: no limit. */
  limiter?: OwnerLimiter
  /** `GET /metrics`; none: no such route. */
  metrics?: MetricsSource
}
