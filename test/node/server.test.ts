/**
 * The Node entry over real sockets: what app.request cannot show (a client that goes away, a
 * body that stalls, a problem sent while the client is still sending).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config'
import { type NodeServer, startNodeServer } from '../../src/node/server'
import {
  createTestDatabase,
  freshOwner,
  refuseContent,
  type TestDatabase,
  turnsOf,
} from '../helpers/db'
import { SECRET } from '../helpers/keys'
import { openIngest } from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

let db: TestDatabase
let server: NodeServer

beforeAll(async () => {
  db = await createTestDatabase()
  const config = parseConfig({
    LIBSQL_URL: db.url,
    JWT_SECRET: SECRET,
    INGEST_CHUNK_LINES: '2',
    INGEST_MAX_BODY_BYTES: '20000',
    INGEST_IDLE_TIMEOUT_MS: '300',
  })
  server = await startNodeServer(config, { port: 0, log: () => {} })
})
afterAll(async () => {
  await server.close()
  await db.close()
})

/** A streaming POST to this file's server. */
const open = (owner: string) => openIngest(server.url, owner)

describe('Node server over real sockets', () => {
  it('commits the first chunk while the client is still sending', async () => {
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    req.write(
      ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' }), wireTurn({ turn_id: '3' })]),
    )
    await expect
      .poll(async () => (await turnsOf(db.client, owner)).length, { timeout: 5000 })
      .toBe(2)
    req.end(ndjson([wireTurn({ turn_id: '4' })]))
    const { status, body } = await answer
    expect(status).toBe(200)
    expect(body).toMatchObject({ accepted: 4, chunks: 2 })
  })

  it('keeps committed chunks and drops the partial one when the client goes away', async () => {
    const owner = freshOwner()
    const { req } = await open(owner)
    req.write(
      ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' }), wireTurn({ turn_id: '3' })]),
    )
    await expect
      .poll(async () => (await turnsOf(db.client, owner)).length, { timeout: 5000 })
      .toBe(2)
    req.destroy()
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await turnsOf(db.client, owner)).map((r) => r.turn_id)).toEqual(['1', '2'])
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
  })

  it('answers 408 with what committed when the body stalls past the idle timeout', async () => {
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    req.write(ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' })]))
    const { status, body } = await answer
    expect(status).toBe(408)
    expect(body).toMatchObject({ code: 'BODY_TIMEOUT', committed: { accepted: 2, chunks: 1 } })
    expect(await turnsOf(db.client, owner)).toHaveLength(2)
    req.destroy()
  })

  it('answers 413 mid-stream while the client is still sending, with what committed', async () => {
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    const line = ndjson([wireTurn({ content: 'x'.repeat(1000) })])
    for (let i = 0; i < 30; i++) req.write(line.replace('"turn_id":"', `"turn_id":"${i}-`))
    const { status, body } = await answer
    expect(status).toBe(413)
    const stored = await turnsOf(db.client, owner)
    expect(body).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      committed: { accepted: stored.length },
    })
    expect(stored.length).toBeGreaterThan(0)
    req.destroy()
  })

  it('answers 401 to a client that sends a large body without a token', async () => {
    const res = await fetch(`${server.url}/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: 'x'.repeat(1_000_000),
    })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
  })
})

describe('the embedded database writer', () => {
  it('rejects only the line the database refuses, as DB_CONSTRAINT, and commits the rest', async () => {
    await refuseContent(db.client)
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    req.end(
      ndjson([
        wireTurn({ turn_id: 'a' }),
        wireTurn({ turn_id: 'b', content: 'poison' }),
        wireTurn({ turn_id: 'c' }),
      ]),
    )
    const { status, body } = await answer
    expect(status).toBe(207)
    expect(body).toMatchObject({
      accepted: 2,
      rejected: 1,
      errors: [{ line: 2, code: 'DB_CONSTRAINT' }],
    })
    expect((await turnsOf(db.client, owner)).map((r) => r.turn_id)).toEqual(['a', 'c'])
  })

  it('keeps line order when a chunk is split while the next one is already on the thread', async () => {
    await refuseContent(db.client)
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    // Chunk [1, 2] is refused and split in halves; chunk [3, 4] was made ready before that and
    // must still land after line 1, so the later value of turn x wins.
    req.end(
      ndjson([
        wireTurn({ turn_id: 'x', content: 'first' }),
        wireTurn({ turn_id: 'p', content: 'poison' }),
        wireTurn({ turn_id: 'x', content: 'second' }),
        wireTurn({ turn_id: 'y', content: 'last' }),
      ]),
    )
    const { status, body } = await answer
    expect(status).toBe(207)
    expect(body).toMatchObject({ accepted: 3, errors: [{ line: 2, code: 'DB_CONSTRAINT' }] })
    const rows = await turnsOf(db.client, owner)
    expect(rows.map((r) => [r.turn_id, r.content])).toEqual([
      ['x', 'second'],
      ['y', 'last'],
    ])
  })
})

describe('npm run serve fails closed', () => {
  it('exits non-zero printing CONFIG_INVALID and the variable, never its value', async () => {
    const { spawnSync } = await import('node:child_process')
    const value = 'too-short-a-secret'
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/node/serve.ts'], {
      env: { PATH: process.env.PATH, JWT_SECRET: value, PORT: '0', LIBSQL_URL: db.url },
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('CONFIG_INVALID')
    expect(run.stderr).toContain('JWT_SECRET')
    expect(run.stderr + run.stdout).not.toContain(value)
  })
})
