/**
 * Node's metrics, in a prom-client registry of their own (one per server, so several servers in
 * one process never share counters), rendered as Prometheus text by `GET /metrics`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Telemetry } from './telemetry'

const LINE_ERROR_CODES = [
  'INVALID_JSON',
  'NOT_AN_OBJECT',
  'INVALID_FIELD',
  'INVALID_UTF8',
  'LINE_TOO_LARGE',
  'DB_CONSTRAINT',
]

export type PrometheusMetrics = Telemetry & {
  readonly registry: Registry
  render(): Promise<{ contentType: string; body: string }>
}

/** `queueDepth` is read at each scrape: the batches sent to the writer thread and not answered. */
export function prometheusMetrics(options: { queueDepth?: () => number } = {}): PrometheusMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const requests = new Counter({
    name: 'tributary_http_requests_total',
    help: 'Requests answered, by route pattern and status.',
    labelNames: ['route', 'status'],
    registers,
  })
  const duration = new Histogram({
    name: 'tributary_http_request_duration_seconds',
    help: 'Time from the request to its answer, by route pattern.',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  })
  const linesRead = new Counter({
    name: 'tributary_ingest_lines_total',
    help: 'Physical lines read from ingest bodies (blank ones included).',
    registers,
  })
  const accepted = new Counter({
    name: 'tributary_ingest_lines_accepted_total',
    help: 'Lines committed to the database.',
    registers,
  })
  const rejected = new Counter({
    name: 'tributary_ingest_lines_rejected_total',
    help: 'Lines rejected, by line error code.',
    labelNames: ['code'],
    registers,
  })
  const bytes = new Counter({
    name: 'tributary_ingest_bytes_total',
    help: 'Decompressed body bytes read.',
    registers,
  })
  const commit = new Histogram({
    name: 'tributary_chunk_commit_duration_seconds',
    help: 'Time to commit one chunk transaction.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  })
  const dbErrors = new Counter({
    name: 'tributary_database_errors_total',
    help: 'Database failures, by class: data (a value refused) or unavailable.',
    labelNames: ['class'],
    registers,
  })
  const { queueDepth } = options
  new Gauge({
    name: 'tributary_writer_queue_depth',
    help: 'Chunk batches sent to the writer thread and not yet answered (embedded database).',
    registers,
    collect() {
      this.set(queueDepth?.() ?? 0)
    },
  })
  // Every series exists from the start, so a rate() or an alert has a zero to start from.
  for (const code of LINE_ERROR_CODES) rejected.labels(code).inc(0)
  for (const kind of ['data', 'unavailable']) dbErrors.labels(kind).inc(0)

  return {
    registry,
    request(line) {
      requests.labels(line.route, String(line.status)).inc()
      duration.labels(line.route).observe(line.duration_ms / 1000)
      if (line.lines !== undefined) linesRead.inc(line.lines)
      if (line.accepted !== undefined) accepted.inc(line.accepted)
      if (line.bytes !== undefined) bytes.inc(line.bytes)
      for (const [code, count] of Object.entries(line.rejected_by_code ?? {})) {
        rejected.labels(code).inc(count)
      }
    },
    chunkCommitted(ms) {
      commit.observe(ms / 1000)
    },
    databaseFailure(line) {
      dbErrors.labels(line.db_class).inc()
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
  }
}
