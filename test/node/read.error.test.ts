/** Bad query parameters are 400 problems naming the parameter; wrong methods and keys as usual. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeTurnsCursor } from '../../src/read/cursor'
import { post, testApp } from '../helpers/app'
import { createTestDatabase, freshOwner, type TestDatabase } from '../helpers/db'
import { get, sessionPath } from '../helpers/read'
import { ndjson, wireTurn } from '../helpers/turns'

let db: TestDatabase
let app: ReturnType<typeof testApp>['app']
const owner = freshOwner()

beforeAll(async () => {
  db = await createTestDatabase()
  app = testApp(db).app
  await post(app, owner, ndjson([wireTurn({ session_id: 'e-1' }), wireTurn({ session_id: 'e-1' })]))
})
afterAll(() => db.close())

async function expectInvalid(path: string, parameter: string) {
  const res = await get(app, owner, path)
  expect(res.status, path).toBe(400)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  const body = (await res.json()) as Record<string, unknown>
  expect(body).toMatchObject({
    type: 'urn:tributary:problem:invalid-query',
    status: 400,
    code: 'INVALID_QUERY',
    parameter,
  })
  expect(String(body.detail)).toContain(parameter)
}

describe('400 INVALID_QUERY names the parameter', () => {
  const turns = `${sessionPath('claude-code', 'laptop-7', 'e-1')}/turns`
  it.each([
    ['/v1/sessions?limit=0', 'limit'],
    ['/v1/sessions?limit=501', 'limit'],
    ['/v1/sessions?limit=ten', 'limit'],
    ['/v1/sessions?limit=-1', 'limit'],
    ['/v1/sessions?limit=5&limit=6', 'limit'],
    ['/v1/sessions?cursor=not-a-cursor', 'cursor'],
    ['/v1/sessions?cursor=', 'cursor'],
    [
      `/v1/sessions?cursor=${encodeTurnsCursor({ seq: 1, timestamp: '2026-11-22T13:22:26.123Z', turnId: 'x' })}`,
      'cursor',
    ],
    ['/v1/sessions?since=yesterday', 'since'],
    ['/v1/sessions?until=2026-02-30T00:00:00Z', 'until'],
    ['/v1/sessions?since=2026-11-22', 'since'],
    ['/v1/sessions?tool=', 'tool'],
    ['/v1/sessions?q=', 'q'],
    ['/v1/sessions?offset=10', 'offset'],
    [`${turns}?limit=1000`, 'limit'],
    [`${turns}?cursor=eyJ4IjoxfQ`, 'cursor'],
    [`${turns}?since=2026-11-22T00:00:00Z`, 'since'],
    [`${sessionPath('claude-code', 'laptop-7', 'e-1')}?limit=3`, 'limit'],
    ['/v1/usage?group_by=week', 'group_by'],
    ['/v1/usage?group_by=day,day', 'group_by'],
    ['/v1/usage?group_by=day,model,tool', 'group_by'],
    ['/v1/usage?from=2026-13-01', 'from'],
    ['/v1/usage?to=soon', 'to'],
    ['/v1/usage?from=2026-12-02&to=2026-12-01', 'to'],
    ['/v1/usage?tz=Mars%2FOlympus', 'tz'],
    ['/v1/usage?tz=', 'tz'],
  ])('%s -> %s', async (path, parameter) => {
    await expectInvalid(path, parameter)
  })

  it.each([
    ['t', -1, '2026-11-22T13:22:26.123Z', 'x'],
    ['t', 1.5, '2026-11-22T13:22:26.123Z', 'x'],
    ['t', 1, 'soon', 'x'],
    ['t', 1, '2026-11-22T13:22:26.123Z', ''],
    ['t', 1, '2026-11-22T13:22:26.123Z', 'x', 'extra'],
    { seq: 1 },
  ])('forged cursor %# is refused', async (...tuple) => {
    const forged = btoa(JSON.stringify(tuple.length === 1 ? tuple[0] : tuple))
      .replaceAll('+', '-')
      .replaceAll('/', '_')
      .replace(/=+$/, '')
    await expectInvalid(`${turns}?cursor=${forged}`, 'cursor')
  })

  it('details say what is wrong', async () => {
    const detail = async (path: string) =>
      ((await (await get(app, owner, path)).json()) as { detail: string }).detail
    expect(await detail('/v1/sessions?limit=0')).toBe(
      'Query parameter limit must be a whole number from 1 to 500.',
    )
    expect(await detail('/v1/sessions?offset=1')).toBe('Query parameter offset is not known here.')
    expect(await detail('/v1/usage?from=x')).toBe(
      'Query parameter from must be YYYY-MM-DD or an RFC 3339 date-time with Z or an offset.',
    )
  })
})

describe('methods, paths and the database', () => {
  it.each([
    ['POST', '/v1/sessions'],
    ['DELETE', sessionPath('a', 'b', 'c')],
    ['PUT', '/v1/usage'],
    ['POST', '/openapi.json'],
  ])('%s %s is a 405 naming GET', async (method, path) => {
    const res = await app.request(path, { method })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, HEAD')
  })

  it('a session path with a missing segment is a 404', async () => {
    const res = await get(app, owner, '/v1/sessions/claude-code/laptop-7')
    expect(res.status).toBe(404)
  })

  it('a database that is gone is a 503 with Retry-After', async () => {
    const gone = await createTestDatabase()
    const broken = testApp(gone).app
    await gone.close()
    const res = await get(broken, owner, '/v1/sessions')
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(await res.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE' })
  })
})
