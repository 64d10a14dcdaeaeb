/**
 * Bounds beyond one request's body: transactions per request (INGEST_MAX_CHUNKS, the Workers
 * subrequest budget), ingests in flight per process and per owner (INGEST_MAX_CONCURRENT,
 * INGEST_MAX_CONCURRENT_PER_OWNER), and a total deadline besides the idle window
 * (INGEST_REQUEST_TIMEOUT_MS). Every answer is checked against the database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig, WORKERS_MAX_CHUNKS } from '../../src/config'
import { post, testApp } from '../helpers/app'
import {
  createTestDatabase,
  freshOwner,
  refuseContent,
  type TestDatabase,
  turnsOf,
} from '../helpers/db'
import { SECRET } from '../helpers/keys'
import { ndjson, wireTurn } from '../helpers/turns'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
  await refuseContent(db.client, 'refused-here', 'limits_poison')
})
afterAll(() => db.close())

type Problem = {
  code: string
  status: number
  detail: string
  committed: { accepted: number; rejected: number; chunks: number; lines: number }
}

const encoder = new TextEncoder()

/**
 * A body fed by hand (`push` a piece, `end` it); `reading` settles once the server asks for more
 * than it was given.
 */
function handFed() {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let pulled!: () => void
  const reading = new Promise<void>((resolve) => {
    pulled = resolve
  })
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
      },
      pull() {
        pulled()
      },
    },
    { highWaterMark: 0 },
  )
  return {
    stream,
    reading,
    push: (text: string) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
  }
}

describe('INGEST_MAX_CHUNKS: transactions per request', () => {
  it('stops with 413 before the next transaction, says where to resume, and committed is the truth', async () => {
    const { app } = testApp(db, { chunkLines: 2, maxChunks: 3 })
    const owner = freshOwner('budget')
    const res = await post(
      app,
      owner,
      ndjson(Array.from({ length: 10 }, (_, i) => wireTurn({ turn_id: `b-${i}` }))),
    )
    expect(res.status).toBe(413)
    const body = (await res.json()) as Problem
    expect(body.code).toBe('PAYLOAD_TOO_LARGE')
    expect(body.committed).toMatchObject({ accepted: 6, rejected: 0, chunks: 3 })
    expect(body.detail).toContain('INGEST_MAX_CHUNKS')
    expect(body.detail).toContain('from line 7')
    expect(body.detail).toContain('at most 6 lines')
    const rows = await turnsOf(db.client, owner)
    expect(rows.map((row) => row.turn_id).sort()).toEqual(
      ['b-0', 'b-1', 'b-2', 'b-3', 'b-4', 'b-5'].sort(),
    )
  })

  it('counts chunk writes: a chunk with a refused line is one write, its line rejected', async () => {
    const { app } = testApp(db, { chunkLines: 2, maxChunks: 2 })
    const owner = freshOwner('refused')
    const lines = [
      wireTurn(),
      wireTurn({ content: 'refused-here' }),
      wireTurn(),
      wireTurn(),
      wireTurn(),
    ]
    const res = await post(app, owner, ndjson(lines))
    expect(res.status).toBe(413)
    const body = (await res.json()) as Problem & {
      committed: { errors: Array<{ line: number; code: string }> }
    }
    expect(body.committed).toMatchObject({ accepted: 3, rejected: 1 })
    expect(body.committed.errors).toEqual([
      expect.objectContaining({ line: 2, code: 'DB_CONSTRAINT' }),
    ])
    expect(body.detail).toContain('from line 5')
    expect(await turnsOf(db.client, owner)).toHaveLength(3)
  })

  it('a body within the budget is answered as usual; 0 means no limit', async () => {
    for (const maxChunks of [5, 0]) {
      const { app } = testApp(db, { chunkLines: 2, maxChunks })
      const owner = freshOwner('within')
      const res = await post(app, owner, ndjson(Array.from({ length: 10 }, () => wireTurn())))
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ accepted: 10, chunks: 5 })
    }
  })

  it('defaults to no limit on Node and to the free plan budget on Workers', () => {
    const env = { LIBSQL_URL: 'file:unused.db', JWT_SECRET: SECRET }
    expect(parseConfig(env).ingest.maxChunks).toBe(0)
    expect(parseConfig(env, { INGEST_MAX_CHUNKS: WORKERS_MAX_CHUNKS }).ingest.maxChunks).toBe(45)
    expect(WORKERS_MAX_CHUNKS).toBeLessThan(50)
    expect(
      parseConfig({ ...env, INGEST_MAX_CHUNKS: '1000' }, { INGEST_MAX_CHUNKS: 45 }).ingest
        .maxChunks,
    ).toBe(1000)
  })
})

describe('INGEST_MAX_CONCURRENT and INGEST_MAX_CONCURRENT_PER_OWNER', () => {
  it('answers 429 past the owner bound and 503 past the process bound, with Retry-After, reading nothing', async () => {
    const { app } = testApp(db, { maxConcurrent: 2, maxConcurrentPerOwner: 1, retryAfterS: 9 })
    const alice = freshOwner('alice')
    const bob = freshOwner('bob')
    const carol = freshOwner('carol')
    const first = handFed()
    const pending = post(app, alice, first.stream)
    first.push(`${JSON.stringify(wireTurn({ turn_id: 'a-1' }))}\n`)
    await first.reading

    const again = await post(app, alice, ndjson([wireTurn({ turn_id: 'a-2' })]))
    expect(again.status).toBe(429)
    expect(again.headers.get('retry-after')).toBe('9')
    expect(await again.json()).toMatchObject({ code: 'TOO_MANY_REQUESTS' })

    const second = handFed()
    const bobPending = post(app, bob, second.stream)
    second.push(`${JSON.stringify(wireTurn({ turn_id: 'b-1' }))}\n`)
    await second.reading
    const full = await post(app, carol, ndjson([wireTurn({ turn_id: 'c-1' })]))
    expect(full.status).toBe(503)
    expect(full.headers.get('retry-after')).toBe('9')
    expect(await full.json()).toMatchObject({ code: 'OVERLOADED' })

    first.end()
    second.end()
    expect((await pending).status).toBe(200)
    expect((await bobPending).status).toBe(200)
    const later = await post(app, alice, ndjson([wireTurn({ turn_id: 'a-3' })]))
    expect(later.status).toBe(200)

    expect((await turnsOf(db.client, alice)).map((row) => row.turn_id).sort()).toEqual([
      'a-1',
      'a-3',
    ])
    expect(await turnsOf(db.client, carol)).toEqual([])
  })
})

describe('INGEST_REQUEST_TIMEOUT_MS: a total deadline besides the idle window', () => {
  it('cuts off a body that trickles just fast enough for the idle window, with committed', async () => {
    const { app } = testApp(db, { chunkLines: 1, idleTimeoutMs: 5000, requestTimeoutMs: 1000 })
    const owner = freshOwner('trickle')
    const body = handFed()
    const answer = post(app, owner, body.stream)
    // Over 512 bytes every 200 ms: the idle window never trips.
    const timer = setInterval(() => {
      body.push(`${JSON.stringify(wireTurn({ content: 'x'.repeat(600) }))}\n`)
    }, 200)
    const ended = setTimeout(() => {
      clearInterval(timer)
      body.end()
    }, 4000)
    try {
      const res = await answer
      expect(res.status).toBe(408)
      const problem = (await res.json()) as Problem
      expect(problem.code).toBe('BODY_TIMEOUT')
      expect(problem.detail).toContain('INGEST_REQUEST_TIMEOUT_MS')
      expect(problem.committed.accepted).toBeGreaterThan(0)
      expect(await turnsOf(db.client, owner)).toHaveLength(problem.committed.accepted)
    } finally {
      clearInterval(timer)
      clearTimeout(ended)
    }
  })
})

describe('integers in configuration are plain decimal', () => {
  it('refuses hex, exponents, signs and separators, naming the variable', () => {
    for (const value of ['0x10', '1e3', '+5', '1_000', '10.0', '-1']) {
      expect(
        () =>
          parseConfig({
            LIBSQL_URL: 'file:unused.db',
            JWT_SECRET: SECRET,
            INGEST_CHUNK_LINES: value,
          }),
        value,
      ).toThrow(/INGEST_CHUNK_LINES/)
    }
    const ok = parseConfig({
      LIBSQL_URL: 'file:unused.db',
      JWT_SECRET: SECRET,
      INGEST_CHUNK_LINES: ' 16 ',
    })
    expect(ok.ingest.chunkLines).toBe(16)
  })
})
