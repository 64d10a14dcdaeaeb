/**
 * The HTTP contract (README, "The API") through the real Worker entry (wrangler.toml `main`),
 * inside workerd, against a real sqld started by global-setup.ts. Rows are read back over HTTP.
 */

import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import worker from '../../src/index'
import {
  bindings,
  gzipped as gzip,
  postIngest as ingest,
  ownerFactory,
  tokenFor,
  turnCount,
  workerDatabase,
} from './helpers'

const db = workerDatabase()

const freshOwner = ownerFactory('workerd')

let turnCounter = 0
const line = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    tool: 'claude-code',
    host: 'ci-runner',
    session_id: 'session-w',
    turn_id: `w-${++turnCounter}`,
    seq: turnCounter,
    role: 'assistant',
    timestamp: '2026-11-22T14:22:26.123+01:00',
    content: 'hello from workerd',
    ...overrides,
  })

const body = (count: number) => `${Array.from({ length: count }, () => line()).join('\n')}\n`

describe('worker entry inside workerd, on sqld', () => {
  it('accepts a body and stores every line under the token owner', async () => {
    const owner = freshOwner()
    const res = await ingest(owner, body(5))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 5, rejected: 0, lines: 5, chunks: 3 })
    expect(await turnCount(db, owner)).toBe(5)
    const row = await db.execute({
      sql: 'select owner, timestamp from turns where owner = ? limit 1',
      args: [owner],
    })
    expect(row.rows[0]).toMatchObject({ owner, timestamp: '2026-11-22T13:22:26.123Z' })
  })

  it('answers 207 with line errors for a mixed body and stores only the valid lines', async () => {
    const owner = freshOwner()
    const res = await ingest(owner, `${line()}\n{"broken"\n\n${line({ seq: -1 })}\n${line()}\n`)
    expect(res.status).toBe(207)
    const summary = (await res.json()) as { errors: Array<{ line: number; code: string }> }
    expect(summary).toMatchObject({ accepted: 2, rejected: 2, lines: 5 })
    expect(summary.errors.map((e) => [e.line, e.code])).toEqual([
      [2, 'INVALID_JSON'],
      [4, 'INVALID_FIELD'],
    ])
    expect(await turnCount(db, owner)).toBe(2)
  })

  it('answers 401 with WWW-Authenticate, before reading the body', async () => {
    const res = await ingest(undefined, body(1))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(await res.json()).toMatchObject({ code: 'UNAUTHORIZED' })
  })

  it('answers 415 for a wrong Content-Type and 413 for a declared length over the cap', async () => {
    const owner = freshOwner()
    const wrongType = await ingest(owner, body(1), { 'content-type': 'text/plain' })
    expect(wrongType.status).toBe(415)
    expect(wrongType.headers.get('content-type')).toBe('application/problem+json')
    const tooBig = await ingest(owner, 'x'.repeat(70_000))
    expect(tooBig.status).toBe(413)
    expect(await tooBig.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
  })

  it('answers 413 mid-stream with what committed when a chunked body passes the cap, and stops reading', async () => {
    const owner = freshOwner()
    const content = 'y'.repeat(8_000)
    let sent = 0
    let cancelled = false
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 20) controller.enqueue(new TextEncoder().encode(`${line({ content })}\n`))
        else controller.close()
      },
      cancel() {
        cancelled = true
      },
    })
    // Handed to the entry itself: through SELF, workerd's own pump of a body the worker stops
    // reading fails uncaught ("Network connection lost") and logs a kj pipe error.
    const request = new Request('http://tributary.test/v1/ingest', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        authorization: `Bearer ${await tokenFor(owner)}`,
      },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    const res = await worker.fetch(request, bindings)
    expect(res.status).toBe(413)
    const problem = (await res.json()) as { committed: { accepted: number } }
    expect(problem.committed.accepted).toBeGreaterThan(0)
    expect(problem.committed.accepted).toBe(await turnCount(db, owner))
    expect(cancelled).toBe(true)
    expect(sent).toBeLessThan(20)
  })

  it('inflates a gzip body', async () => {
    const owner = freshOwner()
    const res = await ingest(owner, await gzip(body(4)), { 'content-encoding': 'gzip' })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 4 })
    expect(await turnCount(db, owner)).toBe(4)
  })

  it('streams: the first chunk is in sqld before the request body has ended', async () => {
    const owner = freshOwner()
    let controller!: ReadableStreamDefaultController<Uint8Array>
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c
      },
    })
    // Open the worker's first connection to sqld beforehand: in this harness, a cold worker's
    // first outbound connection waits while the test isolate still streams its SELF request
    // (a vitest-pool-workers artifact; under `wrangler dev` a cold worker commits mid-body).
    expect((await SELF.fetch('http://tributary.test/readyz')).status).toBe(200)
    const answer = ingest(owner, stream)
    controller.enqueue(new TextEncoder().encode(body(3)))
    await expect.poll(() => turnCount(db, owner), { timeout: 10_000, interval: 50 }).toBe(2)
    controller.enqueue(new TextEncoder().encode(body(1)))
    controller.close()
    const res = await answer
    expect(await res.json()).toMatchObject({ accepted: 4, chunks: 2 })
  })

  it('serves /healthz and /readyz against sqld', async () => {
    expect((await SELF.fetch('http://tributary.test/healthz')).status).toBe(200)
    const ready = await SELF.fetch('http://tributary.test/readyz')
    expect(ready.status).toBe(200)
  })
})
