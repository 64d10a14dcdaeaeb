/**
 * Caps hold without buffering (issue 4 item 4). Memory is measured on a tributary running as a
 * child process (`npm run serve`'s entry, from source), from its own peak resident size (VmHWM), so the test's own
 * allocations do not count: a 1 MiB gzip bomb that inflates to 1 GiB and a 128 MiB line cost a
 * few MiB, not the cap. Hostile JSON is answered line by line, prototypes untouched.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { post, testApp } from '../helpers/app'
import { createTestDatabase, freshOwner, type TestDatabase, turnsOf } from '../helpers/db'
import {
  type ChildServer,
  getStatus,
  openIngest,
  postIngest,
  type Stack,
  spawnServer,
  startStack,
} from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

const MiB = 1024 * 1024

/**
 * A gzip member of `mib` MiB of zeros, built from one compressed MiB repeated (each segment
 * ends in a full flush, so segments are independent): ~1 KiB per inflated MiB, in well under
 * a second, with a correct CRC and size.
 */
function gzipBomb(mib: number): Buffer {
  const zeros = Buffer.alloc(MiB)
  const segment = deflateRawSync(zeros, { level: 9, finishFlush: constants.Z_FULL_FLUSH })
  let crc = 0
  for (let i = 0; i < mib; i++) crc = crc32(zeros, crc)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc >>> 0, 0)
  trailer.writeUInt32LE((mib * MiB) % 2 ** 32, 4)
  return Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]),
    ...Array<Buffer>(mib).fill(segment),
    deflateRawSync(Buffer.alloc(0)),
    trailer,
  ])
}

describe('memory stays bounded by the caps, not the body (a child process, measured)', () => {
  const CAP = 256 * MiB
  /** What a request may add to the server's peak RSS: far below CAP, which buffering costs. */
  const BUDGET = 96 * MiB
  let child: ChildServer

  beforeAll(async () => {
    child = await spawnServer({ INGEST_MAX_BODY_BYTES: String(CAP) })
    // Warm up every path the measured requests take (zlib, the pipeline, the database).
    const owner = freshOwner('warm')
    const { gzipSync } = await import('node:zlib')
    for (let i = 0; i < 3; i++) {
      const body = ndjson(Array.from({ length: 50 }, () => wireTurn()))
      expect((await postIngest(child.url, owner, body)).status).toBe(200)
      const gz = gzipSync(body)
      const res = await postIngest(child.url, owner, gz, { 'content-encoding': 'gzip' })
      expect(res.status).toBe(200)
    }
  }, 60_000)
  afterAll(() => child?.stop())

  it('stops a gzip bomb (1 MiB inflating to 1 GiB) at the decompressed cap', async () => {
    const bomb = gzipBomb(1024)
    expect(bomb.length).toBeLessThan(1.1 * MiB)
    const before = child.peakRss() ?? child.rss()
    const { req, answer } = await openIngest(child.url, freshOwner('bomb'), {
      'content-encoding': 'gzip',
    })
    req.end(bomb)
    const { status, body, ms } = await answer
    const grown = (child.peakRss() ?? child.rss()) - before
    expect(status).toBe(413)
    expect(body).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      committed: { accepted: 0, rejected: 0, lines: 0, chunks: 0 },
    })
    // It read past the cap by at most one inflated piece, then stopped inflating.
    const read = (body.committed as { bytes: number }).bytes
    expect(read).toBeGreaterThan(CAP)
    expect(read).toBeLessThan(CAP + MiB)
    expect(ms).toBeLessThan(15_000)
    expect(grown).toBeLessThan(BUDGET)
    expect((await getStatus(`${child.url}/healthz`)).status).toBe(200)
  }, 30_000)

  it('drops a 128 MiB line as it arrives and keeps the lines around it', async () => {
    const before = child.peakRss() ?? child.rss()
    const owner = freshOwner('long')
    const { req, answer } = await openIngest(child.url, owner)
    req.write(ndjson([wireTurn({ turn_id: 'before' })]))
    const piece = Buffer.alloc(MiB, 'x')
    for (let i = 0; i < 128; i++) {
      if (!req.write(piece)) await new Promise((resolve) => req.once('drain', resolve))
    }
    req.end(`\n${ndjson([wireTurn({ turn_id: 'after' })])}`)
    const { status, body } = await answer
    const grown = (child.peakRss() ?? child.rss()) - before
    expect(status).toBe(207)
    expect(body).toMatchObject({
      accepted: 2,
      rejected: 1,
      lines: 3,
      errors: [{ line: 2, code: 'LINE_TOO_LARGE' }],
    })
    expect(grown).toBeLessThan(BUDGET)
  }, 30_000)
})

describe('the declared Content-Length cap, over a real socket', () => {
  let stack: Stack
  beforeAll(async () => {
    stack = await startStack({ env: { INGEST_MAX_BODY_BYTES: '10000' } })
  })
  afterAll(() => stack.close())

  it.each([{}, { 'content-encoding': 'gzip' }])(
    'answers 413 before the client sent a byte of the body %o',
    async (headers) => {
      const { req, answer } = await openIngest(stack.server.url, freshOwner(), {
        'content-length': '10001',
        ...headers,
      })
      // Nothing is written: the answer must come without the body.
      const { status, body } = await answer
      expect(status).toBe(413)
      expect(body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
      expect(body.committed).toBeUndefined()
      req.destroy()
    },
  )
})

describe('hostile JSON is handled per line', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(() => db.close())

  it('answers each line on its own, stores only the valid ones, pollutes no prototype', async () => {
    const { app } = testApp(db)
    const owner = freshOwner()
    const base = JSON.stringify(wireTurn({ turn_id: 'x', seq: 1 })).slice(1, -1)
    const line = (turnId: string, extra: string) =>
      `{${base.replace('"turn_id":"x"', `"turn_id":"${turnId}"`)},${extra}}`
    const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`
    const lines = [
      line('proto', '"__proto__":{"polluted":true}'), // 1 accepted, key ignored
      line('ctor', '"constructor":{"prototype":{"polluted":true}}'), // 2 accepted
      line('meta-proto', '"metadata":{"__proto__":{"polluted":true},"constructor":1}'), // 3 data
      line('dup-ok', '"seq":-1,"seq":7'), // 4 the last duplicate wins: accepted, seq 7
      line('dup-bad', '"seq":7,"seq":-1'), // 5 INVALID_FIELD seq
      line('huge', '"cost_usd":1e400'), // 6 INVALID_FIELD cost_usd
      line('huge-meta', '"metadata":{"n":1e400}'), // 7 INVALID_FIELD metadata
      line('minus-zero', '"seq":-0,"tokens_in":-0,"cost_usd":-0'), // 8 accepted as 0
      line('lone', '"content":"\\ud800"'), // 9 INVALID_FIELD content
      line('lone-meta', '"metadata":{"s":"\\udc00"}'), // 10 accepted, kept as an escape
      line('deep', `"metadata":${deep(100_000)}`), // 11 INVALID_FIELD metadata
      line('deep-ok', `"metadata":${deep(64)}`), // 12 accepted: 64 levels is the limit
      line('owner', '"owner":"victim"'), // 13 accepted under the token's owner
      `${'['.repeat(200_000)}`, // 14 INVALID_JSON
    ]
    const res = await post(app, owner, `${lines.join('\n')}\n`)
    expect(res.status).toBe(207)
    const summary = (await res.json()) as { errors: Array<{ line: number; code: string }> }
    expect(summary).toMatchObject({ accepted: 8, rejected: 6, lines: 14 })
    expect(summary.errors.map((e) => [e.line, e.code, (e as { field?: string }).field])).toEqual([
      [5, 'INVALID_FIELD', 'seq'],
      [6, 'INVALID_FIELD', 'cost_usd'],
      [7, 'INVALID_FIELD', 'metadata'],
      [9, 'INVALID_FIELD', 'content'],
      [11, 'INVALID_FIELD', 'metadata'],
      [14, 'INVALID_JSON', undefined],
    ])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')

    const rows = new Map((await turnsOf(db.client, owner)).map((r) => [r.turn_id, r]))
    expect([...rows.keys()].sort()).toEqual([
      'ctor',
      'deep-ok',
      'dup-ok',
      'lone-meta',
      'meta-proto',
      'minus-zero',
      'owner',
      'proto',
    ])
    expect(rows.get('dup-ok')?.seq).toBe(7)
    expect(JSON.parse(String(rows.get('meta-proto')?.metadata))).toEqual(
      JSON.parse('{"__proto__":{"polluted":true},"constructor":1}'),
    )
    expect(rows.get('lone-meta')?.metadata).toBe('{"s":"\\udc00"}')
    const zero = rows.get('minus-zero')
    expect([zero?.seq, zero?.tokens_in, zero?.cost_usd].map((n) => Object.is(n, 0))).toEqual([
      true,
      true,
      true,
    ])
    const victim = await db.client.execute({
      sql: 'select count(*) as n from turns where owner = ?',
      args: ['victim'],
    })
    expect(victim.rows[0]?.n).toBe(0)
  })
})
