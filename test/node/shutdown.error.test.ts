/**
 * Graceful shutdown of `npm run serve`'s entry, as a real child process: SIGTERM in the middle
 * of a streamed body. The server stops accepting; a request that finishes within
 * SHUTDOWN_GRACE_MS gets its full answer; one still streaming past it gets a 503 whose
 * `committed` is what the database holds; then the process exits 0.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { openNodeDatabase } from '../../src/node/database'
import { freshOwner } from '../helpers/db'
import { type ChildServer, getStatus, openIngest, sleep, spawnServer } from '../helpers/node'

const children: ChildServer[] = []
afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.stop()))
})

let turn = 0
const line = (content = 'during shutdown') =>
  `${JSON.stringify({
    tool: 'claude-code',
    host: 'laptop',
    session_id: 's-1',
    turn_id: `t-${++turn}`,
    seq: turn,
    role: 'user',
    timestamp: '2026-11-22T14:22:26.123Z',
    content,
  })}\n`

async function rowsOf(databaseUrl: string, owner: string): Promise<number> {
  const client = await openNodeDatabase(databaseUrl)
  try {
    const result = await client.execute({
      sql: 'select count(*) as n from turns where owner = ?',
      args: [owner],
    })
    return Number(result.rows[0]?.n)
  } finally {
    client.close()
  }
}

/** Wait until `owner` has at least `n` rows (the chunks the test sent have committed). */
async function untilRows(databaseUrl: string, owner: string, n: number) {
  for (let i = 0; i < 100; i++) {
    if ((await rowsOf(databaseUrl, owner)) >= n) return
    await sleep(50)
  }
  throw new Error(`never saw ${n} rows`)
}

describe('SIGTERM mid-body', () => {
  it('answers a body still streaming past the grace with 503 + committed equal to the database, and exits 0', async () => {
    const child = await spawnServer({ INGEST_CHUNK_LINES: '2', SHUTDOWN_GRACE_MS: '700' })
    children.push(child)
    const owner = freshOwner('sigterm')
    const { req, answer } = await openIngest(child.url, owner)
    for (let i = 0; i < 5; i++) req.write(line())
    await untilRows(child.databaseUrl, owner, 4)

    child.kill('SIGTERM')
    await sleep(150)
    // Stopped accepting: a new connection is refused.
    await expect(getStatus(`${child.url}/healthz`)).rejects.toThrow()
    // The body keeps trickling, never ending, past the grace.
    const trickle = setInterval(() => req.write(line()), 100)
    try {
      const res = await answer
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toBe('5')
      expect(res.body).toMatchObject({ code: 'SHUTTING_DOWN', status: 503 })
      const committed = res.body.committed as { accepted: number; chunks: number }
      expect(committed.accepted).toBeGreaterThanOrEqual(4)
      expect(await child.exited, child.output()).toBe(0)
      expect(await rowsOf(child.databaseUrl, owner)).toBe(committed.accepted)
    } finally {
      clearInterval(trickle)
      req.destroy()
    }
  })

  it('lets a body that ends within the grace finish with its full answer, then exits 0', async () => {
    const child = await spawnServer({ INGEST_CHUNK_LINES: '2', SHUTDOWN_GRACE_MS: '5000' })
    children.push(child)
    const owner = freshOwner('grace')
    const { req, answer } = await openIngest(child.url, owner)
    for (let i = 0; i < 3; i++) req.write(line())
    await untilRows(child.databaseUrl, owner, 2)

    child.kill('SIGTERM')
    await sleep(200)
    for (let i = 0; i < 4; i++) req.write(line())
    req.end()
    const res = await answer
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ accepted: 7, rejected: 0 })
    expect(await child.exited, child.output()).toBe(0)
    expect(await rowsOf(child.databaseUrl, owner)).toBe(7)
  })

  it('exits 0 at once when nothing is in flight', async () => {
    const child = await spawnServer({ SHUTDOWN_GRACE_MS: '60000' })
    children.push(child)
    expect((await getStatus(`${child.url}/healthz`)).status).toBe(200)
    const started = performance.now()
    child.kill('SIGINT')
    expect(await child.exited, child.output()).toBe(0)
    expect(performance.now() - started).toBeLessThan(10_000)
  })
})
