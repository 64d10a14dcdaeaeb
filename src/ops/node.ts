/**
 * The Node server's ops, from its configuration: pino lines on `logTo` (stdout for `npm run
 * serve`; none: no lines), prom-client metrics (always counted; served when METRICS_TOKEN is
 * set), and the in-process per-owner limiter when RATE_LIMIT_REQUESTS is set.
 */
import type { DestinationStream } from 'pino'
import type { OpsConfig } from '../config'
import type { AppDeps } from '../types'
import type { OpsDeps } from './deps'
import { memoryLimiter } from './limiter-node'
import { pinoLog } from './pino'
import { prometheusMetrics } from './prometheus'
import { fanOut } from './telemetry'

export function nodeOps(
  config: OpsConfig,
  options: { logTo?: DestinationStream; queueDepth?: () => number },
): OpsDeps & Pick<AppDeps, 'log'> {
  const metrics = prometheusMetrics(
    options.queueDepth === undefined ? {} : { queueDepth: options.queueDepth },
  )
  const log =
    options.logTo === undefined
      ? undefined
      : pinoLog({ level: config.logLevel, format: config.logFormat, destination: options.logTo })
  return {
    telemetry: log === undefined ? metrics : fanOut(log, metrics),
    ...(config.rateLimit === undefined ? {} : { limiter: memoryLimiter(config.rateLimit) }),
    ...(config.metricsToken === undefined
      ? {}
      : { metrics: { token: config.metricsToken, render: () => metrics.render() } }),
    ...(log === undefined ? {} : { log: (message, error) => log.error(message, error) }),
  }
}
