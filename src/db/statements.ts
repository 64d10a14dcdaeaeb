/**
 * The upsert statements of a chunk. The SQL and the order of the values are both built from the
 * Drizzle tables' columns, so a value always binds to its column. Every key starts with the
 * owner, so one tenant's rows can never be touched by another's.
 */
import type { InValue } from '@libsql/client'
import { getTableColumns } from 'drizzle-orm'
import type { TurnRecord } from '../types'
import { sessions, turns } from './schema'
import { SessionMerge, type SessionValues } from './sessions'

type Table = 'sessions' | 'turns'

/** A statement with its values in order. */
export type Upsert = { sql: string; args: InValue[] }

/** Rows per multi-row statement: well under SQLite's 32,766 bound parameters. */
const ROWS_PER_STATEMENT = 200

const sessionColumns = getTableColumns(sessions)
const turnColumns = getTableColumns(turns)
type SessionKey = keyof typeof sessionColumns
type TurnKey = keyof typeof turnColumns

/** What an upsert does with each column on conflict: part of the key, or how it merges. */
type Rule = 'key' | 'replace' | 'min' | 'max' | 'first'

const sessionRules: Record<SessionKey, Rule> = {
  owner: 'key',
  tool: 'key',
  host: 'key',
  sessionId: 'key',
  startedAt: 'min',
  endedAt: 'max',
  workingDir: 'first',
  sourceFile: 'first',
  metadata: 'first',
}

const turnRules: Record<TurnKey, Rule> = {
  owner: 'key',
  tool: 'key',
  host: 'key',
  sessionId: 'key',
  turnId: 'key',
  seq: 'replace',
  role: 'replace',
  timestamp: 'replace',
  content: 'replace',
  model: 'replace',
  tokensIn: 'replace',
  tokensOut: 'replace',
  costUsd: 'replace',
  toolCalls: 'replace',
  metadata: 'replace',
}

const sessionKeys = Object.keys(sessionColumns) as SessionKey[]
/** The turn columns: `owner`, then fields of TurnRecord of the same names. */
const turnKeys = Object.keys(turnColumns) as TurnKey[]

/** Values per row of each table. */
export const SESSION_VALUES = sessionKeys.length
export const TURN_VALUES = turnKeys.length

/** Append a session row's values to `args`, in its table's column order. */
export function pushSessionValues(args: InValue[], row: SessionValues): void {
  for (const key of sessionKeys) args.push(row[key] ?? null)
}

/** Append the turn row of `r` to `args`, in its table's column order. */
function pushTurnValues(args: InValue[], owner: string, r: TurnRecord): void {
  for (const key of turnKeys) args.push(key === 'owner' ? owner : r[key])
}

function buildUpsert(
  table: { name: string; columns: Record<string, { name: string }> },
  rules: Record<string, Rule>,
  rows: number,
): string {
  const names = Object.keys(table.columns).map((key) => table.columns[key]?.name ?? key)
  const quoted = (name: string) => `"${name}"`
  const row = `(${names.map(() => '?').join(', ')})`
  const target = Object.keys(rules)
    .filter((key) => rules[key] === 'key')
    .map((key) => quoted(table.columns[key]?.name ?? key))
  const set = Object.keys(rules)
    .filter((key) => rules[key] !== 'key')
    .map((key) => {
      const c = quoted(table.columns[key]?.name ?? key)
      const merged = {
        replace: `excluded.${c}`,
        min: `min(${c}, excluded.${c})`,
        max: `max(${c}, excluded.${c})`,
        first: `coalesce(${c}, excluded.${c})`,
      }[rules[key] as Exclude<Rule, 'key'>]
      return `${c} = ${merged}`
    })
  return (
    `insert into ${quoted(table.name)} (${names.map(quoted).join(', ')}) values ` +
    `${Array.from({ length: rows }, () => row).join(', ')} ` +
    `on conflict (${target.join(', ')}) do update set ${set.join(', ')}`
  )
}

const shapes = new Map<string, string>()

/** The SQL of an n-row upsert into `table` (each shape built once). */
export function upsertSql(table: Table, rows: number): string {
  const key = `${table}:${rows}`
  let text = shapes.get(key)
  if (text === undefined) {
    text =
      table === 'sessions'
        ? buildUpsert({ name: 'sessions', columns: sessionColumns }, sessionRules, rows)
        : buildUpsert({ name: 'turns', columns: turnColumns }, turnRules, rows)
    shapes.set(key, text)
  }
  return text
}

/**
 * Row counts for `rows` rows, `full` at a time and the rest in descending powers of two
 * (37 -> 32, 4, 1): every statement has one of a few shapes, so the SQL texts and the writer
 * thread's prepared statements are few and reused.
 */
export function statementRows(rows: number, full: number): number[] {
  const counts: number[] = []
  let left = rows
  for (; left >= full; left -= full) counts.push(full)
  for (let power = 2 ** Math.floor(Math.log2(Math.max(left, 1))); left > 0; power /= 2) {
    if (left >= power) {
      counts.push(power)
      left -= power
    }
  }
  return counts
}

/** The upserts of `rows` rows into `table`, their values `args` in order, cut by statementRows. */
function upserts(table: Table, args: InValue[], rows: number, full: number): Upsert[] {
  const width = table === 'sessions' ? SESSION_VALUES : TURN_VALUES
  const out: Upsert[] = []
  let at = 0
  for (const count of statementRows(rows, full)) {
    out.push({ sql: upsertSql(table, count), args: args.slice(at * width, (at + count) * width) })
    at += count
  }
  return out
}

/**
 * A chunk's upserts for one owner, built as its records arrive: every `groupRows` records become
 * one turn upsert at once (so a caller can hand it on and let the records go), and the sessions
 * are merged until `seal`. The session upserts must run before the turns, for the foreign key.
 */
export class ChunkStatements {
  readonly #owner: string
  readonly #groupRows: number
  readonly #sessions: SessionMerge
  #args: InValue[] = []
  #rows = 0

  constructor(owner: string, groupRows = ROWS_PER_STATEMENT) {
    this.#owner = owner
    this.#groupRows = Math.max(1, Math.min(groupRows, ROWS_PER_STATEMENT))
    this.#sessions = new SessionMerge(owner)
  }

  /** Add the next record; returns the turn upsert of its group once the group is full. */
  add(r: TurnRecord): Upsert | undefined {
    this.#sessions.add(r)
    pushTurnValues(this.#args, this.#owner, r)
    if (++this.#rows < this.#groupRows) return undefined
    const group = { sql: upsertSql('turns', this.#rows), args: this.#args }
    this.#args = []
    this.#rows = 0
    return group
  }

  /** No more records: the merged sessions' upserts and the turn upserts not yet returned by add. */
  seal(): { sessions: Upsert[]; turns: Upsert[] } {
    const sessionRows = this.#sessions.rows()
    const sessionArgs: InValue[] = []
    for (const row of sessionRows) pushSessionValues(sessionArgs, row)
    const sealed = {
      sessions: upserts('sessions', sessionArgs, sessionRows.length, ROWS_PER_STATEMENT),
      turns: upserts('turns', this.#args, this.#rows, this.#groupRows),
    }
    this.#args = []
    this.#rows = 0
    return sealed
  }
}

/** The statements that upsert `records` for `owner`, sessions before turns. */
export function chunkUpserts(owner: string, records: Iterable<TurnRecord>): Upsert[] {
  const built = new ChunkStatements(owner)
  const groups: Upsert[] = []
  for (const r of records) {
    const group = built.add(r)
    if (group !== undefined) groups.push(group)
  }
  const rest = built.seal()
  return [...rest.sessions, ...groups, ...rest.turns]
}
