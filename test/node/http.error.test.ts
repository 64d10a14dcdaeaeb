import { gzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import worker from '../../src/index'
import { openNodeDatabase } from '../../src/node/database'
import { post, testApp, tokenFor } from '../helpers/app'
import { freshOwner, turnsOf } from '../helpers/db'
import { SECRET } from '../helpers/keys'
import { testSuite } from '../helpers/suite'
import { ndjson, wireTurn } from '../helpers/turns'

const suite = testSuite({ limits: { chunkLines: 2, maxBodyBytes: 4096 } })

type ProblemBody = {
  type: string
  title: string
  status: number
  detail: string
  code: string
  committed?: Record<string, unknown>
}

const problem = async (res: Response, status: number, code: string): Promise<ProblemBody> => {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  const body = (await res.json()) as ProblemBody
  expect(body).toMatchObject({
    status,
    code,
    type: expect.stringMatching(/^urn:tributary:problem:/),
  })
  expect(body.title).toBeTruthy()
  expect(body.detail).toBeTruthy()
  return body
}

/** A body that records whether anyone read from it. */
const watchedBody = () => {
  const state = { pulled: false }
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        state.pulled = true
        controller.enqueue(new TextEncoder().encode(ndjson([wireTurn()])))
        controller.close()
      },
    },
    { highWaterMark: 0 },
  ) // pull only when someone reads
  return { stream, state }
}

describe('authentication comes first', () => {
  it('answers 401 without reading a byte of the body, with one identical body', async () => {
    const bodies = new Set<string>()
    for (const authorization of [undefined, 'Bearer not-a-jwt', 'Basic dXNlcjpwYXNz']) {
      const { stream, state } = watchedBody()
      const res = await suite.app.request('/v1/ingest', {
        method: 'POST',
        headers: {
          'content-type': 'text/plain', // also wrong, but authentication is checked first
          'x-request-id': 'one-id', // so the bodies may be identical
          ...(authorization === undefined ? {} : { authorization }),
        },
        body: stream,
        duplex: 'half',
      } as RequestInit)
      const body = await problem(res, 401, 'UNAUTHORIZED')
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(state.pulled).toBe(false)
      bodies.add(JSON.stringify(body))
    }
    expect(bodies.size).toBe(1)
  })
})

describe('request checks before the body', () => {
  it.each([
    [undefined, 'Content-Type is required'],
    ['text/plain', 'not an NDJSON media type'],
    ['application/json', 'not an NDJSON media type'],
    ['application/x-ndjson; charset=latin1', 'charset=utf-8'],
  ])('answers 415 for Content-Type %s', async (type, detail) => {
    const res = await suite.app.request('/v1/ingest', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await tokenFor(freshOwner())}`,
        ...(type === undefined ? {} : { 'content-type': type }),
      },
      body: new TextEncoder().encode(ndjson([wireTurn()])), // bytes: no default Content-Type
    })
    expect((await problem(res, 415, 'UNSUPPORTED_MEDIA_TYPE')).detail).toContain(detail)
  })

  it('answers 415 for an unsupported Content-Encoding', async () => {
    for (const encoding of ['br', 'zstd', 'gzip, gzip']) {
      const res = await suite.post(freshOwner(), ndjson([wireTurn()]), {
        'content-encoding': encoding,
      })
      await problem(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
    }
  })

  it('answers 413 for a declared Content-Length above the cap without reading', async () => {
    const { stream, state } = watchedBody()
    const res = await suite.post(freshOwner(), stream, { 'content-length': '4097' })
    const body = await problem(res, 413, 'PAYLOAD_TOO_LARGE')
    expect(body.committed).toBeUndefined()
    expect(state.pulled).toBe(false)
  })
})

describe('failures found in the body carry what was committed', () => {
  it('answers 413 when the streamed body passes the cap', async () => {
    const owner = freshOwner()
    const lines = Array.from({ length: 40 }, (_, i) => wireTurn({ turn_id: `t${i}` }))
    const body = await problem(await suite.post(owner, ndjson(lines)), 413, 'PAYLOAD_TOO_LARGE')
    expect(body.committed).toMatchObject({
      accepted: (await turnsOf(suite.db.client, owner)).length,
    })
  })

  it('answers 400 BAD_ENCODING for a corrupt or truncated gzip body', async () => {
    const inflating = testApp(suite.db, { chunkLines: 2, maxBodyBytes: 4096 }).app
    const whole = gzipSync(ndjson(Array.from({ length: 3 }, () => wireTurn())))
    const truncated = new Uint8Array(whole.subarray(0, whole.length - 12))
    for (const bytes of [truncated, new TextEncoder().encode('not gzip')]) {
      const owner = freshOwner()
      const res = await post(inflating, owner, bytes, { 'content-encoding': 'gzip' })
      const body = await problem(res, 400, 'BAD_ENCODING')
      // What inflated before the damage may have committed: the summary says exactly that.
      const stored = await turnsOf(suite.db.client, owner)
      expect(body.committed).toMatchObject({ accepted: stored.length })
      expect(stored.length).toBe(bytes === truncated ? 2 : 0)
    }
  })

  it('answers 503 with Retry-After when the database is gone', async () => {
    const client = await openNodeDatabase(suite.db.url)
    const broken = testApp({ ...suite.db, client }, { chunkLines: 2 }).app
    client.close()
    const res = await post(broken, freshOwner(), ndjson([wireTurn(), wireTurn(), wireTurn()]))
    const body = await problem(res, 503, 'DATABASE_UNAVAILABLE')
    expect(res.headers.get('retry-after')).toBe('5')
    expect(body.committed).toMatchObject({ accepted: 0, chunks: 0 })
    const ready = await broken.request('/readyz')
    await problem(ready, 503, 'DATABASE_UNAVAILABLE')
    expect((await broken.request('/healthz')).status).toBe(200)
  })
})

describe('routing', () => {
  it('answers unknown paths with 404 and wrong methods with 405, before authentication', async () => {
    await problem(await suite.app.request('/v2/nothing', { method: 'POST' }), 404, 'NOT_FOUND')
    const wrong = await suite.app.request('/v1/ingest', { method: 'GET' })
    await problem(wrong, 405, 'METHOD_NOT_ALLOWED')
    expect(wrong.headers.get('allow')).toBe('POST')
    const del = await suite.app.request('/healthz', { method: 'DELETE' })
    await problem(del, 405, 'METHOD_NOT_ALLOWED')
  })
})

describe('the Worker entry fails closed on bad configuration', () => {
  // The entry logs what is wrong for the operator: captured here, and held to the same rule.
  let logged: MockInstance<typeof console.error>
  beforeEach(() => {
    logged = vi.spyOn(console, 'error').mockImplementation(() => {})
  })
  afterEach(() => logged.mockRestore())

  it('answers every request with 500 CONFIG_INVALID naming the variable, never its value', async () => {
    const secretValue = 'short-secret-value'
    const env = { LIBSQL_URL: suite.db.url, JWT_SECRET: secretValue, INGEST_CHUNK_LINES: 'many' }
    const res = await worker.fetch(new Request('http://x/healthz'), env)
    const body = await problem(res, 500, 'CONFIG_INVALID')
    expect(body.detail).toContain('JWT_SECRET')
    expect(body.detail).toContain('INGEST_CHUNK_LINES')
    expect(JSON.stringify(body)).not.toContain(secretValue)
    expect(JSON.stringify(body)).not.toContain('many')
    const log = logged.mock.calls.map((args) => args.join(' ')).join('\n')
    expect(log).toContain('JWT_SECRET')
    expect(log).not.toContain(secretValue)
  })

  it('serves with a valid configuration, and refuses a file: database it cannot open', async () => {
    // A request served is logged as one object (what Workers Logs indexes).
    const requests = vi.spyOn(console, 'log').mockImplementation(() => {})
    try {
      const ok = await worker.fetch(new Request('http://x/healthz'), {
        LIBSQL_URL: 'http://127.0.0.1:9',
        JWT_SECRET: SECRET,
      })
      expect(ok.status).toBe(200)
      expect(requests).toHaveBeenCalledWith(
        expect.objectContaining({ msg: 'request', route: '/healthz', status: 200 }),
      )
    } finally {
      requests.mockRestore()
    }
    const res = await worker.fetch(new Request('http://x/healthz'), {
      LIBSQL_URL: suite.db.url,
      JWT_SECRET: SECRET,
    })
    expect((await problem(res, 500, 'CONFIG_INVALID')).detail).toContain('LIBSQL_URL')
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('LIBSQL_URL'))
  })
})
