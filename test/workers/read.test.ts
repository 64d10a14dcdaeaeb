/**
 * The read API through the real Worker entry inside workerd, against the sqld of global-setup.ts:
 * pages, aggregates and usage compared with the database read directly over HTTP.
 */

import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { ownerFactory, tokenFor, workerDatabase } from './helpers'

const db = workerDatabase()

const freshOwner = ownerFactory('workerd-read')

const call = async (owner: string | undefined, path: string, init: RequestInit = {}) =>
  SELF.fetch(`http://tributary.test${path}`, {
    ...init,
    headers: {
      ...(owner === undefined ? {} : { authorization: `Bearer ${await tokenFor(owner)}` }),
      ...(init.headers as Record<string, string> | undefined),
    },
  })

async function ingest(owner: string, turns: Record<string, unknown>[]) {
  const res = await call(owner, '/v1/ingest', {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: `${turns.map((t) => JSON.stringify(t)).join('\n')}\n`,
  })
  expect(res.status).toBe(200)
}

const turn = (s: number, t: number) => ({
  tool: 'codex',
  host: s % 2 === 0 ? 'a/b' : 'c%d',
  session_id: `w-${s}`,
  turn_id: `w-${s}:${t}`,
  seq: t,
  role: 'assistant',
  timestamp: new Date(Date.UTC(2026, 10, 20 + (s % 3), s, t)).toISOString(),
  model: t % 2 === 0 ? 'gpt-5' : null,
  tokens_in: t + 1,
  tokens_out: 2,
  cost_usd: 0.5,
  tool_calls: [{ name: 'bash' }],
})

const json = async <T>(res: Response): Promise<T> => {
  expect(res.status).toBe(200)
  return (await res.json()) as T
}

describe('read API inside workerd, on sqld', () => {
  it('pages sessions and turns, and totals usage, as the database has them', async () => {
    const owner = freshOwner()
    const other = freshOwner()
    const lines = Array.from({ length: 7 }, (_, s) =>
      Array.from({ length: 1 + (s % 3) }, (_, t) => turn(s, t)),
    ).flat()
    await ingest(owner, lines)
    await ingest(other, [turn(0, 0)])

    const seen: { session_id: string; turns: number; tokens_in: number; models: string[] }[] = []
    let cursor: string | null = null
    do {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`
      const page: { sessions: typeof seen; next_cursor: string | null } = await json(
        await call(owner, `/v1/sessions?limit=2${query}`),
      )
      seen.push(...page.sessions)
      cursor = page.next_cursor
    } while (cursor !== null)
    const { rows } = await db.execute({
      sql: `select s.session_id, count(*) as turns, sum(t.tokens_in) as tokens_in
            from sessions s join turns t using (owner, tool, host, session_id)
            where s.owner = ? group by s.tool, s.host, s.session_id
            order by s.ended_at desc, s.tool desc, s.host desc, s.session_id desc`,
      args: [owner],
    })
    expect(seen.map((s) => [s.session_id, s.turns, s.tokens_in])).toEqual(
      rows.map((r) => [r.session_id, Number(r.turns), Number(r.tokens_in)]),
    )
    expect(seen.find((s) => s.session_id === 'w-2')?.models).toEqual(['gpt-5'])

    const path = `/v1/sessions/codex/${encodeURIComponent('a/b')}/w-2`
    const detail = await call(owner, path)
    expect(await json(detail)).toMatchObject({ host: 'a/b', turns: 3 })
    const etag = detail.headers.get('etag') ?? ''
    expect((await call(owner, path, { headers: { 'if-none-match': etag } })).status).toBe(304)
    const turns = await json<{ turns: { turn_id: string; tool_calls: unknown }[] }>(
      await call(owner, `${path}/turns?limit=5`),
    )
    expect(turns.turns.map((t) => t.turn_id)).toEqual(['w-2:0', 'w-2:1', 'w-2:2'])
    expect(turns.turns[0]?.tool_calls).toEqual([{ name: 'bash' }])

    const usage = await json<{ rows: { day: string; turns: number }[]; totals: object }>(
      await call(owner, '/v1/usage?group_by=day&from=2026-11-01&to=2026-12-01'),
    )
    const byDay = await db.execute({
      sql: `select substr(timestamp, 1, 10) as day, count(*) as turns from turns
            where owner = ? group by day order by day`,
      args: [owner],
    })
    expect(usage.rows.map((r) => [r.day, r.turns])).toEqual(
      byDay.rows.map((r) => [r.day, Number(r.turns)]),
    )
    expect(usage.totals).toMatchObject({ turns: lines.length, sessions: 7 })

    const zoned = await json<{ rows: { day: string }[] }>(
      await call(owner, '/v1/usage?tz=Asia%2FTokyo&from=2026-11-01&to=2026-12-01'),
    )
    expect(zoned.rows.length).toBeGreaterThan(0)
    expect(zoned.rows.reduce((n, r) => n + (r as unknown as { turns: number }).turns, 0)).toBe(
      lines.length,
    )
  })

  it("answers another owner's session with the same 404 as a missing one", async () => {
    const owner = freshOwner()
    await ingest(owner, [turn(1, 0)])
    const path = `/v1/sessions/codex/${encodeURIComponent('c%d')}/w-1`
    expect((await call(owner, path)).status).toBe(200)
    const headers = { 'x-request-id': 'same' }
    const foreign = await call(freshOwner(), path, { headers })
    const missing = await call(owner, `${path}-missing`, { headers })
    expect(foreign.status).toBe(404)
    expect(await foreign.text()).toBe(await missing.text())
    expect((await call(undefined, path)).status).toBe(401)
  })

  it('names a bad parameter and serves the OpenAPI document without a token', async () => {
    const bad = await call(freshOwner(), '/v1/sessions?limit=0')
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ code: 'INVALID_QUERY', parameter: 'limit' })
    const doc = await json<{ openapi: string; paths: object }>(
      await call(undefined, '/openapi.json'),
    )
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toContain('/v1/usage')
  })
})
