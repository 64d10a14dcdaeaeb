/**
 * One request's facts, and where they go: a log line per request and per database failure, and
 * the metrics. Node sends them to pino and prom-client, the Worker to console (Workers Logs) and
 * Analytics Engine. Nothing here ever holds a token, a secret or a line's content.
 */
import type { DatabaseFailure, IngestObserver, IngestTally } from '../types'

/** The log line of one request (its field names are the documented log fields). */
export type RequestLine = {
  time: string
  request_id: string
  method: string
  /** The matched route pattern (bounded: never a raw path), `unmatched` for a 404. */
  route: string
  status: number
  owner?: string
  lines?: number
  accepted?: number
  rejected?: number
  bytes?: number
  chunks?: number
  duration_ms: number
  /** The problem's code, when the answer is a problem. */
  error_code?: string
  /** Rejected lines by line error code (ingest only). */
  rejected_by_code?: Readonly<Record<string, number>>
  /** Sum and maximum of the chunk commit times, ms (ingest only). */
  commit_ms?: number
  commit_max_ms?: number
}

/** The log line of one database failure. */
export type DatabaseFailureLine = {
  time: string
  request_id: string
  route: string
  /** `data`: a value was refused (the line is rejected); `unavailable`: the database failed. */
  db_class: DatabaseFailure['kind']
  /** SQLite's code, e.g. SQLITE_CONSTRAINT_CHECK, when the driver gave one. */
  db_code?: string
}

export interface Telemetry {
  request(line: RequestLine): void
  /** One chunk transaction committed; `ms` its commit time. */
  chunkCommitted(ms: number): void
  databaseFailure(line: DatabaseFailureLine): void
}

/** Every telemetry in turn (a log and a metrics sink, say). */
export const fanOut = (...sinks: Telemetry[]): Telemetry => ({
  request: (line) => {
    for (const sink of sinks) sink.request(line)
  },
  chunkCommitted: (ms) => {
    for (const sink of sinks) sink.chunkCommitted(ms)
  },
  databaseFailure: (line) => {
    for (const sink of sinks) sink.databaseFailure(line)
  },
})

/** What one request gathers, as the pipeline's observer, until its line is written. */
export class RequestRecord implements IngestObserver {
  readonly #telemetry: Telemetry
  readonly #base: () => { request_id: string; route: string }
  tally: IngestTally | undefined
  commitMs = 0
  commitMaxMs = 0
  databaseFailures = 0

  constructor(telemetry: Telemetry, base: () => { request_id: string; route: string }) {
    this.#telemetry = telemetry
    this.#base = base
  }

  chunkCommitted(_lines: number, ms: number): void {
    this.commitMs += ms
    if (ms > this.commitMaxMs) this.commitMaxMs = ms
    this.#telemetry.chunkCommitted(ms)
  }

  databaseFailed(failure: DatabaseFailure): void {
    this.databaseFailures++
    this.#telemetry.databaseFailure({
      time: new Date().toISOString(),
      ...this.#base(),
      db_class: failure.kind,
      ...(failure.code === undefined ? {} : { db_code: failure.code }),
    })
  }

  finished(tally: IngestTally): void {
    this.tally = tally
  }
}
