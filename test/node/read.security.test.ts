/**
 * The read API's trust model: a bearer token on every read, the owner from it alone, and
 * nothing that tells one owner another exists — not a status, a body, a header or a count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeSessionsCursor } from '../../src/read/cursor'
import { post, testApp } from '../helpers/app'
import { createTestDatabase, freshOwner, type TestDatabase } from '../helpers/db'
import { SECRET, signToken } from '../helpers/keys'
import { get, getJson, sessionPath, walk } from '../helpers/read'
import { ndjson, wireTurn } from '../helpers/turns'

let db: TestDatabase
let app: ReturnType<typeof testApp>['app']
const alice = freshOwner('alice')
const bob = freshOwner('bob')
const key = { tool: 'claude-code', host: 'shared-host', session_id: 'same-id' }

beforeAll(async () => {
  db = await createTestDatabase()
  app = testApp(db).app
  // The same session key for both owners; only Alice has `alice-only`.
  await post(app, alice, ndjson([wireTurn({ ...key, tokens_in: 100, content: 'alice secret' })]))
  await post(app, alice, ndjson([wireTurn({ ...key, session_id: 'alice-only' })]))
  await post(app, bob, ndjson([wireTurn({ ...key, tokens_in: 7, content: 'bob text' })]))
})
afterAll(() => db.close())

const sessionRoutes = [
  sessionPath(key.tool, key.host, 'alice-only'),
  `${sessionPath(key.tool, key.host, 'alice-only')}/turns`,
]

describe('authentication', () => {
  it.each(['/v1/sessions', '/v1/usage', ...sessionRoutes])(
    '%s needs a valid bearer token',
    async (path) => {
      for (const authorization of [undefined, 'Bearer nope', `Basic ${btoa('a:b')}`]) {
        const res = await app.request(path, {
          headers: authorization === undefined ? {} : { authorization },
        })
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
      }
      const wrongKey = await signToken('another-secret-0123456789-abcdefghij', {
        claims: { sub: alice },
      })
      const res = await app.request(path, { headers: { authorization: `Bearer ${wrongKey}` } })
      expect(res.status).toBe(401)
    },
  )

  it('/openapi.json is public and leaks no data', async () => {
    const res = await app.request('/openapi.json')
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).not.toContain(alice)
    expect(text).not.toContain(SECRET)
  })
})

describe('owner isolation', () => {
  it("another owner's session is the same 404 as a missing one, byte for byte", async () => {
    for (const path of sessionRoutes) {
      const foreign = await get(app, bob, path, { 'x-request-id': 'r' })
      const missing = await get(app, bob, path.replace('alice-only', 'nobody-has'), {
        'x-request-id': 'r',
      })
      expect(foreign.status).toBe(404)
      expect(missing.status).toBe(404)
      expect(await foreign.text()).toBe(await missing.text())
      expect([...foreign.headers]).toEqual([...missing.headers])
    }
  })

  it('the same key under two owners reads back each owner’s own rows', async () => {
    const path = sessionPath(key.tool, key.host, key.session_id)
    expect(await getJson(app, alice, path)).toMatchObject({ tokens_in: 100, turns: 1 })
    expect(await getJson(app, bob, path)).toMatchObject({ tokens_in: 7, turns: 1 })
    const turns = await getJson<{ turns: { content: string }[] }>(app, bob, `${path}/turns`)
    expect(turns.turns.map((t) => t.content)).toEqual(['bob text'])
  })

  it('lists and usage count only the caller’s rows, whatever the cursor says', async () => {
    const { rows } = await walk<{ session_id: string }>(
      app,
      bob,
      '/v1/sessions?limit=1',
      'sessions',
    )
    expect(rows.map((s) => s.session_id)).toEqual(['same-id'])
    // A cursor forged to point just past Alice's session finds nothing of hers.
    const forged = encodeSessionsCursor({
      endedAt: '9999-12-31T23:59:59.999Z',
      tool: key.tool,
      host: key.host,
      sessionId: 'alice-only',
    })
    const page = await getJson<{ sessions: { session_id: string }[] }>(
      app,
      bob,
      `/v1/sessions?cursor=${forged}`,
    )
    expect(page.sessions.map((s) => s.session_id)).toEqual(['same-id'])
    const usage = await getJson<{ totals: { turns: number; tokens_in: number } }>(
      app,
      bob,
      '/v1/usage?group_by=host',
    )
    expect(usage.totals).toMatchObject({ turns: 1, tokens_in: 7, sessions: 1 })
  })

  it('a filter or query parameter cannot name an owner', async () => {
    const res = await get(app, bob, `/v1/sessions?owner=${alice}`)
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ parameter: 'owner' })
  })

  it('an ETag of one owner does not reveal another’s answer', async () => {
    const path = sessionPath(key.tool, key.host, key.session_id)
    const aliceTag = (await get(app, alice, path)).headers.get('etag') ?? ''
    const res = await get(app, bob, path, { 'if-none-match': aliceTag })
    expect(res.status).toBe(200)
    expect(res.headers.get('etag')).not.toBe(aliceTag)
  })
})

describe('what comes back is data', () => {
  it('problems never echo the requested key', async () => {
    const marker = '<script>alert(1)</script>'
    const res = await get(app, alice, sessionPath(marker, marker, marker))
    expect(res.status).toBe(404)
    expect(await res.text()).not.toContain('script')
  })
})
