/** The messages between the writer thread and the WriterThread driving it, typed on both sides. */
import type { InValue } from '@libsql/client'
import type { Upsert } from '../../db/statements'
import type { Refusal } from '../../types'

/** What the thread is started with. */
export type WriterData = {
  /** The database file. */
  path: string
  busyTimeoutMs: number
}

/**
 * A batch's turn upserts arrive as its chunk is parsed (`append`), its session upserts when it is
 * sealed (`seal`); `run` writes it as one transaction, `drop` lets it go. With the turns go their
 * lines' own session rows (`lineSessions`, the values of one row a line, in line order), written
 * only when a multi-row statement is refused and the lines are written one by one.
 */
export type ToThread =
  | { op: 'append'; id: number; statement: Upsert; lineSessions: InValue[] }
  | { op: 'seal'; id: number; sessions: Upsert[]; turns: Upsert[]; lineSessions: InValue[] }
  | { op: 'run'; id: number }
  | { op: 'drop'; id: number }
  | { op: 'ping'; id: number }
  | { op: 'close' }

/** `ready` once the database is open; then one answer per `run` or `ping`. */
export type FromThread =
  | { ready: true }
  | { id: number; ok: true; refused: Refusal[] }
  | { id: number; ok: false; error: { message: string; code?: string } }
