/**
 * The read side: an owner's sessions, a session's turns and usage totals, each keyset-paginated
 * or aggregated over the covering indexes of schema.ts. The owner is the first parameter of
 * every function and the first term of every WHERE, so one tenant never reads another's rows.
 */
import type { Client } from '@libsql/client'
import { and, asc, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm'
import type { LibSQLDatabase } from 'drizzle-orm/libsql'
import { drizzle } from 'drizzle-orm/libsql/web'
import type {
  Reads,
  SessionFilter,
  SessionKey,
  SessionOut,
  Totals,
  TurnOut,
  TurnPage,
  UsageBucket,
  UsageKey,
} from '../types'
import { sessions, turns } from './schema'

/** A sum of dollars to the nano-dollar: what a sum of binary floats gathers below it is noise. */
export const roundUsd = (usd: number): number => Math.round(usd * 1e9) / 1e9

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
    cost_usd: roundUsd(cost),
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

export class ReadStore implements Reads {
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

  /**
   * The first and last turn timestamps of `owner` within [from, to), if any: two seeks of the
   * time index (one min() and max() together would scan the range).
   */
  async turnRange(
    owner: string,
    from: string | undefined,
    to: string | undefined,
  ): Promise<{ first: string; last: string } | undefined> {
    const where = sql`owner = ${owner}
      ${from === undefined ? sql`` : sql`and timestamp >= ${from}`}
      ${to === undefined ? sql`` : sql`and timestamp < ${to}`}`
    const rows = await this.#db.all<{ first: string | null; last: string | null }>(
      sql`select (select timestamp from turns where ${where} order by timestamp limit 1) as first,
        (select timestamp from turns where ${where} order by timestamp desc limit 1) as last`,
    )
    const row = rows[0]
    return row?.first == null || row.last == null ? undefined : { first: row.first, last: row.last }
  }

  /**
   * Totals of `owner`'s turns in each bucket (a [from, to) range of timestamps, e.g. a local
   * day), grouped within it by `key` if given. Each bucket is one range of the time index,
   * aggregated without a sort of the whole range; buckets without turns are left out.
   */
  async usage(
    owner: string,
    filter: { buckets: UsageBucket[]; keys: Exclude<UsageKey, 'day'>[] },
  ): Promise<{ bucket: number; keys: (string | null)[]; totals: Totals }[]> {
    if (filter.buckets.length === 0) return []
    const from = filter.buckets.reduce((min, b) => (b.from < min ? b.from : min), '\uffff')
    // Distinct session_id values count the sessions when no two of them share one; comparing
    // the stored column is much cheaper than building the whole key for every turn.
    const session = (await this.#sessionIdShared(owner, from))
      ? sql`tool || char(31) || host || char(31) || session_id`
      : sql`session_id`
    const columns = filter.keys.map((k) => sql.raw(keyColumns[k]))
    const [k1 = sql`null`, k2 = sql`null`] = columns
    const inner = sql`select ${k1} as k1, ${k2} as k2, count(*) as n,
      coalesce(sum(tokens_in), 0) as i, coalesce(sum(tokens_out), 0) as o, total(cost_usd) as c,
      count(distinct ${session}) as s
      from turns where owner = ${owner} and timestamp >= b.value ->> 0 and timestamp < b.value ->> 1
      ${columns.length === 0 ? sql`` : sql`group by ${sql.join(columns, sql`, `)}`}`
    const query = sql`select b.key as bucket,
      (select json_group_array(json_array(k1, k2, n, i, o, c, s)) from (${inner}) where n > 0) as groups
      from json_each(${JSON.stringify(filter.buckets.map((x) => [x.from, x.to]))}) b`
    const rows = await this.#db.all<{ bucket: number; groups: string }>(query)
    type Group = [string | null, string | null, number, number, number, number, number]
    return rows.flatMap((row) =>
      (JSON.parse(row.groups) as Group[]).map(([a, b, n, i, o, c, s]) => ({
        bucket: Number(row.bucket),
        keys: [a, b],
        totals: { turns: n, tokens_in: i, tokens_out: o, cost_usd: c, sessions: s },
      })),
    )
  }

  /**
   * Whether two of `owner`'s sessions that may have turns at or after `from` share a session_id
   * (under another tool or host). A session's ended_at is never before any of its turns.
   */
  async #sessionIdShared(owner: string, from: string): Promise<boolean> {
    const rows = await this.#db.all<{ shared: number }>(sql`select exists (select 1 from sessions
      where owner = ${owner} and ended_at >= ${from} group by session_id having count(*) > 1)
      as shared`)
    return Number(rows[0]?.shared ?? 0) === 1
  }

  /** Distinct sessions of `owner` with a turn in [from, to): each found through its own turns. */
  async sessionsWithTurns(owner: string, from: string, to: string): Promise<number> {
    const rows = await this.#db.all<{ n: number }>(sql`select count(*) as n from sessions s
      where s.owner = ${owner} and s.ended_at >= ${from} and exists (select 1 from turns t
        where t.owner = s.owner and t.tool = s.tool and t.host = s.host
        and t.session_id = s.session_id and t.timestamp >= ${from} and t.timestamp < ${to})`)
    return Number(rows[0]?.n ?? 0)
  }
}

const keyColumns = { model: 'model', tool: 'tool', host: 'host' } as const
