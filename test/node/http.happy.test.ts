import { deflateSync, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { post, testApp } from '../helpers/app'
import { freshOwner, turnsOf } from '../helpers/db'
import { testSuite } from '../helpers/suite'
import { controlledStream, ndjson, wireTurn } from '../helpers/turns'

const suite = testSuite({ limits: { chunkLines: 2 } })

describe('POST /v1/ingest: the partial-accept summary', () => {
  it('answers 200 with the summary when every line is accepted', async () => {
    const owner = freshOwner()
    const res = await suite.post(owner, ndjson([wireTurn(), wireTurn(), wireTurn()]))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await res.json()).toMatchObject({
      accepted: 3,
      rejected: 0,
      lines: 3,
      chunks: 2,
      errors: [],
    })
    expect(await turnsOf(suite.db.client, owner)).toHaveLength(3)
  })

  it('answers 207 for a mix and 422 when nothing was accepted', async () => {
    const mixed = await suite.post(freshOwner(), ndjson([wireTurn(), '{"nope":1}']))
    expect(mixed.status).toBe(207)
    const body = (await mixed.json()) as { errors: Array<{ line: number; code: string }> }
    expect(body.errors).toEqual([
      expect.objectContaining({ line: 2, code: 'INVALID_FIELD', field: 'tool' }),
    ])
    const none = await suite.post(freshOwner(), ndjson(['x', '[]']))
    expect(none.status).toBe(422)
    expect(await none.json()).toMatchObject({ accepted: 0, rejected: 2 })
  })

  it('answers 200 with zero counts for an empty body and for blank lines only', async () => {
    const empty = await suite.post(freshOwner(), '')
    expect(empty.status).toBe(200)
    expect(await empty.json()).toEqual({
      accepted: 0,
      rejected: 0,
      lines: 0,
      bytes: 0,
      chunks: 0,
      errors: [],
      errors_truncated: false,
    })
    const blank = await suite.post(freshOwner(), '\n  \r\n\n')
    expect(blank.status).toBe(200)
    expect(await blank.json()).toMatchObject({ accepted: 0, rejected: 0, lines: 3 })
  })

  it.each([
    'application/x-ndjson',
    'application/ndjson',
    'application/jsonl',
    'application/x-jsonlines',
    'Application/X-NDJSON; charset=UTF-8',
    'application/x-ndjson; charset="utf-8"',
  ])('accepts Content-Type %s', async (type) => {
    const res = await suite.post(freshOwner(), ndjson([wireTurn()]), { 'content-type': type })
    expect(res.status).toBe(200)
  })

  it.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
  ] as const)('inflates a %s body', async (encoding, compress) => {
    const inflating = testApp(suite.db, { chunkLines: 2 }).app
    const owner = freshOwner()
    const text = ndjson(Array.from({ length: 5 }, () => wireTurn()))
    const res = await post(inflating, owner, new Uint8Array(compress(text)), {
      'content-encoding': encoding,
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 5, bytes: Buffer.byteLength(text) })
    expect(await turnsOf(suite.db.client, owner)).toHaveLength(5)
  })

  it('streams: the first chunk is in the database before the request body has ended', async () => {
    const owner = freshOwner()
    const body = controlledStream()
    const response = suite.post(owner, body.stream)
    body.push(ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' })]))
    await expect
      .poll(async () => (await turnsOf(suite.db.client, owner)).length, { timeout: 5000 })
      .toBe(2)
    body.push(ndjson([wireTurn({ turn_id: '3' })]))
    body.close()
    const res = await response
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 3, chunks: 2 })
  })

  it('carries a request id on every answer', async () => {
    const res = await suite.post(freshOwner(), '', { 'x-request-id': 'trace-42' })
    expect(res.headers.get('x-request-id')).toBe('trace-42')
    const generated = await suite.app.request('/healthz')
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('health', () => {
  it('/healthz answers 200 and /readyz checks the database', async () => {
    expect((await suite.app.request('/healthz')).status).toBe(200)
    const ready = await suite.app.request('/readyz')
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready' })
  })
})
