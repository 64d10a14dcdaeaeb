/**
 * The read API against a real database: every page, aggregate and usage total compared with the
 * same answer read straight from SQL, while another client keeps ingesting.
 */
import fc from 'fast-check'
import * as v from 'valibot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionPageShape, sessionShape, turnPageShape, usageShape } from '../../src/read/responses'
import { post, testApp } from '../helpers/app'
import { createTestDatabase, freshOwner, type TestDatabase } from '../helpers/db'
import {
  get,
  getJson,
  roundCosts,
  sessionPath,
  sessionsFromDb,
  usageByDayFromDb,
  walk,
} from '../helpers/read'
import { ndjson, type WireTurn, wireTurn } from '../helpers/turns'

let db: TestDatabase
let app: ReturnType<typeof testApp>['app']

beforeAll(async () => {
  db = await createTestDatabase()
  app = testApp(db, { chunkLines: 7 }).app
})
afterAll(() => db.close())

const tools = ['claude-code', 'codex']
const hosts = ['laptop-7', 'ci']
const models = ['claude-sonnet-4-5', 'gpt-5', null]

/** `sessions` sessions over a few days, 1–6 turns each, mixed models, nulls and JSON fields. */
function corpus(sessions: number, prefix = 's'): WireTurn[] {
  const lines: WireTurn[] = []
  for (let s = 0; s < sessions; s++) {
    const turns = 1 + (s % 6)
    for (let t = 0; t < turns; t++) {
      const at = Date.UTC(2026, 10, 20 + (s % 5), (s * 7) % 24, t * 3, s % 60)
      lines.push(
        wireTurn({
          tool: tools[s % 2],
          host: hosts[Math.floor(s / 2) % 2],
          session_id: `${prefix}-${s}`,
          turn_id: `${prefix}-${s}:${t}`,
          seq: t % 3, // repeated seqs: ties are broken by timestamp, then turn_id
          timestamp: new Date(at).toISOString(),
          model: models[(s + t) % 3],
          tokens_in: t === 1 ? null : 10 * t + s,
          tokens_out: 3 * t,
          cost_usd: t === 2 ? null : 0.001 * (t + 1),
          tool_calls: t % 2 === 0 ? [{ name: 'bash', input: { cmd: `ls ${s}` } }] : null,
          metadata: { n: t },
          session_meta: { working_dir: `/home/a/proj-${s % 4}`, metadata: { s } },
        }),
      )
    }
  }
  return lines
}

async function ingest(owner: string, lines: WireTurn[]) {
  const res = await post(app, owner, ndjson(lines))
  expect(res.status).toBe(200)
}

describe('GET /v1/sessions', () => {
  it('pages through every session exactly once while another client ingests', async () => {
    const owner = freshOwner('reader')
    const other = freshOwner('neighbour')
    await ingest(owner, corpus(23))
    await ingest(other, corpus(9))
    const before = roundCosts(await sessionsFromDb(db.client, owner))
    expect(before).toHaveLength(23)

    // Between pages: new sessions for both owners, some newer than all, some older than all.
    let n = 0
    const between = async () => {
      n++
      const newer = wireTurn({ session_id: `late-${n}`, timestamp: '2026-12-30T00:00:00.000Z' })
      const older = wireTurn({ session_id: `early-${n}`, timestamp: '2026-01-01T00:00:00.000Z' })
      await ingest(owner, [newer, older])
      await ingest(other, [wireTurn({ session_id: `x-${n}` })])
    }
    const { rows, pages } = await walk<v.InferOutput<typeof sessionShape>>(
      app,
      owner,
      '/v1/sessions?limit=4',
      'sessions',
      between,
    )
    expect(pages).toBeGreaterThan(6)
    const keys = rows.map((s) => `${s.tool}/${s.host}/${s.session_id}`)
    expect(new Set(keys).size).toBe(keys.length)
    // Every session that existed before the walk, exactly once and as it was.
    const seen = roundCosts(rows.filter((s) => !/^(late|early)-/.test(s.session_id)))
    expect(seen).toEqual(before)
    // Sessions added behind the cursor are found too; none of the neighbour's.
    expect(rows.filter((s) => s.session_id.startsWith('early-')).length).toBeGreaterThan(0)
    expect(rows.some((s) => s.session_id.startsWith('x-'))).toBe(false)

    // A walk once things are still matches the database row for row, in order.
    const still = await walk(app, owner, '/v1/sessions?limit=7', 'sessions')
    expect(roundCosts(still.rows)).toEqual(roundCosts(await sessionsFromDb(db.client, owner)))
  })

  it('answers the contract shape, newest activity first, 50 a page by default', async () => {
    const owner = freshOwner()
    await ingest(owner, corpus(55))
    const page = await getJson(app, owner, '/v1/sessions')
    const parsed = v.parse(sessionPageShape, page)
    expect(parsed.sessions).toHaveLength(50)
    expect(parsed.next_cursor).toEqual(expect.any(String))
    const ends = parsed.sessions.map((s) => s.ended_at)
    expect([...ends].sort().reverse()).toEqual(ends)
    const rest = v.parse(
      sessionPageShape,
      await getJson(app, owner, `/v1/sessions?cursor=${parsed.next_cursor}`),
    )
    expect(rest.sessions).toHaveLength(5)
    expect(rest.next_cursor).toBeNull()
  })

  it('filters by tool, host, activity window and substring', async () => {
    const owner = freshOwner()
    await ingest(owner, corpus(20))
    const all = await sessionsFromDb(db.client, owner)
    const list = async (query: string) =>
      (
        await walk<{ session_id: string }>(app, owner, `/v1/sessions?limit=3&${query}`, 'sessions')
      ).rows.map((s) => s.session_id)
    const ids = (pick: (s: (typeof all)[number]) => boolean) =>
      all.filter(pick).map((s) => String(s.session_id))

    expect(await list('tool=codex')).toEqual(ids((s) => s.tool === 'codex'))
    expect(await list('tool=codex&host=ci')).toEqual(
      ids((s) => s.tool === 'codex' && s.host === 'ci'),
    )
    const since = '2026-11-22T00:00:00Z'
    const until = '2026-11-23T12:00:00+01:00' // 11:00Z
    expect(
      await list(`since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`),
    ).toEqual(
      ids(
        (s) =>
          String(s.ended_at) >= '2026-11-22T00:00:00.000Z' &&
          String(s.started_at) < '2026-11-23T11:00:00.000Z',
      ),
    )
    expect(await list('q=proj-3')).toEqual(ids((s) => String(s.working_dir).includes('proj-3')))
    expect(await list('q=s-1')).toEqual(ids((s) => String(s.session_id).includes('s-1')))
    expect(await list('tool=nobody')).toEqual([])
  })
})

describe('keyset pages, as a property', () => {
  it('any limit walks sessions and turns in order, each once, ties in time included', async () => {
    // Few distinct timestamps and seqs, so ties in the sort key are the common case.
    const stamp = fc.constantFrom(
      '2026-11-01T00:00:00.000Z',
      '2026-11-01T00:00:01.000Z',
      '2026-11-02T00:00:00.000Z',
    )
    const turnArb = fc.record({
      tool: fc.constantFrom('a', 'b', 'a/b'),
      host: fc.constantFrom('h', '%', 'h h'),
      session_id: fc.constantFrom('s1', 's2', 's/3', 'ş4'),
      turn_id: fc.string({ minLength: 1, maxLength: 4, unit: 'grapheme-ascii' }),
      seq: fc.integer({ min: 0, max: 2 }),
      timestamp: stamp,
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(turnArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        async (lines, limit) => {
          const owner = freshOwner('prop')
          await ingest(
            owner,
            lines.map((l) => wireTurn({ ...l, role: 'user' })),
          )
          const listed = await walk<{ tool: string; host: string; session_id: string }>(
            app,
            owner,
            `/v1/sessions?limit=${limit}`,
            'sessions',
          )
          const expected = await sessionsFromDb(db.client, owner)
          expect(listed.rows.map((s) => [s.tool, s.host, s.session_id])).toEqual(
            expected.map((s) => [s.tool, s.host, s.session_id]),
          )
          for (const s of listed.rows) {
            const path = `${sessionPath(s.tool, s.host, s.session_id)}/turns?limit=${limit}`
            const { rows } = await walk<{ turn_id: string }>(app, owner, path, 'turns')
            const stored = await db.client.execute({
              sql: `select turn_id from turns where owner = ? and tool = ? and host = ?
                    and session_id = ? order by seq, timestamp, turn_id`,
              args: [owner, s.tool, s.host, s.session_id],
            })
            expect(rows.map((t) => t.turn_id)).toEqual(stored.rows.map((r) => r.turn_id))
          }
        },
      ),
      { numRuns: 25 },
    )
  })
})

describe('GET /v1/sessions/{tool}/{host}/{session_id} and its turns', () => {
  it('answers one session with its aggregates and an ETag that revalidates', async () => {
    const owner = freshOwner()
    await ingest(owner, corpus(6))
    const expected = roundCosts(await sessionsFromDb(db.client, owner))
    for (const session of expected) {
      const path = sessionPath(
        String(session.tool),
        String(session.host),
        String(session.session_id),
      )
      const res = await get(app, owner, path)
      expect(res.status).toBe(200)
      const body = v.parse(sessionShape, await res.json())
      expect(roundCosts(body)).toEqual(session)
      const etag = res.headers.get('etag')
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/)
      const again = await get(app, owner, path, { 'if-none-match': `W/${etag}, "other"` })
      expect(again.status).toBe(304)
      expect(again.headers.get('etag')).toBe(etag)
      expect(await again.text()).toBe('')
    }
    // A new turn changes the session, so the old ETag no longer matches.
    const first = expected[0]
    if (first === undefined) throw new Error('no session')
    const path = sessionPath(String(first.tool), String(first.host), String(first.session_id))
    const etag = (await get(app, owner, path)).headers.get('etag') ?? ''
    await ingest(owner, [
      wireTurn({ tool: first.tool, host: first.host, session_id: first.session_id }),
    ])
    const changed = await get(app, owner, path, { 'if-none-match': etag })
    expect(changed.status).toBe(200)
    expect(((await changed.json()) as { turns: number }).turns).toBe(first.turns + 1)
  })

  it('pages turns in seq, timestamp, turn_id order with every stored field', async () => {
    const owner = freshOwner()
    const lines = corpus(6).filter((t) => t.session_id === 's-5')
    await ingest(owner, lines)
    const path = `${sessionPath('codex', 'laptop-7', 's-5')}/turns?limit=2`
    const { rows, pages } = await walk(app, owner, path, 'turns')
    expect(pages).toBe(3)
    const { rows: stored } = await db.client.execute({
      sql: `select * from turns where owner = ? order by seq, timestamp, turn_id`,
      args: [owner],
    })
    expect(rows).toEqual(
      stored.map((r) => ({
        turn_id: r.turn_id,
        seq: r.seq,
        role: r.role,
        timestamp: r.timestamp,
        content: r.content,
        model: r.model,
        tokens_in: r.tokens_in,
        tokens_out: r.tokens_out,
        cost_usd: r.cost_usd,
        tool_calls: r.tool_calls === null ? null : JSON.parse(String(r.tool_calls)),
        metadata: r.metadata === null ? null : JSON.parse(String(r.metadata)),
      })),
    )
    expect(rows[0]).toMatchObject({ tool_calls: [{ name: 'bash', input: { cmd: 'ls 5' } }] })
    const page = await get(app, owner, path)
    v.parse(turnPageShape, await page.json())
    expect(page.headers.get('etag')).toMatch(/^"/)
  })

  it('finds keys holding any character, URL-encoded in the path', async () => {
    const owner = freshOwner()
    const keys = [
      ['tool/with/slashes', 'host%25literal', 'id with spaces ?#&=+'],
      ['ünïcødé', 'h%2F', '%'],
      ['a', 'b', 'x/../y'],
      ['a', 'b', 'turns'],
    ]
    for (const [tool, host, sessionId] of keys) {
      await ingest(owner, [wireTurn({ tool, host, session_id: sessionId, turn_id: 't/%1' })])
    }
    for (const [tool = '', host = '', sessionId = ''] of keys) {
      const path = sessionPath(tool, host, sessionId)
      const session = await getJson(app, owner, path)
      expect(session).toMatchObject({ tool, host, session_id: sessionId, turns: 1 })
      const turns = await getJson(app, owner, `${path}/turns`)
      expect(turns).toMatchObject({ turns: [{ turn_id: 't/%1' }], next_cursor: null })
    }
  })
})

describe('GET /v1/usage', () => {
  it('sums dollars without the noise of binary floats: 0.1 + 0.2 is 0.3', async () => {
    const owner = freshOwner('usd')
    const lines = [0.1, 0.2].map((cost, t) =>
      wireTurn({
        session_id: 'usd',
        turn_id: `usd:${t}`,
        seq: t,
        timestamp: `2026-11-2${t}T10:00:00.000Z`,
        cost_usd: cost,
      }),
    )
    expect((await post(app, owner, ndjson(lines))).status).toBe(200)
    const usage = v.parse(usageShape, await getJson(app, owner, '/v1/usage?group_by=day'))
    expect(usage.rows.map((r) => r.cost_usd)).toEqual([0.1, 0.2])
    expect(0.1 + 0.2).not.toBe(0.3)
    expect(usage.totals.cost_usd).toBe(0.3)
    const session = await getJson(app, owner, sessionPath('claude-code', 'laptop-7', 'usd'))
    expect(session).toMatchObject({ turns: 2, cost_usd: 0.3 })
  })

  it('totals by UTC day equal the database read directly', async () => {
    const owner = freshOwner()
    await ingest(owner, corpus(30))
    await ingest(freshOwner(), corpus(30))
    const from = '2026-11-21'
    const to = '2026-11-24'
    const usage = v.parse(
      usageShape,
      await getJson(app, owner, `/v1/usage?group_by=day&from=${from}&to=${to}`),
    )
    expect(usage).toMatchObject({
      group_by: ['day'],
      from: '2026-11-21T00:00:00.000Z',
      to: '2026-11-24T00:00:00.000Z',
      tz: 'UTC',
    })
    const expected = await usageByDayFromDb(
      db.client,
      owner,
      '2026-11-21T00:00:00.000Z',
      '2026-11-24T00:00:00.000Z',
    )
    expect(expected).toHaveLength(3)
    expect(roundCosts(usage.rows)).toEqual(roundCosts(expected))
    const whole = await usageByDayFromDb(db.client, owner, from, to, "'all'")
    const { day: _, ...totals } = whole[0] ?? {}
    expect(roundCosts(usage.totals)).toEqual(roundCosts(totals))
  })

  it('groups by two keys, model null included, and counts distinct sessions', async () => {
    const owner = freshOwner()
    await ingest(owner, corpus(12))
    const usage = v.parse(usageShape, await getJson(app, owner, '/v1/usage?group_by=model,tool'))
    const { rows } = await db.client.execute({
      sql: `select model, tool, count(*) as turns, coalesce(sum(tokens_in), 0) as tokens_in,
              coalesce(sum(tokens_out), 0) as tokens_out, coalesce(sum(cost_usd), 0) as cost_usd,
              count(distinct host || char(31) || session_id) as sessions
            from turns where owner = ? group by model, tool
            order by model is null, model, tool`,
      args: [owner],
    })
    expect(roundCosts(usage.rows)).toEqual(
      roundCosts(
        rows.map((r) => ({
          model: r.model,
          tool: r.tool,
          turns: Number(r.turns),
          tokens_in: Number(r.tokens_in),
          tokens_out: Number(r.tokens_out),
          cost_usd: Number(r.cost_usd),
          sessions: Number(r.sessions),
        })),
      ),
    )
    expect(usage.rows.some((r) => r.model === null)).toBe(true)
    expect(usage.totals.sessions).toBe(12)
    expect(usage.from).toBeNull()
  })

  it('counts a session_id shared by two hosts and a tool as three sessions, on each day', async () => {
    const owner = freshOwner()
    const turn = (tool: string, host: string, sessionId: string, timestamp: string) =>
      wireTurn({ tool, host, session_id: sessionId, timestamp, tokens_in: 1, cost_usd: null })
    await ingest(owner, [
      // One session over midnight (UTC), and its id again on another host and under another tool.
      turn('claude-code', 'laptop-7', 'shared', '2026-11-21T23:30:00.000Z'),
      turn('claude-code', 'laptop-7', 'shared', '2026-11-22T00:30:00.000Z'),
      turn('claude-code', 'ci', 'shared', '2026-11-22T10:00:00.000Z'),
      turn('codex', 'ci', 'shared', '2026-11-22T11:00:00.000Z'),
      turn('codex', 'ci', 'shared', '2026-11-23T09:00:00.000Z'),
      turn('codex', 'ci', 'own', '2026-11-23T10:00:00.000Z'),
      // Before the range: its id is shared too, with a session that ended long before.
      turn('claude-code', 'laptop-7', 'old', '2026-10-01T10:00:00.000Z'),
      turn('codex', 'laptop-7', 'old', '2026-10-01T11:00:00.000Z'),
    ])
    const from = '2026-11-21T00:00:00.000Z'
    const to = '2026-11-24T00:00:00.000Z'
    const byDay = v.parse(
      usageShape,
      await getJson(app, owner, '/v1/usage?group_by=day&from=2026-11-21&to=2026-11-24'),
    )
    expect(byDay.rows.map((r) => [r.day, r.turns, r.sessions])).toEqual([
      ['2026-11-21', 1, 1],
      ['2026-11-22', 3, 3],
      ['2026-11-23', 2, 2],
    ])
    expect(byDay.rows).toEqual(await usageByDayFromDb(db.client, owner, from, to))
    expect(byDay.totals).toMatchObject({ turns: 6, sessions: 4 })

    const pairs = v.parse(usageShape, await getJson(app, owner, '/v1/usage?group_by=day,host'))
    expect(pairs.rows.map((r) => [r.day, r.host, r.sessions])).toEqual([
      ['2026-10-01', 'laptop-7', 2],
      ['2026-11-21', 'laptop-7', 1],
      ['2026-11-22', 'ci', 2],
      ['2026-11-22', 'laptop-7', 1],
      ['2026-11-23', 'ci', 2],
    ])
    expect(pairs.totals.sessions).toBe(6)

    // In UTC-3 the session over UTC midnight falls on one local day.
    const zoned = v.parse(
      usageShape,
      await getJson(
        app,
        owner,
        '/v1/usage?group_by=day&tz=America%2FSao_Paulo&from=2026-11-21&to=2026-11-24',
      ),
    )
    expect(zoned.rows.map((r) => [r.day, r.turns, r.sessions])).toEqual([
      ['2026-11-21', 2, 1],
      ['2026-11-22', 2, 2],
      ['2026-11-23', 2, 2],
    ])
  })

  it('buckets days in an IANA zone, across a daylight-saving change', async () => {
    const owner = freshOwner()
    // Europe/Berlin leaves summer time at 2026-10-25T01:00Z (UTC+2 -> UTC+1).
    const stamps = [
      '2026-10-24T21:59:59.999Z', // 23:59 local, Oct 24 (UTC+2)
      '2026-10-24T22:00:00.000Z', // 00:00 local, Oct 25
      '2026-10-25T22:59:00.000Z', // 23:59 local, Oct 25 (UTC+1)
      '2026-10-25T23:00:00.000Z', // 00:00 local, Oct 26
      '2026-12-01T23:30:00.000Z', // Dec 2 local
    ]
    await ingest(
      owner,
      stamps.map((timestamp, i) =>
        wireTurn({ session_id: `tz-${i % 2}`, timestamp, tokens_in: 1, cost_usd: null }),
      ),
    )
    const path = '/v1/usage?tz=Europe%2FBerlin&from=2026-10-24&to=2026-12-03'
    const usage = v.parse(usageShape, await getJson(app, owner, path))
    expect(usage.from).toBe('2026-10-23T22:00:00.000Z')
    expect(usage.to).toBe('2026-12-02T23:00:00.000Z')
    const local = (at: string) =>
      new Date(at).toLocaleDateString('en-CA', { timeZone: 'Europe/Berlin' })
    const expected = new Map<string, number>()
    for (const at of stamps) expected.set(local(at), (expected.get(local(at)) ?? 0) + 1)
    expect(usage.rows.map((r) => [r.day, r.turns])).toEqual([...expected])
    // Both sessions span several days: each day counts them, the totals once.
    expect(usage.totals).toMatchObject({ turns: 5, tokens_in: 5, sessions: 2 })
    expect(usage.rows.map((r) => r.day)).toEqual([
      '2026-10-24',
      '2026-10-25',
      '2026-10-26',
      '2026-12-02',
    ])
    const utc = await getJson<{ rows: { day: string }[] }>(app, owner, '/v1/usage')
    expect(utc.rows.map((r) => r.day)).toEqual(['2026-10-24', '2026-10-25', '2026-12-01'])
  })
})
