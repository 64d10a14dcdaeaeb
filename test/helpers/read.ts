/**
 * The read API's tests: GET as an owner, walk every page, and the same answers worked out with
 * plain SQL straight from the database, to compare with.
 */
import type { Client } from '@libsql/client'
import { tokenFor } from './app'

type Fetcher = { request: (input: string, init?: RequestInit) => Response | Promise<Response> }

export async function get(
  app: Fetcher,
  owner: string | undefined,
  path: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return app.request(path, {
    headers: {
      ...(owner === undefined ? {} : { authorization: `Bearer ${await tokenFor(owner)}` }),
      ...headers,
    },
  })
}

export async function getJson<T = Record<string, unknown>>(
  app: Fetcher,
  owner: string,
  path: string,
): Promise<T> {
  const res = await get(app, owner, path)
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

/** Every page of a list from `path` (which may hold a query), following next_cursor. */
export async function walk<T>(
  app: Fetcher,
  owner: string,
  path: string,
  field: string,
  between: () => Promise<void> = async () => {},
): Promise<{ rows: T[]; pages: number }> {
  const rows: T[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const sep = path.includes('?') ? '&' : '?'
    const url: string = cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`
    const page: Record<string, unknown> = await getJson(app, owner, url)
    rows.push(...(page[field] as T[]))
    cursor = page.next_cursor as string | null
    pages++
    await between()
  } while (cursor !== null)
  return { rows, pages }
}

export const sessionPath = (tool: string, host: string, sessionId: string) =>
  `/v1/sessions/${[tool, host, sessionId].map(encodeURIComponent).join('/')}`

/** The sessions of `owner` with their aggregates, straight from SQL, newest activity first. */
export async function sessionsFromDb(client: Client, owner: string) {
  const { rows } = await client.execute({
    sql: `select s.tool, s.host, s.session_id, s.started_at, s.ended_at, s.working_dir,
            s.source_file, s.metadata, count(t.turn_id) as turns,
            coalesce(sum(t.tokens_in), 0) as tokens_in, coalesce(sum(t.tokens_out), 0) as tokens_out,
            coalesce(sum(t.cost_usd), 0) as cost_usd
          from sessions s left join turns t on t.owner = s.owner and t.tool = s.tool
            and t.host = s.host and t.session_id = s.session_id
          where s.owner = ? group by s.tool, s.host, s.session_id
          order by s.ended_at desc, s.tool desc, s.host desc, s.session_id desc`,
    args: [owner],
  })
  const models = await client.execute({
    sql: `select distinct tool, host, session_id, model from turns
          where owner = ? and model is not null order by model`,
    args: [owner],
  })
  return rows.map((r) => ({
    tool: r.tool,
    host: r.host,
    session_id: r.session_id,
    started_at: r.started_at,
    ended_at: r.ended_at,
    working_dir: r.working_dir,
    source_file: r.source_file,
    metadata: r.metadata === null ? null : JSON.parse(String(r.metadata)),
    turns: Number(r.turns),
    tokens_in: Number(r.tokens_in),
    tokens_out: Number(r.tokens_out),
    cost_usd: Number(r.cost_usd),
    models: models.rows
      .filter((m) => m.tool === r.tool && m.host === r.host && m.session_id === r.session_id)
      .map((m) => String(m.model)),
  }))
}

/** Usage per UTC day (or `dayExpr`) straight from SQL. */
export async function usageByDayFromDb(
  client: Client,
  owner: string,
  from: string,
  to: string,
  dayExpr = 'substr(timestamp, 1, 10)',
) {
  const { rows } = await client.execute({
    sql: `select ${dayExpr} as day, count(*) as turns, coalesce(sum(tokens_in), 0) as tokens_in,
            coalesce(sum(tokens_out), 0) as tokens_out, coalesce(sum(cost_usd), 0) as cost_usd,
            count(distinct tool || char(31) || host || char(31) || session_id) as sessions
          from turns where owner = ? and timestamp >= ? and timestamp < ?
          group by day order by day`,
    args: [owner, from, to],
  })
  return rows.map((r) => ({
    day: String(r.day),
    turns: Number(r.turns),
    tokens_in: Number(r.tokens_in),
    tokens_out: Number(r.tokens_out),
    cost_usd: Number(r.cost_usd),
    sessions: Number(r.sessions),
  }))
}

/** `value` with every cost rounded, so float sums in different orders compare equal. */
export const roundCosts = <T>(value: T): T =>
  JSON.parse(
    JSON.stringify(value, (key, v) =>
      key === 'cost_usd' && typeof v === 'number' ? Math.round(v * 1e9) / 1e9 : v,
    ),
  )
