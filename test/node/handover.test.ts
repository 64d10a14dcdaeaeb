/**
 * The embedded database's hand-over: the Node server builds a chunk's turn upserts as its lines
 * are validated and hands them to the writer thread every 64 rows, long before the chunk is
 * sealed. What lands must be exactly what the plain TurnStore path writes, also when a refused
 * value makes the thread hand a chunk back to be split, and when requests fill drafts at once.
 */
import { createRequire } from 'node:module'
import type { InValue } from '@libsql/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config'
import { recordsFromTurnArgs, TurnStore, type Upsert } from '../../src/db/turns'
import { parseTurnLine } from '../../src/ingest/turn'
import { type NodeServer, startNodeServer, WriterThread } from '../../src/node/server'
import { post, testApp } from '../helpers/app'
import {
  createTestDatabase,
  freshOwner,
  refuseContent,
  sessionsOf,
  type TestDatabase,
  type TurnRowOut,
  turnsOf,
} from '../helpers/db'
import { SECRET } from '../helpers/keys'
import { openIngest, postIngest } from '../helpers/node'
import { ndjson, type WireTurn, wireTurn } from '../helpers/turns'

/** Lines a chunk: two full hand-over groups of 64 and a remainder of 22 sealed with it. */
const CHUNK_LINES = 150

let db: TestDatabase
let server: NodeServer

beforeAll(async () => {
  db = await createTestDatabase()
  await refuseContent(db.client)
  const config = parseConfig({
    LIBSQL_URL: db.url,
    JWT_SECRET: SECRET,
    INGEST_CHUNK_LINES: String(CHUNK_LINES),
  })
  server = await startNodeServer(config, { port: 0, log: () => {} })
})
afterAll(async () => {
  await server.close()
  await db.close()
})

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
  const { app } = testApp(db, { chunkLines: CHUNK_LINES })
  const res = await post(app, owner, ndjson(lines))
  expect(res.status).toBe(200)
  return {
    turns: withoutOwner(await turnsOf(db.client, owner)),
    sessions: withoutOwner(await sessionsOf(db.client, owner)),
  }
}

describe('turn rows back to records', () => {
  it('rebuilds every record, field for field, from the upserts built for it', () => {
    const store = new TurnStore(db.client)
    const records = recordsOf(linesOf(10, 'round trip'))
    const built = store.chunkStatements('owner-x', 4)
    const groups = records.map((r) => built.add(r))
    expect(groups.map((group) => group !== undefined)).toEqual([
      ...[false, false, false, true],
      ...[false, false, false, true],
      ...[false, false],
    ])
    const sealed = built.seal()
    expect(sealed.turns).toHaveLength(1)
    const args = [...groups, ...sealed.turns].flatMap((s) => (s === undefined ? [] : [s.args]))
    const sessions = records.map((r) => r.session)
    expect(recordsFromTurnArgs(args, sessions)).toEqual(records)
    expect(() => recordsFromTurnArgs(args, sessions.slice(1))).toThrow(/do not match/)
  })
})

describe('the hand-over to the writer thread', () => {
  it('stores exactly what the plain path stores, over several chunks', async () => {
    const lines = linesOf(400, 'plain')
    const owner = freshOwner()
    const { status, body } = await postIngest(server.url, owner, ndjson(lines))
    expect(status).toBe(200)
    expect(body).toMatchObject({ accepted: 400, rejected: 0, chunks: 3 })
    const expected = await reference(lines)
    expect(withoutOwner(await turnsOf(db.client, owner))).toEqual(expected.turns)
    expect(withoutOwner(await sessionsOf(db.client, owner))).toEqual(expected.sessions)
  })

  it('splits a chunk the thread hands back, rejecting only the refused line', async () => {
    const lines = linesOf(400, 'split')
    // Line 200 is the 50th of the second chunk: in its first hand-over group.
    const poisoned = lines.map((line, i) => (i === 199 ? { ...line, content: 'poison' } : line))
    const owner = freshOwner()
    const { status, body } = await postIngest(server.url, owner, ndjson(poisoned))
    expect(status).toBe(207)
    expect(body).toMatchObject({
      accepted: 399,
      rejected: 1,
      errors: [{ line: 200, code: 'DB_CONSTRAINT' }],
    })
    const expected = await reference(lines.filter((_, i) => i !== 199))
    expect(withoutOwner(await turnsOf(db.client, owner))).toEqual(expected.turns)
    expect(withoutOwner(await sessionsOf(db.client, owner))).toEqual(expected.sessions)
  })

  it('keeps the drafts of requests that fill them at the same time apart', async () => {
    const owners = Array.from({ length: 6 }, () => freshOwner())
    const answers = await Promise.all(
      owners.map((owner) => postIngest(server.url, owner, ndjson(linesOf(300, owner)))),
    )
    for (const [i, owner] of owners.entries()) {
      expect(answers[i]?.body).toMatchObject({ accepted: 300, chunks: 2 })
      const rows = await turnsOf(db.client, owner)
      expect(rows).toHaveLength(300)
      expect(rows.filter((row) => !String(row.content).startsWith(`${owner} `))).toEqual([])
    }
  })

  it('never writes the part of a chunk it was handed when the client goes away', async () => {
    const owner = freshOwner()
    const { req, answer } = await openIngest(server.url, owner)
    // 100 lines: the first 64 are on the thread; the chunk is never sealed.
    req.write(ndjson(linesOf(100, 'gone')))
    await new Promise((resolve) => setTimeout(resolve, 200))
    req.destroy()
    await answer.catch(() => {})
    const after = await postIngest(server.url, owner, ndjson(linesOf(1, 'after')))
    expect(after.status).toBe(200)
    expect((await turnsOf(db.client, owner)).map((row) => row.content)).toEqual(['after 0'])
  })
})

describe('a writer thread that dies', () => {
  it('fails a batch begun on it, and never writes part of it on the thread started next', async () => {
    const owner = freshOwner()
    const records = recordsOf(linesOf(3, 'restart'))
    const built = new TurnStore(db.client).chunkStatements(owner, 1)
    const [first, second, third] = records.map((r) => built.add(r))
    const { sessions } = built.seal()
    if (first === undefined || second === undefined || third === undefined) throw new Error()
    const writer = new WriterThread(db.url)
    try {
      const interrupted = writer.open()
      writer.append(interrupted, first)
      // A message the thread cannot read kills it.
      const killer = writer.open()
      writer.seal(killer, null as never, null as never)
      await expect(writer.run(killer)).rejects.toThrow()
      const next = writer.open() // starts the next thread
      writer.append(interrupted, second)
      writer.seal(interrupted, sessions, [])
      await expect(writer.run(interrupted)).rejects.toThrow(/lost/)
      writer.seal(next, sessions, [third])
      await writer.run(next)
      expect((await turnsOf(db.client, owner)).map((row) => row.content)).toEqual(['restart 2'])
    } finally {
      await writer.close()
    }
  })
})

/** `lines` as the writer thread gets them: turn upserts of `groupRows` rows, then the sessions. */
function upserts(owner: string, lines: WireTurn[], groupRows: number) {
  const built = new TurnStore(db.client).chunkStatements(owner, groupRows)
  const groups = recordsOf(lines).flatMap((r) => {
    const group = built.add(r)
    return group === undefined ? [] : [group]
  })
  const { sessions, turns } = built.seal()
  return { groups, sessions, turns }
}

/** Fill `batch` with `lines` and seal it. */
function fill(
  writer: WriterThread,
  batch: ReturnType<WriterThread['open']>,
  owner: string,
  lines: WireTurn[],
) {
  const { groups, sessions, turns } = upserts(owner, lines, 2)
  for (const group of groups) writer.append(batch, group)
  writer.seal(batch, sessions, turns)
}

type NativeDatabase = { exec(sql: string): void; close(): void }
const NativeDatabase = createRequire(import.meta.url)('libsql') as new (
  path: string,
  options: { timeout: number },
) => NativeDatabase

/** Whether another connection can take the database's write lock now, without waiting. */
function writeLockFree(): boolean {
  const other = new NativeDatabase(db.url.slice('file:'.length), { timeout: 0 })
  try {
    other.exec('BEGIN IMMEDIATE')
    other.exec('ROLLBACK')
    return true
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return false
    throw error
  } finally {
    other.close()
  }
}

/** Wait until the write lock is (`free`) or is not free: the thread works between messages. */
async function lockBecomes(free: boolean, withinMs = 2000) {
  const deadline = Date.now() + withinMs
  while (writeLockFree() !== free) {
    if (Date.now() > deadline)
      throw new Error(`the write lock did not become ${free ? 'free' : 'held'}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The contents of `owner`'s stored turns, sorted. */
const contents = async (owner: string) =>
  (await turnsOf(db.client, owner)).map((row) => String(row.content)).sort()
const contentsOf = (lines: WireTurn[]) => lines.map((line) => String(line.content)).sort()

describe('a lone chunk runs ahead on the writer thread', () => {
  it('is written as it arrives, not committed before its run, and lets go of the lock when it stalls', async () => {
    const owner = freshOwner()
    const lines = linesOf(6, 'ahead')
    const { groups, sessions, turns } = upserts(owner, lines, 2)
    const writer = new WriterThread(db.url, { runAheadMs: 300 })
    try {
      const batch = writer.open()
      writer.append(batch, groups[0] as Upsert)
      // The thread took the write lock for the batch's first rows, long before its run.
      await lockBecomes(false)
      expect(await contents(owner)).toEqual([])
      // Nothing more arrives: after runAheadMs the rows are rolled back and the lock is free.
      const stalled = Date.now()
      await lockBecomes(true)
      expect(Date.now() - stalled).toBeLessThan(1500)
      for (const group of groups.slice(1)) writer.append(batch, group)
      writer.seal(batch, sessions, turns)
      await writer.run(batch)
      expect(await contents(owner)).toEqual(contentsOf(lines))
      expect(await sessionsOf(db.client, owner)).toHaveLength(5)
    } finally {
      await writer.close()
    }
  })

  it('is rolled back when another batch is run first, and written whole at its own run', async () => {
    const [first, second] = [freshOwner(), freshOwner()]
    const firstLines = linesOf(8, 'first')
    const writer = new WriterThread(db.url)
    try {
      const ahead = writer.open()
      const { groups, sessions, turns } = upserts(first, firstLines, 2)
      writer.append(ahead, groups[0] as Upsert)
      writer.append(ahead, groups[1] as Upsert)
      await lockBecomes(false)
      const other = writer.open()
      fill(writer, other, second, linesOf(5, 'second'))
      await writer.run(other)
      expect(await contents(second)).toHaveLength(5)
      expect(await contents(first)).toEqual([])
      expect(writeLockFree()).toBe(true)
      for (const group of groups.slice(2)) writer.append(ahead, group)
      writer.seal(ahead, sessions, turns)
      await writer.run(ahead)
      expect(await contents(first)).toEqual(contentsOf(firstLines))
    } finally {
      await writer.close()
    }
  })

  it('fails at its run with every row when a row was refused ahead, and keeps the thread usable', async () => {
    const owner = freshOwner()
    // The refused row is in the second group of two rows.
    const lines = linesOf(6, 'refused').map((line, i) =>
      i === 2 ? { ...line, content: 'poison' } : line,
    )
    const writer = new WriterThread(db.url)
    try {
      const batch = writer.open()
      const { groups, sessions, turns } = upserts(owner, lines, 2)
      writer.append(batch, groups[0] as Upsert)
      await lockBecomes(false)
      // The refusal rolls the batch back at once: the lock is free before the rest arrives.
      writer.append(batch, groups[1] as Upsert)
      await lockBecomes(true)
      for (const group of groups.slice(2)) writer.append(batch, group)
      writer.seal(batch, sessions, turns)
      const failure = await writer.run(batch).then(
        () => undefined,
        (error: unknown) => error as { message: string; rows: InValue[][] },
      )
      expect(failure?.message).toMatch(/poisoned row/)
      // Every turn of the batch, also those that arrived after the refusal, to be split.
      const records = recordsOf(lines)
      expect(
        recordsFromTurnArgs(
          failure?.rows ?? [],
          records.map((r) => r.session),
        ),
      ).toEqual(records)
      expect(await contents(owner)).toEqual([])
      const next = writer.open()
      fill(writer, next, owner, linesOf(3, 'next'))
      await writer.run(next)
      expect(await contents(owner)).toEqual(['next 0', 'next 1', 'next 2'])
    } finally {
      await writer.close()
    }
  })

  it('is rolled back when dropped', async () => {
    const owner = freshOwner()
    const writer = new WriterThread(db.url)
    try {
      const batch = writer.open()
      writer.append(batch, upserts(owner, linesOf(2, 'dropped'), 2).groups[0] as Upsert)
      await lockBecomes(false)
      writer.drop(batch)
      await lockBecomes(true, 500)
      const next = writer.open()
      fill(writer, next, owner, linesOf(2, 'kept'))
      await writer.run(next)
      expect(await contents(owner)).toEqual(['kept 0', 'kept 1'])
    } finally {
      await writer.close()
    }
  })
})
