/**
 * The embedded database's hand-over: the Node server builds a chunk's turn upserts as its lines
 * are validated and hands them to the writer thread every 64 rows, long before the chunk ends.
 * What lands must be exactly what the plain TurnStore path writes, also when refused values make
 * the thread write a chunk line by line, and when requests fill their batches at once.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { chunkUpserts, statementRows } from '../../src/db/statements'
import { TurnStore } from '../../src/db/store'
import { parseTurnLine } from '../../src/ingest/turn'
import { openNodeDatabase } from '../../src/node/database'
import { applyMigrations } from '../../src/node/migrations'
import { WriterThread } from '../../src/node/writer/writer'
import type { TurnRecord } from '../../src/types'
import { post, testApp } from '../helpers/app'
import { freshOwner, refuseContent, sessionsOf, type TurnRowOut, turnsOf } from '../helpers/db'
import { openIngest, postIngest, serverForFile } from '../helpers/node'
import { ndjson, type WireTurn, wireTurn } from '../helpers/turns'

/** Lines a chunk: two full hand-over groups of 64 and a remainder of 22 sealed with it. */
const CHUNK_LINES = 150

const file = serverForFile({ INGEST_CHUNK_LINES: String(CHUNK_LINES) }, (_db) =>
  refuseContent(file.db.client),
)

/**
 * `count` lines over 5 sessions whose session fields differ line by line (the earliest start is
 * not the first line's, a working dir appears only later), so a split that rebuilt a record
 * with another line's session fields would leave a different session row.
 */
const linesOf = (count: number, tag: string): WireTurn[] =>
  Array.from({ length: count }, (_, i) =>
    wireTurn({
      session_id: `s${i % 5}`,
      turn_id: `t${String(i).padStart(4, '0')}`,
      seq: i,
      content: `${tag} ${i}`,
      tokens_in: i % 3 === 0 ? null : i,
      cost_usd: i % 4 === 0 ? undefined : i / 1000,
      tool_calls: i % 7 === 0 ? [{ name: 'read', n: i }] : undefined,
      timestamp: `2026-11-22T10:${String(i % 60).padStart(2, '0')}:00.000Z`,
      session_meta: {
        started_at: `2026-11-22T09:${String(59 - (i % 60)).padStart(2, '0')}:00.000Z`,
        working_dir: i < 200 ? null : `/work/${i}`,
        source_file: i % 2 === 0 ? null : `/logs/${i}.jsonl`,
        metadata: i < 30 ? undefined : { line: i },
      },
    }),
  )

/** The validated records of wire lines, as the pipeline hands them to a writer. */
const recordsOf = (lines: WireTurn[]) =>
  lines.map((line) => {
    const parsed = parseTurnLine(JSON.stringify(line))
    if (!parsed.ok) throw new Error(parsed.message)
    return parsed.turn
  })

/** Rows without their owner, so two owners' writes of the same lines compare equal. */
const withoutOwner = (rows: TurnRowOut[]) => rows.map(({ owner: _, ...row }) => row)

/** What the plain TurnStore path (no thread, no hand-over) stores for `lines` as `owner`. */
async function reference(lines: WireTurn[]) {
  const owner = freshOwner('reference')
  const { app } = testApp(file.db, { chunkLines: CHUNK_LINES })
  const res = await post(app, owner, ndjson(lines))
  expect(res.status).toBe(200)
  return {
    turns: withoutOwner(await turnsOf(file.db.client, owner)),
    sessions: withoutOwner(await sessionsOf(file.db.client, owner)),
  }
}

describe('statement shapes', () => {
  it('cuts rows into full statements and a rest in descending powers of two', () => {
    expect(statementRows(0, 64)).toEqual([])
    expect(statementRows(1, 64)).toEqual([1])
    expect(statementRows(37, 64)).toEqual([32, 4, 1])
    expect(statementRows(63, 64)).toEqual([32, 16, 8, 4, 2, 1])
    expect(statementRows(64, 64)).toEqual([64])
    expect(statementRows(437, 200)).toEqual([200, 200, 32, 4, 1])
    for (let rows = 0; rows <= 1000; rows++) {
      const counts = statementRows(rows, 200)
      expect(counts.reduce((a, b) => a + b, 0)).toBe(rows)
      for (const count of counts)
        expect(count === 200 || Number.isInteger(Math.log2(count))).toBe(true)
    }
  })

  it('writes chunks of every size with a few SQL texts, not one per size', () => {
    const records = recordsOf(linesOf(300, 'shapes'))
    const texts = new Set<string>()
    for (let size = 1; size <= records.length; size++) {
      for (const statement of chunkUpserts('owner-z', records.slice(0, size))) {
        texts.add(statement.sql)
      }
    }
    // Turns: 200 and the powers of two up to 128; sessions (one to five here): 4, 2 and 1.
    expect(texts.size).toBe(1 + 8 + 3)
  })
})

describe('refusals isolated by each sink', () => {
  it('the writer thread leaves out exactly the lines TurnStore leaves out, in one write', async () => {
    const records = recordsOf(linesOf(150, 'isolate'))
    // Refused lines in the first hand-over group, the second, and the sealed remainder.
    for (const i of [3, 64, 100, 149])
      records[i] = { ...(records[i] as TurnRecord), content: 'poison' }
    const threaded = freshOwner('thread')
    const plain = freshOwner('plain')
    const writer = new WriterThread(file.db.url)
    try {
      const viaThread = await writer.write(threaded, records)
      const viaStore = await new TurnStore(file.db.client).write(plain, records)
      expect(viaThread.refused.map((r) => r.index)).toEqual([3, 64, 100, 149])
      expect(viaThread.refused).toEqual(viaStore.refused)
      expect(viaThread.refused[0]?.code).toBe('DB_CONSTRAINT')
      expect(withoutOwner(await turnsOf(file.db.client, threaded))).toEqual(
        withoutOwner(await turnsOf(file.db.client, plain)),
      )
      expect(withoutOwner(await sessionsOf(file.db.client, threaded))).toEqual(
        withoutOwner(await sessionsOf(file.db.client, plain)),
      )
      expect(await turnsOf(file.db.client, threaded)).toHaveLength(146)
    } finally {
      await writer.close()
    }
  })
})

describe('the hand-over to the writer thread', () => {
  it('stores exactly what the plain path stores, over several chunks', async () => {
    const lines = linesOf(400, 'plain')
    const owner = freshOwner()
    const { status, body } = await postIngest(file.server.url, owner, ndjson(lines))
    expect(status).toBe(200)
    expect(body).toMatchObject({ accepted: 400, rejected: 0, chunks: 3 })
    const expected = await reference(lines)
    expect(withoutOwner(await turnsOf(file.db.client, owner))).toEqual(expected.turns)
    expect(withoutOwner(await sessionsOf(file.db.client, owner))).toEqual(expected.sessions)
  })

  it('writes a refused chunk line by line, rejecting only the refused line', async () => {
    const lines = linesOf(400, 'split')
    // Line 200 is the 50th of the second chunk: in its first hand-over group.
    const poisoned = lines.map((line, i) => (i === 199 ? { ...line, content: 'poison' } : line))
    const owner = freshOwner()
    const { status, body } = await postIngest(file.server.url, owner, ndjson(poisoned))
    expect(status).toBe(207)
    expect(body).toMatchObject({
      accepted: 399,
      rejected: 1,
      errors: [{ line: 200, code: 'DB_CONSTRAINT' }],
    })
    const expected = await reference(lines.filter((_, i) => i !== 199))
    expect(withoutOwner(await turnsOf(file.db.client, owner))).toEqual(expected.turns)
    expect(withoutOwner(await sessionsOf(file.db.client, owner))).toEqual(expected.sessions)
  })

  it('keeps the drafts of requests that fill them at the same time apart', async () => {
    const owners = Array.from({ length: 6 }, () => freshOwner())
    const answers = await Promise.all(
      owners.map((owner) => postIngest(file.server.url, owner, ndjson(linesOf(300, owner)))),
    )
    for (const [i, owner] of owners.entries()) {
      expect(answers[i]?.body).toMatchObject({ accepted: 300, chunks: 2 })
      const rows = await turnsOf(file.db.client, owner)
      expect(rows).toHaveLength(300)
      expect(rows.filter((row) => !String(row.content).startsWith(`${owner} `))).toEqual([])
    }
  })

  it('never writes the part of a chunk it was handed when the client goes away', async () => {
    const owner = freshOwner()
    const { req, answer } = await openIngest(file.server.url, owner)
    // 100 lines: the first 64 are on the thread; the chunk is never sealed.
    req.write(ndjson(linesOf(100, 'gone')))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const before = file.infos.length
    req.destroy()
    await answer.catch(() => {})
    // The server is done with the request once it file.infos the client gone.
    await expect
      .poll(() => file.infos.slice(before), { timeout: 5000 })
      .toContain('client gone POST /v1/ingest: 0 lines committed')
    const after = await postIngest(file.server.url, owner, ndjson(linesOf(1, 'after')))
    expect(after.status).toBe(200)
    expect((await turnsOf(file.db.client, owner)).map((row) => row.content)).toEqual(['after 0'])
  })
})

describe('a writer thread that dies', () => {
  it('fails a batch begun on it, and never writes part of it on the thread started next', async () => {
    // The thread cannot open a database in a folder that does not exist yet: it dies at start.
    const dir = mkdtempSync(join(tmpdir(), 'tributary-writer-'))
    const url = `file:${join(dir, 'later', 'test.db')}`
    const owner = freshOwner()
    const records = recordsOf(linesOf(100, 'restart'))
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    async function* interruptedFeed() {
      yield* records.slice(0, 64)
      await gate
      yield* records.slice(64, 99)
    }
    const writer = new WriterThread(url, { log: () => {} })
    try {
      const interrupted = writer.write(owner, interruptedFeed())
      interrupted.catch(() => {})
      await expect(writer.write(owner, records.slice(0, 1))).rejects.toThrow()
      const client = await openNodeDatabase(url)
      await applyMigrations(client)
      // The next thread starts for a write after the first pause (100 ms) has passed.
      await new Promise((resolve) => setTimeout(resolve, 150))
      try {
        await expect(writer.write(owner, records.slice(99))).resolves.toEqual({ refused: [] })
        release()
        await expect(interrupted).rejects.toMatchObject({
          kind: 'unavailable',
          message: expect.stringMatching(/lost/),
        })
        expect((await turnsOf(client, owner)).map((row) => row.content)).toEqual(['restart 99'])
      } finally {
        client.close()
      }
    } finally {
      await writer.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
