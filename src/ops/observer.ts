/**
 * What the ingest pipeline tells an observer of one request: called once per chunk commit and
 * once at the end, never per line, so observing costs nothing on the per-line path. A leaf
 * module: the pipeline and the ops code both import it, it imports nothing.
 */

/** A database failure as classified at the db boundary: `data` (a value refused) or `unavailable`. */
export type DatabaseFailure = { kind: 'data' | 'unavailable'; code: string | undefined }

/** The request's counts when it ended, successfully or not (what was committed). */
export type IngestTally = {
  lines: number
  accepted: number
  rejected: number
  bytes: number
  chunks: number
  /** Rejected lines by line error code. */
  rejectedByCode: Readonly<Record<string, number>>
}

export interface IngestObserver {
  /** A chunk transaction committed `lines` lines in `ms` milliseconds. */
  chunkCommitted(lines: number, ms: number): void
  /** A chunk commit failed. */
  databaseFailed(failure: DatabaseFailure): void
  /** The pipeline finished (or stopped); called once. */
  finished(tally: IngestTally): void
}
