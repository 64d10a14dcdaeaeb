/**
 * The chunk upsert. Builds, from Drizzle schema definitions, the statements that write a chunk of
 * turns for one owner: a few multi-row `INSERT … ON CONFLICT DO UPDATE` statements (one row a
 * line costs ~4× more per line), sessions first so the turns' foreign key holds. Every key starts
 * with the owner, so one tenant's rows can never be touched by another's.
 *
 * The repository does not decide chunk boundaries or retries: `writeChunk` writes what it is
 * handed as one batch transaction, and the ingest pipeline owns the policy.
 */
import type { Client, InStatement, InValue } from '@libsql/client'
import { sql } from 'drizzle-orm'
import type { LibSQLDatabase } from 'drizzle-orm/libsql'
import { drizzle } from 'drizzle-orm/libsql/web'
import { type ChunkDraft, sealedChunk } from '../ingest/pipeline'
import { isBusy, toDatabaseError } from './errors'
import { type Role, sessions, turns } from './schema'

/** One validated turn, normalized: what a line becomes before it reaches the database. */
export type TurnRecord = {
  tool: string
  host: string
  sessionId: string
  turnId: string
  seq: number
  role: Role
  timestamp: string
  content: string | null
  model: string | null
  tokensIn: number | null
  tokensOut: number | null
  costUsd: number | null
  toolCalls: string | null
  metadata: string | null
  session: {
    startedAt: string
    workingDir: string | null
    sourceFile: string | null
    metadata: string | null
  }
}

/** Attempts of a write batch refused as busy, and the first pause between them (it doubles). */
const BUSY_ATTEMPTS = 8
const BUSY_BACKOFF_MS = 20

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Rows per multi-row statement: well under SQLite's 32,766 bound parameters. */
const ROWS_PER_STATEMENT = 200

type SessionValues = typeof sessions.$inferInsert

/**
 * One session row per session, merged in line order as records arrive with the same rules the
 * database applies on conflict (earliest start, latest end, first non-null), so the result is
 * the same as one row a line, with fewer rows.
 */
class SessionMerge {
  readonly #owner: string
  readonly #merged = new Map<string, SessionValues>()

  constructor(owner: string) {
    this.#owner = owner
  }

  add(r: TurnRecord): void {
    const key = `${r.tool}\u0000${r.host}\u0000${r.sessionId}`
    const s = this.#merged.get(key)
    if (s === undefined) {
      this.#merged.set(key, {
        owner: this.#owner,
        tool: r.tool,
        host: r.host,
        sessionId: r.sessionId,
        startedAt: r.session.startedAt,
        endedAt: r.timestamp,
        workingDir: r.session.workingDir,
        sourceFile: r.session.sourceFile,
        metadata: r.session.metadata,
      })
      return
    }
    if (r.session.startedAt < s.startedAt) s.startedAt = r.session.startedAt
    if (r.timestamp > s.endedAt) s.endedAt = r.timestamp
    s.workingDir ??= r.session.workingDir
    s.sourceFile ??= r.session.sourceFile
    s.metadata ??= r.session.metadata
  }

  rows(): SessionValues[] {
    return [...this.#merged.values()]
  }
}

function mergeSessions(owner: string, records: readonly TurnRecord[]): SessionValues[] {
  const merge = new SessionMerge(owner)
  for (const r of records) merge.add(r)
  return merge.rows()
}

/**
 * Row counts for `rows` rows, `full` at a time and the rest in descending powers of two
 * (37 -> 32, 4, 1): every statement has one of a few shapes, so Drizzle builds each SQL text
 * once early on and the writer thread's statement cache holds them all, whatever the sizes of
 * the chunks and of their last groups (README, Performance).
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

/** Append the session columns' values of one merged row to `args`, in Drizzle's order. */
const pushSessionValues = (args: InValue[], s: SessionValues): void => {
  args.push(
    s.owner,
    s.tool,
    s.host,
    s.sessionId,
    s.startedAt,
    s.endedAt,
    s.workingDir ?? null,
    s.sourceFile ?? null,
    s.metadata ?? null,
  )
}

/** Append the turn columns' values of `r` to `args`, in the order Drizzle binds them. */
const pushTurnValues = (args: InValue[], owner: string, r: TurnRecord): void => {
  args.push(
    owner,
    r.tool,
    r.host,
    r.sessionId,
    r.turnId,
    r.seq,
    r.role,
    r.timestamp,
    r.content,
    r.model,
    r.tokensIn,
    r.tokensOut,
    r.costUsd,
    r.toolCalls,
    r.metadata,
  )
}

/** A statement with its values in order: what ChunkStatements builds. */
export type Upsert = { sql: string; args: InValue[] }

/** Values of one turn row: pushTurnValues appends this many per record. */
const TURN_VALUES = 15

/** Values of one merged session row: pushSessionValues appends this many. */
const SESSION_VALUES = 9

/** Values of one line's session fields: pushSessionFields appends this many. */
const SESSION_FIELDS = 4

/**
 * Append a line's own session fields to `values`: with its turn row, all that is needed to
 * rebuild its record (recordsFromTurnArgs) once the merged session rows have been built.
 */
export const pushSessionFields = (values: InValue[], s: TurnRecord['session']): void => {
  values.push(s.startedAt, s.workingDir, s.sourceFile, s.metadata)
}

/** Each line's session fields from the values pushSessionFields appended, in line order. */
export function sessionsFromFields(
  fields: readonly (readonly InValue[])[],
): TurnRecord['session'][] {
  const sessions: TurnRecord['session'][] = []
  for (const values of fields) {
    for (let at = 0; at < values.length; at += SESSION_FIELDS) {
      sessions.push({
        startedAt: values[at] as string,
        workingDir: values[at + 1] as string | null,
        sourceFile: values[at + 2] as string | null,
        metadata: values[at + 3] as string | null,
      })
    }
  }
  return sessions
}

/**
 * The records whose turn values pushTurnValues appended to `args` (one array per statement, in
 * line order), each with its line's session fields: the inverse, for a chunk whose statements
 * were handed on and come back to be split after the database refused a value.
 */
export function recordsFromTurnArgs(
  args: readonly (readonly InValue[])[],
  sessions: readonly TurnRecord['session'][],
): TurnRecord[] {
  const rows = args.reduce((n, values) => n + values.length / TURN_VALUES, 0)
  if (rows !== sessions.length) {
    throw new Error('recordsFromTurnArgs: the turn rows and the session fields do not match')
  }
  const records: TurnRecord[] = []
  for (const values of args) {
    for (let at = 0; at < values.length; at += TURN_VALUES) {
      const text = (i: number) => values[at + i] as string
      const textOrNull = (i: number) => values[at + i] as string | null
      const numberOrNull = (i: number) => values[at + i] as number | null
      records.push({
        tool: text(1),
        host: text(2),
        sessionId: text(3),
        turnId: text(4),
        seq: values[at + 5] as number,
        role: text(6) as Role,
        timestamp: text(7),
        content: textOrNull(8),
        model: textOrNull(9),
        tokensIn: numberOrNull(10),
        tokensOut: numberOrNull(11),
        costUsd: numberOrNull(12),
        toolCalls: textOrNull(13),
        metadata: textOrNull(14),
        session: sessions[records.length] as TurnRecord['session'],
      })
    }
  }
  return records
}

/**
 * A chunk's upserts for one owner, built as its records arrive: every `groupRows` records
 * become one turn upsert at once, so a caller can hand it on and let the records go, and the
 * sessions are merged until `seal`. The SQL comes from TurnStore's per-shape cache.
 */
export class ChunkStatements {
  readonly #owner: string
  readonly #groupRows: number
  readonly #shape: (table: 'sessions' | 'turns', rows: number) => string
  readonly #sessions: SessionMerge
  #args: InValue[] = []
  #rows = 0

  constructor(
    owner: string,
    groupRows: number,
    shape: (table: 'sessions' | 'turns', rows: number) => string,
  ) {
    this.#owner = owner
    this.#groupRows = Math.max(1, Math.min(groupRows, ROWS_PER_STATEMENT))
    this.#shape = shape
    this.#sessions = new SessionMerge(owner)
  }

  /** Add the next record; returns the turn upsert of its group once the group is full. */
  add(r: TurnRecord): Upsert | undefined {
    this.#sessions.add(r)
    pushTurnValues(this.#args, this.#owner, r)
    return ++this.#rows === this.#groupRows ? this.#group() : undefined
  }

  /**
   * No more records: the merged sessions' upserts (to run before every turn upsert, for the
   * foreign key) and the upserts of the turns not yet returned by `add` (statementRows).
   */
  seal(): { sessions: Upsert[]; turns: Upsert[] } {
    const sessionRows = this.#sessions.rows()
    const sessionArgs: InValue[] = []
    for (const row of sessionRows) pushSessionValues(sessionArgs, row)
    const sessions = this.#upserts('sessions', sessionArgs, sessionRows.length, ROWS_PER_STATEMENT)
    const turns = this.#upserts('turns', this.#args, this.#rows, this.#groupRows)
    this.#args = []
    this.#rows = 0
    return { sessions, turns }
  }

  /** The upserts of `rows` rows into `table`, their values `args` in order, cut by statementRows. */
  #upserts(table: 'sessions' | 'turns', args: InValue[], rows: number, full: number): Upsert[] {
    const width = table === 'sessions' ? SESSION_VALUES : TURN_VALUES
    const upserts: Upsert[] = []
    let at = 0
    for (const count of statementRows(rows, full)) {
      upserts.push({
        sql: this.#shape(table, count),
        args: args.slice(at * width, (at + count) * width),
      })
      at += count
    }
    return upserts
  }

  #group(): Upsert {
    const statement = { sql: this.#shape('turns', this.#rows), args: this.#args }
    this.#args = []
    this.#rows = 0
    return statement
  }
}

/**
 * A record whose every field is a value no other field or row has: building a statement from
 * markers with Drizzle and with the hand-written fill above, and comparing the two, proves the
 * fill binds each value to the column Drizzle placed it under.
 */
const markerRecord = (i: number): TurnRecord => ({
  tool: `tool.${i}`,
  host: `host.${i}`,
  sessionId: `session.${i}`,
  turnId: `turn.${i}`,
  seq: i * 16 + 1,
  role: `role.${i}` as Role,
  timestamp: `timestamp.${i}`,
  content: `content.${i}`,
  model: `model.${i}`,
  tokensIn: i * 16 + 2,
  tokensOut: i * 16 + 3,
  costUsd: i * 16 + 4.5,
  toolCalls: `tool_calls.${i}`,
  metadata: `metadata.${i}`,
  session: {
    startedAt: `started_at.${i}`,
    workingDir: `working_dir.${i}`,
    sourceFile: `source_file.${i}`,
    metadata: `session_metadata.${i}`,
  },
})

const sameValues = (a: readonly unknown[], b: readonly unknown[]): boolean =>
  a.length === b.length && a.every((value, i) => Object.is(value, b[i]))

export class TurnStore {
  readonly #client: Client
  readonly #db: LibSQLDatabase
  /**
   * SQL text of the n-row upserts, by table and n. Drizzle builds each shape once; building it
   * for every chunk cost more CPU than parsing the chunk (README, Performance).
   */
  readonly #sql = new Map<string, string>()

  /**
   * The write before the next one. SQLite has one writer, so concurrent write batches from one
   * client gain nothing: they queue on the server's lock, come back SQLITE_BUSY, and on sqld
   * 0.24 can wedge its write-lock hand-over for good when a WAL checkpoint runs among them (seen
   * here with four plain @libsql/client writers). Requests of one process or isolate take turns.
   */
  #writes: Promise<void> = Promise.resolve()

  constructor(client: Client) {
    this.#client = client
    // Drizzle builds the SQL from the schema; the client runs it, so errors stay ours to map.
    this.#db = drizzle({ client })
  }

  /** A chunk's upserts for `owner`, built as its records arrive, turns `groupRows` at a time. */
  chunkStatements(owner: string, groupRows = ROWS_PER_STATEMENT): ChunkStatements {
    return new ChunkStatements(owner, groupRows, (table, rows) => this.#shape(table, rows))
  }

  /** The statements that upsert `records` for `owner`, sessions before turns. */
  statements(owner: string, records: readonly TurnRecord[]): InStatement[] {
    const built = this.chunkStatements(owner)
    const turnStatements: InStatement[] = []
    for (const r of records) {
      const group = built.add(r)
      if (group !== undefined) turnStatements.push(group)
    }
    const rest = built.seal()
    return [...rest.sessions, ...turnStatements, ...rest.turns]
  }

  /** The SQL of an n-row upsert into `table`, built by Drizzle the first time it is asked for. */
  #shape(table: 'sessions' | 'turns', rows: number): string {
    const key = `${table}:${rows}`
    const cached = this.#sql.get(key)
    if (cached !== undefined) return cached
    const markers = Array.from({ length: rows }, (_, i) => markerRecord(i))
    const expected: InValue[] = []
    let built: { sql: string; params: unknown[] }
    if (table === 'sessions') {
      const rows = mergeSessions('owner', markers)
      built = this.#sessionsQuery(rows)
      for (const row of rows) pushSessionValues(expected, row)
    } else {
      built = this.#turnsQuery('owner', markers)
      for (const r of markers) pushTurnValues(expected, 'owner', r)
    }
    if (!sameValues(built.params, expected)) {
      throw new Error(`TurnStore: Drizzle binds the ${table} columns in another order than ours`)
    }
    this.#sql.set(key, built.sql)
    return built.sql
  }

  #sessionsQuery(rows: SessionValues[]) {
    return this.#db
      .insert(sessions)
      .values(rows)
      .onConflictDoUpdate({
        target: [sessions.owner, sessions.tool, sessions.host, sessions.sessionId],
        set: {
          startedAt: sql`min(${sessions.startedAt}, excluded.started_at)`,
          endedAt: sql`max(${sessions.endedAt}, excluded.ended_at)`,
          workingDir: sql`coalesce(${sessions.workingDir}, excluded.working_dir)`,
          sourceFile: sql`coalesce(${sessions.sourceFile}, excluded.source_file)`,
          metadata: sql`coalesce(${sessions.metadata}, excluded.metadata)`,
        },
      })
      .toSQL()
  }

  #turnsQuery(owner: string, records: readonly TurnRecord[]) {
    const rows = records.map((r) => ({
      owner,
      tool: r.tool,
      host: r.host,
      sessionId: r.sessionId,
      turnId: r.turnId,
      seq: r.seq,
      role: r.role,
      timestamp: r.timestamp,
      content: r.content,
      model: r.model,
      tokensIn: r.tokensIn,
      tokensOut: r.tokensOut,
      costUsd: r.costUsd,
      toolCalls: r.toolCalls,
      metadata: r.metadata,
    }))
    return this.#db
      .insert(turns)
      .values(rows)
      .onConflictDoUpdate({
        target: [turns.owner, turns.tool, turns.host, turns.sessionId, turns.turnId],
        set: {
          seq: sql`excluded.seq`,
          role: sql`excluded.role`,
          timestamp: sql`excluded.timestamp`,
          content: sql`excluded.content`,
          model: sql`excluded.model`,
          tokensIn: sql`excluded.tokens_in`,
          tokensOut: sql`excluded.tokens_out`,
          costUsd: sql`excluded.cost_usd`,
          toolCalls: sql`excluded.tool_calls`,
          metadata: sql`excluded.metadata`,
        },
      })
      .toSQL()
  }

  /**
   * Write `records` for `owner` as one batch transaction: all of them or none. Throws a
   * DatabaseError: `data` when a value was refused, `unavailable` when the database failed.
   */
  writeChunk(owner: string, records: readonly TurnRecord[]): Promise<void> {
    return sealedChunk(this, owner, records).commit()
  }

  /**
   * A chunk for `owner`, written like writeChunk. Its statements are built when it is sealed,
   * which the pipeline does while the chunk before is still committing.
   */
  begin(owner: string): ChunkDraft {
    const records: TurnRecord[] = []
    return {
      add: (record) => {
        records.push(record)
      },
      seal: () => {
        const statements = records.length === 0 ? [] : this.statements(owner, records)
        return {
          commit: () => {
            if (statements.length === 0) return Promise.resolve()
            // One write transaction in flight per store: the next waits here, not in the
            // server's lock.
            const turn = this.#writes.then(() => this.#write(statements))
            this.#writes = turn.then(
              () => undefined,
              () => undefined,
            )
            return turn
          },
          discard: () => {},
          records: () => records,
        }
      },
      discard: () => {},
    }
  }

  async #write(statements: InStatement[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#client.batch(statements, 'write')
        return
      } catch (error) {
        // A libSQL server refuses a write that finds another in its lock; the batch rolled back
        // whole and the upserts are idempotent, so it is written again after a short pause.
        if (!isBusy(error) || attempt === BUSY_ATTEMPTS) throw toDatabaseError(error)
        await pause(BUSY_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random()))
      }
    }
  }

  /** `select 1`: is the database there? Throws a DatabaseError when it is not. */
  async ping(): Promise<void> {
    try {
      await this.#client.execute('select 1')
    } catch (error) {
      throw toDatabaseError(error)
    }
  }
}
