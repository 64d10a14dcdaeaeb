/**
 * The chunk upsert. Builds, from Drizzle schema definitions, the statements that write a chunk of
 * turns for one owner: a few multi-row `INSERT … ON CONFLICT DO UPDATE` statements (one row a
 * line costs ~4× more per line), sessions first so the turns' foreign key holds. Every key starts
 * with the owner, so one tenant's rows can never be touched by another's.
 *
 * The repository does not decide chunk boundaries or retries: `writeChunk` writes what it is
 * handed as one batch transaction, and the ingest pipeline owns the policy.
 */
import type { Client, InArgs, InStatement } from '@libsql/client'
import { sql } from 'drizzle-orm'
import type { LibSQLDatabase } from 'drizzle-orm/libsql'
import { drizzle } from 'drizzle-orm/libsql/web'
import { toDatabaseError } from './errors'
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

/** Rows per multi-row statement: well under SQLite's 32,766 bound parameters. */
const ROWS_PER_STATEMENT = 200

type SessionValues = typeof sessions.$inferInsert

/**
 * One session row per session of the chunk, merged in line order with the same rules the
 * database applies on conflict (earliest start, latest end, first non-null), so the result is
 * the same as one row a line, with fewer rows.
 */
function mergeSessions(owner: string, records: readonly TurnRecord[]): SessionValues[] {
  const merged = new Map<string, SessionValues>()
  for (const r of records) {
    const key = `${r.tool}\u0000${r.host}\u0000${r.sessionId}`
    const s = merged.get(key)
    if (s === undefined) {
      merged.set(key, {
        owner,
        tool: r.tool,
        host: r.host,
        sessionId: r.sessionId,
        startedAt: r.session.startedAt,
        endedAt: r.timestamp,
        workingDir: r.session.workingDir,
        sourceFile: r.session.sourceFile,
        metadata: r.session.metadata,
      })
      continue
    }
    if (r.session.startedAt < s.startedAt) s.startedAt = r.session.startedAt
    if (r.timestamp > s.endedAt) s.endedAt = r.timestamp
    s.workingDir ??= r.session.workingDir
    s.sourceFile ??= r.session.sourceFile
    s.metadata ??= r.session.metadata
  }
  return [...merged.values()]
}

const slices = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

export class TurnStore {
  readonly #client: Client
  readonly #db: LibSQLDatabase

  constructor(client: Client) {
    this.#client = client
    // Drizzle builds the SQL from the schema; the client runs it, so errors stay ours to map.
    this.#db = drizzle({ client })
  }

  /** The statements that upsert `records` for `owner`, sessions before turns. */
  statements(owner: string, records: readonly TurnRecord[]): InStatement[] {
    const statements: InStatement[] = []
    for (const rows of slices(mergeSessions(owner, records), ROWS_PER_STATEMENT)) {
      const query = this.#db
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
      statements.push({ sql: query.sql, args: query.params as InArgs })
    }
    for (const slice of slices(records, ROWS_PER_STATEMENT)) {
      const rows = slice.map((r) => ({
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
      const query = this.#db
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
      statements.push({ sql: query.sql, args: query.params as InArgs })
    }
    return statements
  }

  /**
   * Write `records` for `owner` as one batch transaction: all of them or none. Throws a
   * DatabaseError: `data` when a value was refused, `unavailable` when the database failed.
   */
  async writeChunk(owner: string, records: readonly TurnRecord[]): Promise<void> {
    if (records.length === 0) return
    try {
      await this.#client.batch(this.statements(owner, records), 'write')
    } catch (error) {
      throw toDatabaseError(error)
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
