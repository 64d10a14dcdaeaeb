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

/**
 * `ready` once the database is open; then one answer per `run` or `ping`. A message the thread
 * cannot read fails its batch (its `run` answers the error); one that names no batch is answered
 * `malformed`.
 */
export type FromThread =
  | { ready: true }
  | { id: number; ok: true; refused: Refusal[] }
  | { id: number; ok: false; error: { message: string; code?: string } }
  | { malformed: true; error: { message: string } }

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null

const isId = (value: unknown): value is number => Number.isSafeInteger(value)

const isUpsert = (value: unknown): value is Upsert =>
  isRecord(value) && typeof value.sql === 'string' && Array.isArray(value.args)

/** What each message must hold besides its `op`: one check per kind, so none is left unchecked. */
const shapes: { [Op in ToThread['op']]: (m: Record<string, unknown>) => boolean } = {
  append: (m) => isId(m.id) && isUpsert(m.statement) && Array.isArray(m.lineSessions),
  seal: (m) =>
    isId(m.id) &&
    Array.isArray(m.sessions) &&
    m.sessions.every(isUpsert) &&
    Array.isArray(m.turns) &&
    m.turns.every(isUpsert) &&
    Array.isArray(m.lineSessions),
  run: (m) => isId(m.id),
  drop: (m) => isId(m.id),
  ping: (m) => isId(m.id),
  close: () => true,
}

/**
 * The message as a ToThread, or why it is not one. The values a statement binds are left to the
 * database to refuse (its failure is the batch's answer).
 */
export function readToThread(
  value: unknown,
): { ok: true; message: ToThread } | { ok: false; reason: string } {
  if (!isRecord(value) || typeof value.op !== 'string' || !Object.hasOwn(shapes, value.op)) {
    return { ok: false, reason: 'a message with no known op' }
  }
  const check = shapes[value.op as ToThread['op']]
  if (!check(value)) return { ok: false, reason: `a malformed ${value.op} message` }
  return { ok: true, message: value as ToThread }
}

/** The batch a message names, if it names one. */
export const batchIdOf = (value: unknown): number | undefined =>
  isRecord(value) && isId(value.id) ? value.id : undefined
