/**
 * The read side: an owner's sessions, a session's turns and usage totals, each keyset-paginated
 * or aggregated over the covering indexes of schema.ts. The owner is the first parameter of
 * every function and the first term of every WHERE, so one tenant never reads another's rows.
 */
import type { Client } from '@libsql/client'
import { and, asc, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm'
import type { LibSQLDatabase } from 'drizzle-orm/libsql'
import { drizzle } from 'drizzle-orm/libsql/web'
import { sessions, turns } from './schema'

export type SessionKey = { tool: string; host: string; sessionId: string }

export type SessionOut = {
  tool: string
  host: string
  session_id: string
  started_at: string
  ended_at: string
  working_dir: string | null
  source_file: string | null
  metadata: Record<string, unknown> | null
  turns: number
  tokens_in: number
  tokens_out: number
  cost_usd: number
  models: string[]
}

export type TurnOut = {
  turn_id: string
  seq: number
  role: string
  timestamp: string
  content: string | null
  model: string | null
  tokens_in: number | null
  tokens_out: number | null
  cost_usd: number | null
  tool_calls: unknown
  metadata: Record<string, unknown> | null
}

export type SessionFilter = {
  tool?: string
  host?: string
  /** Stored-form instants: sessions overlapping [since, until). */
  since?: string
  until?: string
  q?: string
  after?: { endedAt: string; tool: string; host: string; sessionId: string }
  limit: number
}

export type TurnPage = {
  after?: { seq: number; timestamp: string; turnId: string }
  limit: number
}

export type UsageKey = 'day' | 'model' | 'tool' | 'host'

export type UsageFilter = {
  groupBy: UsageKey[]
  /** Stored-form instants, [from, to); either may be open. */
  from?: string
  to?: string
  /** Offsets (minutes east of UTC) for day buckets, each until a stored-form instant; the last open. */
  offsets: { until: string; offset: number }[]
}

export type Totals = {
  turns: number
  tokens_in: number
  tokens_out: number
  cost_usd: number
  sessions: number
}

export type UsageRow = Partial<Record<UsageKey, string | null>> & Totals

const json = <T>(text: unknown): T | null =>
  typeof text === 'string' ? (JSON.parse(text) as T) : null

/**
 * One JSON array of a session's aggregates, from the covering index alone. Written out: Drizzle
 * leaves columns of a one-table select unqualified, which would correlate turns with itself.
 */
const aggregates = sql<string>`(select json_array(count(*), coalesce(sum(t.tokens_in), 0),
  coalesce(sum(t.tokens_out), 0), total(t.cost_usd),
  json_group_array(distinct t.model) filter (where t.model is not null))
  from turns t where t.owner = sessions.owner and t.tool = sessions.tool
  and t.host = sessions.host and t.session_id = sessions.session_id)`

const sessionColumns = {
  tool: sessions.tool,
  host: sessions.host,
  sessionId: sessions.sessionId,
  startedAt: sessions.startedAt,
  endedAt: sessions.endedAt,
  workingDir: sessions.workingDir,
  sourceFile: sessions.sourceFile,
  metadata: sessions.metadata,
  aggregates,
}

type SessionSelected = {
  tool: string
  host: string
  sessionId: string
  startedAt: string
  endedAt: string
  workingDir: string | null
  sourceFile: string | null
  metadata: string | null
  aggregates: string
}

function toSession(row: SessionSelected): SessionOut {
  const [count, tokensIn, tokensOut, cost, models] = JSON.parse(row.aggregates) as [
    number,
    number,
    number,
    number,
    string[],
  ]
  return {
    tool: row.tool,
    host: row.host,
    session_id: row.sessionId,
    started_at: row.startedAt,
    ended_at: row.endedAt,
    working_dir: row.workingDir,
    source_file: row.sourceFile,
    metadata: json(row.metadata),
    turns: count,
    tokens_in: tokensIn,
    tokens_out: tokensOut,
    cost_usd: cost,
    models: models.sort(),
  }
}

const sessionKeyIs = (owner: string, key: SessionKey) =>
  and(
    eq(sessions.owner, owner),
    eq(sessions.tool, key.tool),
    eq(sessions.host, key.host),
    eq(sessions.sessionId, key.sessionId),
  )

export class ReadStore {
  readonly #db: LibSQLDatabase

  constructor(client: Client) {
    this.#db = drizzle({ client })
  }

  /**
   * One page of `owner`'s sessions, newest activity first (ended_at, then the key, descending),
   * and whether more follow: `limit + 1` rows are read, the extra one only to know.
   */
  async listSessions(
    owner: string,
    filter: SessionFilter,
  ): Promise<{ sessions: SessionOut[]; more: boolean }> {
    const where: (SQL | undefined)[] = [eq(sessions.owner, owner)]
    if (filter.tool !== undefined) where.push(eq(sessions.tool, filter.tool))
    if (filter.host !== undefined) where.push(eq(sessions.host, filter.host))
    if (filter.since !== undefined) where.push(gte(sessions.endedAt, filter.since))
    if (filter.until !== undefined) where.push(lt(sessions.startedAt, filter.until))
    if (filter.q !== undefined) {
      where.push(
        sql`(instr(${sessions.sessionId}, ${filter.q}) > 0 or instr(coalesce(${sessions.workingDir}, ''), ${filter.q}) > 0)`,
      )
    }
    const a = filter.after
    if (a !== undefined) {
      where.push(
        sql`(${sessions.endedAt}, ${sessions.tool}, ${sessions.host}, ${sessions.sessionId}) < (${a.endedAt}, ${a.tool}, ${a.host}, ${a.sessionId})`,
      )
    }
    const rows = await this.#db
      .select(sessionColumns)
      .from(sessions)
      .where(and(...where))
      .orderBy(
        desc(sessions.endedAt),
        desc(sessions.tool),
        desc(sessions.host),
        desc(sessions.sessionId),
      )
      .limit(filter.limit + 1)
    return {
      sessions: rows.slice(0, filter.limit).map(toSession),
      more: rows.length > filter.limit,
    }
  }

  /** `owner`'s session `key` with its aggregates, or undefined: missing and foreign look alike. */
  async getSession(owner: string, key: SessionKey): Promise<SessionOut | undefined> {
    const rows = await this.#db
      .select(sessionColumns)
      .from(sessions)
      .where(sessionKeyIs(owner, key))
      .limit(1)
    return rows[0] === undefined ? undefined : toSession(rows[0])
  }

  /**
   * One page of a session's turns in (seq, timestamp, turn_id) order, or undefined when `owner`
   * has no such session. The session is looked up only when the page comes back empty.
   */
  async listTurns(
    owner: string,
    key: SessionKey,
    page: TurnPage,
  ): Promise<{ turns: TurnOut[]; more: boolean } | undefined> {
    const where: (SQL | undefined)[] = [
      eq(turns.owner, owner),
      eq(turns.tool, key.tool),
      eq(turns.host, key.host),
      eq(turns.sessionId, key.sessionId),
    ]
    const a = page.after
    if (a !== undefined) {
      where.push(
        sql`(${turns.seq}, ${turns.timestamp}, ${turns.turnId}) > (${a.seq}, ${a.timestamp}, ${a.turnId})`,
      )
    }
    const rows = await this.#db
      .select({
        turnId: turns.turnId,
        seq: turns.seq,
        role: turns.role,
        timestamp: turns.timestamp,
        content: turns.content,
        model: turns.model,
        tokensIn: turns.tokensIn,
        tokensOut: turns.tokensOut,
        costUsd: turns.costUsd,
        toolCalls: turns.toolCalls,
        metadata: turns.metadata,
      })
      .from(turns)
      .where(and(...where))
      .orderBy(asc(turns.seq), asc(turns.timestamp), asc(turns.turnId))
      .limit(page.limit + 1)
    if (rows.length === 0) {
      const found = await this.#db
        .select({ one: sql`1` })
        .from(sessions)
        .where(sessionKeyIs(owner, key))
      if (found.length === 0) return undefined
    }
    return {
      turns: rows.slice(0, page.limit).map((row) => ({
        turn_id: row.turnId,
        seq: row.seq,
        role: row.role,
        timestamp: row.timestamp,
        content: row.content,
        model: row.model,
        tokens_in: row.tokensIn,
        tokens_out: row.tokensOut,
        cost_usd: row.costUsd,
        tool_calls: json(row.toolCalls),
        metadata: json(row.metadata),
      })),
      more: rows.length > page.limit,
    }
  }

  /** The earliest `started_at` and latest `ended_at` of `owner`'s sessions, if any. */
  async activityRange(owner: string): Promise<{ first: string; last: string } | undefined> {
    const rows = await this.#db
      .select({
        first: sql<string | null>`min(${sessions.startedAt})`,
        last: sql<string | null>`max(${sessions.endedAt})`,
      })
      .from(sessions)
      .where(eq(sessions.owner, owner))
    const row = rows[0]
    return row?.first == null || row.last == null ? undefined : { first: row.first, last: row.last }
  }

  /**
   * Totals of `owner`'s turns with a timestamp in [from, to), grouped by the keys asked for.
   * Read per (group, session) so `sessions` counts distinct sessions exactly, then folded here.
   * Sessions are found by activity (ended_at >= from holds for every turn of a session that has
   * one in range), their turns through the covering index.
   */
  async usage(owner: string, filter: UsageFilter): Promise<{ rows: UsageRow[]; totals: Totals }> {
    const day = dayExpression(filter.offsets)
    const keys: Record<UsageKey, SQL> = {
      day,
      model: sql`${turns.model}`,
      tool: sql`${turns.tool}`,
      host: sql`${turns.host}`,
    }
    const grouped = filter.groupBy.filter((k) => k !== 'tool' && k !== 'host').map((k) => keys[k])
    const where: (SQL | undefined)[] = [eq(sessions.owner, owner)]
    if (filter.from !== undefined) {
      where.push(gte(sessions.endedAt, filter.from), gte(turns.timestamp, filter.from))
    }
    if (filter.to !== undefined) where.push(lt(turns.timestamp, filter.to))
    const select: Record<string, SQL> = {
      tool: sql<string>`${turns.tool}`,
      host: sql<string>`${turns.host}`,
      sessionId: sql<string>`${turns.sessionId}`,
      turns: sql<number>`count(*)`,
      tokensIn: sql<number>`coalesce(sum(${turns.tokensIn}), 0)`,
      tokensOut: sql<number>`coalesce(sum(${turns.tokensOut}), 0)`,
      costUsd: sql<number>`total(${turns.costUsd})`,
    }
    if (filter.groupBy.includes('day')) select.day = day
    if (filter.groupBy.includes('model')) select.model = keys.model
    const rows = (await this.#db
      .select(select)
      .from(sessions)
      .innerJoin(
        turns,
        and(
          eq(turns.owner, sessions.owner),
          eq(turns.tool, sessions.tool),
          eq(turns.host, sessions.host),
          eq(turns.sessionId, sessions.sessionId),
        ),
      )
      .where(and(...where))
      .groupBy(...grouped, turns.tool, turns.host, turns.sessionId)) as unknown as ({
      tool: string
      host: string
      sessionId: string
      turns: number
      tokensIn: number
      tokensOut: number
      costUsd: number
    } & Partial<Record<UsageKey, string | null>>)[]

    const groups = new Map<string, UsageRow>()
    const seen = new Set<string>()
    const totals: Totals = { turns: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0, sessions: 0 }
    for (const row of rows) {
      const values = filter.groupBy.map((k) => row[k] ?? null)
      const id = JSON.stringify(values)
      let group = groups.get(id)
      if (group === undefined) {
        group = { turns: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0, sessions: 0 }
        filter.groupBy.forEach((k, i) => {
          group = { ...group, [k]: values[i] } as UsageRow
        })
        groups.set(id, group)
      }
      for (const target of [group, totals]) {
        target.turns += row.turns
        target.tokens_in += row.tokensIn
        target.tokens_out += row.tokensOut
        target.cost_usd += row.costUsd
      }
      group.sessions += 1
      seen.add(JSON.stringify([row.tool, row.host, row.sessionId]))
    }
    totals.sessions = seen.size
    const sorted = [...groups.values()].sort((x, y) => {
      for (const k of filter.groupBy) {
        const a = x[k] ?? null
        const b = y[k] ?? null
        if (a === b) continue
        if (a === null) return 1
        if (b === null) return -1
        return a < b ? -1 : 1
      }
      return 0
    })
    return { rows: sorted, totals }
  }
}

/** The local day of a turn: the UTC date when the offset is zero throughout, else per segment. */
function dayExpression(offsets: { until: string; offset: number }[]): SQL {
  const shift = (offset: number) => sql`date(${turns.timestamp}, ${`${offset} minutes`})`
  if (offsets.every((o) => o.offset === 0)) return sql`substr(${turns.timestamp}, 1, 10)`
  const last = offsets[offsets.length - 1]
  if (offsets.length === 1 || last === undefined) return shift(last?.offset ?? 0)
  const whens = offsets
    .slice(0, -1)
    .map((o) => sql`when ${turns.timestamp} < ${o.until} then ${shift(o.offset)}`)
  return sql`(case ${sql.join(whens, sql` `)} else ${shift(last.offset)} end)`
}
