/**
 * The writer thread under faults, on a real embedded database: a message it cannot read fails
 * only what it names; a thread that cannot start is started again after a doubling pause while
 * requests get a fast 503; a thread that dies between a COMMIT and its answer leaves a 503 whose
 * `committed` holds only what is known, and the retry of the rest is exact.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { Client, InValue } from '@libsql/client'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import { defaultLimits } from '../../src/config'
import { ReadStore } from '../../src/db/reads'
import { lineSession } from '../../src/db/sessions'
import { ChunkStatements, pushSessionValues } from '../../src/db/statements'
import { parseTurnLine } from '../../src/ingest/turn'
import { openNodeDatabase } from '../../src/node/database'
import { applyMigrations } from '../../src/node/migrations'
import type { FromThread, WriterData } from '../../src/node/writer/messages'
import { WriterThread } from '../../src/node/writer/writer'
import type { TurnRecord } from '../../src/types'
import { post, testVerifier } from '../helpers/app'
import { freshOwner, turnsOf } from '../helpers/db'
import { turnIdsOf } from '../helpers/node'
import { ndjson, type WireTurn, wireTurn } from '../helpers/turns'

/** The line that makes test/helpers/dying-thread.mjs die after its chunk's COMMIT. */
const DIE_MARKER = 'the writer thread dies after committing this line'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-writer-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function migrated(path: string) {
  const client = await openNodeDatabase(`file:${path}`)
  cleanups.push(() => client.close())
  await applyMigrations(client)
  return client
}

const recordsOf = (...lines: WireTurn[]): TurnRecord[] =>
  lines.map((line) => {
    const parsed = parseTurnLine(JSON.stringify(line))
    if (!parsed.ok) throw new Error(parsed.message)
    return parsed.turn
  })

/** The real app over `writer` (reads over `client`), with chunks of two lines. */
const appOver = (writer: WriterThread, client: Client) =>
  createApp({
    limits: { ...defaultLimits, chunkLines: 2 },
    store: { write: (owner, records) => writer.write(owner, records), ping: async () => {} },
    reads: new ReadStore(client),
    verify: testVerifier(),
    log: () => {},
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('a message the writer thread cannot read', () => {
  it('fails only the batch it names, and the thread goes on writing', async () => {
    const path = join(tempDir(), 'test.db')
    const client = await migrated(path)
    const workerData: WriterData = { path, busyTimeoutMs: 5000 }
    const thread = new Worker(new URL('../../src/node/writer/source-thread.mjs', import.meta.url), {
      workerData,
    })
    let exited = false
    thread.on('exit', () => {
      exited = true
    })
    thread.on('error', () => {})
    cleanups.push(async () => {
      await thread.terminate()
    })
    const replies: FromThread[] = []
    thread.on('message', (reply: FromThread) => replies.push(reply))
    const replyTo = (id: number) =>
      expect
        .poll(() => replies.find((r) => 'id' in r && r.id === id), { timeout: 10_000 })
        .toBeDefined()
        .then(() => replies.find((r) => 'id' in r && r.id === id))
    await expect.poll(() => replies.some((r) => 'ready' in r), { timeout: 10_000 }).toBe(true)

    thread.postMessage(null)
    thread.postMessage({ op: 'run', id: 'one' })
    thread.postMessage({ op: 'rewind', id: 7 })
    thread.postMessage({ op: 'run', id: 7 })
    thread.postMessage({ op: 'seal', id: 8, sessions: 3, turns: [], lineSessions: [] })
    thread.postMessage({ op: 'run', id: 8 })
    expect(await replyTo(7)).toMatchObject({ ok: false, error: { message: /no known op/ } })
    expect(await replyTo(8)).toMatchObject({ ok: false, error: { message: /malformed seal/ } })
    expect(replies.filter((r) => 'malformed' in r)).toHaveLength(2)

    // A well-formed batch after them is written as ever.
    const owner = freshOwner()
    const [record] = recordsOf(wireTurn({ turn_id: 'after' }))
    const statements = new ChunkStatements(owner)
    if (record === undefined || statements.add(record) !== undefined) throw new Error('one row')
    const lineSessions: InValue[] = []
    pushSessionValues(lineSessions, lineSession(owner, record))
    thread.postMessage({ op: 'seal', id: 9, ...statements.seal(), lineSessions })
    thread.postMessage({ op: 'run', id: 9 })
    expect(await replyTo(9)).toEqual({ id: 9, ok: true, refused: [] })
    expect(await turnIdsOf(client, owner)).toEqual(['after'])
    expect(exited).toBe(false)
  })
})

describe('a writer thread that cannot start', () => {
  it('is started again after a pause that doubles, and requests meanwhile get a fast 503', async () => {
    const dir = tempDir()
    const path = join(dir, 'test.db')
    mkdirSync(path) // a folder where the database file should be: SQLite cannot open it
    const logged: string[] = []
    const writer = new WriterThread(`file:${path}`, { log: (message) => logged.push(message) })
    cleanups.push(() => writer.close())
    const owner = freshOwner()
    const records = () => recordsOf(wireTurn({ turn_id: 'a' }))
    // Made before the pauses begin, so that only the requests below fall inside the last one.
    const app = appOver(writer, await migrated(join(dir, 'reads.db'))) // reads are not used here

    await expect(writer.start()).rejects.toThrow()
    expect(logged).toEqual(['the writer thread could not start; the next start in 100 ms'])

    // Each write after a pause starts one thread; each failed start doubles the pause.
    await sleep(150)
    await expect(writer.write(owner, records())).rejects.toMatchObject({ kind: 'unavailable' })
    await sleep(250)
    await expect(writer.write(owner, records())).rejects.toMatchObject({ kind: 'unavailable' })
    expect(logged.map((m) => Number(/in (\d+) ms/.exec(m)?.[1]))).toEqual([100, 200, 400])

    // Within the pause no thread is started: requests are answered 503 at once, not one
    // thread start each.
    for (let i = 0; i < 5; i++) {
      const res = await post(app, owner, ndjson([wireTurn({ turn_id: `r${i}` })]))
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
      expect(await res.json()).toMatchObject({
        code: 'DATABASE_UNAVAILABLE',
        committed: { accepted: 0, chunks: 0 },
      })
    }
    expect(logged).toHaveLength(3)

    // The database comes back: the first write after the pause is written.
    rmSync(path, { recursive: true })
    const client = await migrated(path)
    await sleep(450)
    await expect(writer.write(owner, records())).resolves.toEqual({ refused: [] })
    expect(await turnIdsOf(client, owner)).toEqual(['a'])
  }, 40_000) // every failed start of a thread loads its TypeScript source again
})

describe('a writer thread that dies between a COMMIT and its answer', () => {
  it('answers 503 with only what is known committed, and the retry is exact', async () => {
    const path = join(tempDir(), 'test.db')
    const client = await migrated(path)
    const writer = new WriterThread(`file:${path}`, {
      entry: new URL('../helpers/dying-thread.mjs', import.meta.url),
      log: () => {},
    })
    cleanups.push(() => writer.close())
    await writer.start()
    const app = appOver(writer, client)
    const owner = freshOwner()
    const body = ['1', '2', '3', '4', '5', '6'].map((id) =>
      wireTurn({ turn_id: id, content: id === '3' ? DIE_MARKER : `line ${id}` }),
    )

    // Chunk [1, 2] is answered; chunk [3, 4] commits and its answer never comes.
    const res = await post(app, owner, ndjson(body))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(await res.json()).toMatchObject({
      code: 'DATABASE_UNAVAILABLE',
      committed: { accepted: 2, rejected: 0, lines: expect.any(Number), chunks: 1 },
    })
    expect(await turnIdsOf(client, owner)).toEqual(['1', '2', '3', '4'])

    // The client retries what `committed` does not cover, once the thread is back: the rows
    // that did land unknown to it are written again to the same values, nothing twice.
    let retry: Response | undefined
    await expect
      .poll(
        async () => {
          retry = await post(app, owner, ndjson(body.slice(2)))
          return retry.status
        },
        { timeout: 5000, interval: 50 },
      )
      .toBe(200)
    expect(await retry?.json()).toMatchObject({ accepted: 4, rejected: 0 })
    const rows = await turnsOf(client, owner)
    expect(rows.map((row) => [row.turn_id, row.content])).toEqual(
      body.map((line) => [line.turn_id, line.content]),
    )
  })
})
