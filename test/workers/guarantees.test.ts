/**
 * The guarantees inside workerd, through the real Worker entry, against sqld: the subrequest
 * budget (INGEST_MAX_CHUNKS, 45 by default on Workers) stops a body with a 413 before the
 * platform would; client mistakes (a truncated gzip body, a body that fails mid-stream) are
 * answered and handled, never uncaught; a ws:/wss: LIBSQL_URL is refused at configuration with
 * a request id on the answer.
 */
import { describe, expect, it } from 'vitest'
import worker from '../../src/index'
import { openBody } from '../../src/ingest/body'
import {
  bindings,
  gzipped as gzip,
  postIngest as ingest,
  ownerFactory,
  turnCount,
  workerDatabase,
} from './helpers'

const db = workerDatabase()

const freshOwner = ownerFactory('workerd-g')

let turn = 0
const line = () =>
  JSON.stringify({
    tool: 'claude-code',
    host: 'ci',
    session_id: 's-g',
    turn_id: `g-${++turn}`,
    seq: turn,
    role: 'user',
    timestamp: '2026-11-22T14:22:26.123Z',
  })
const lines = (n: number) => `${Array.from({ length: n }, line).join('\n')}\n`

describe('the subrequest budget (INGEST_MAX_CHUNKS)', () => {
  it('stops at 45 transactions with a 413 whose committed matches sqld', async () => {
    const owner = freshOwner()
    // INGEST_CHUNK_LINES is 2 in this suite: 100 lines would take 50 transactions.
    const res = await ingest(owner, lines(100))
    expect(res.status).toBe(413)
    const body = (await res.json()) as {
      code: string
      detail: string
      committed: { accepted: number; chunks: number }
    }
    expect(body.code).toBe('PAYLOAD_TOO_LARGE')
    expect(body.committed).toMatchObject({ accepted: 90, chunks: 45 })
    expect(body.detail).toContain('from line 91')
    expect(await turnCount(db, owner)).toBe(90)
  })
})

/** Rejections nobody handled while `run` ran (workerd logs them as `Uncaught (in promise)`). */
async function unhandledDuring(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = []
  const listener = (event: PromiseRejectionEvent) => seen.push(event.reason)
  addEventListener('unhandledrejection', listener)
  try {
    await run()
    await new Promise((resolve) => setTimeout(resolve, 100))
  } finally {
    removeEventListener('unhandledrejection', listener)
  }
  return seen
}

describe('client mistakes are answered, not uncaught', () => {
  it('a truncated gzip body is a 400 BAD_ENCODING, and nothing is left unhandled', async () => {
    const owner = freshOwner()
    const whole = await gzip(lines(3))
    const unhandled = await unhandledDuring(async () => {
      const res = await ingest(owner, whole.slice(0, whole.length - 12), {
        'content-encoding': 'gzip',
      })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ code: 'BAD_ENCODING' })
    })
    expect(unhandled.map(String)).toEqual([])
  })

  it('openBody: a truncated gzip body fails the read once, and leaves no rejection unhandled', async () => {
    const whole = await gzip(lines(3))
    const unhandled = await unhandledDuring(async () => {
      const reader = openBody(new Blob([whole.slice(0, whole.length - 12)]).stream(), 'gzip')
      let failure: unknown
      try {
        for (;;) if ((await reader.read()).done) break
      } catch (error) {
        failure = error
      }
      expect(failure).toMatchObject({ code: 'BAD_ENCODING' })
      await reader.cancel().catch(() => {})
    })
    expect(unhandled.map(String)).toEqual([])
  })
})

describe('ws: and wss: are refused on Workers', () => {
  for (const url of ['ws://127.0.0.1:8080', 'wss://db.example.turso.io']) {
    it(`${url.split(':')[0]}: is CONFIG_INVALID naming LIBSQL_URL, with X-Request-Id`, async () => {
      const request = new Request('http://tributary.test/healthz', {
        headers: { 'x-request-id': 'req-ws-1' },
      })
      const res = await worker.fetch(request, { ...bindings, LIBSQL_URL: url })
      expect(res.status).toBe(500)
      expect(res.headers.get('x-request-id')).toBe('req-ws-1')
      const body = (await res.json()) as { code: string; detail: string }
      expect(body.code).toBe('CONFIG_INVALID')
      expect(body.detail).toContain('LIBSQL_URL')
      expect(body.detail).not.toContain(url)
    })
  }
})
