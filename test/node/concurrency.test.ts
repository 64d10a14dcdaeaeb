/**
 * Many writers on one local file database: simultaneous ingests
 * through the real Node server all succeed, each lands exactly, and no SQLITE_BUSY reaches a
 * client, not even while another process holds the database's write lock for a while.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TurnStore } from '../../src/db/store'
import { parseTurnLine } from '../../src/ingest/turn'
import { openNodeDatabase } from '../../src/node/database'
import { freshOwner } from '../helpers/db'
import { openIngest, postIngest, type Stack, startStack, turnIdsOf } from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

const WRITERS = 12
const LINES = 300

let stack: Stack

beforeAll(async () => {
  stack = await startStack({ env: { INGEST_CHUNK_LINES: '20' } })
})
afterAll(() => stack.close())

const bodyFor = (owner: string) =>
  ndjson(
    Array.from({ length: LINES }, (_, i) =>
      wireTurn({ session_id: `s${i % 7}`, turn_id: `${owner}-${String(i).padStart(4, '0')}` }),
    ),
  )

async function ingestAll(owners: string[]) {
  const answers = await Promise.all(
    owners.map((owner) => postIngest(stack.server.url, owner, bodyFor(owner))),
  )
  for (const [i, answer] of answers.entries()) {
    expect(answer.status, JSON.stringify(answer.body).slice(0, 300)).toBe(200)
    expect(answer.body).toMatchObject({ accepted: LINES, rejected: 0, chunks: LINES / 20 })
    const owner = owners[i] as string
    const ids = await turnIdsOf(stack.reader, owner)
    expect(ids).toHaveLength(LINES)
    expect(ids[0]).toBe(`${owner}-0000`)
  }
}

/** Another process that takes the write lock of `path` and keeps it for `holdMs`. */
function holdWriteLock(path: string, holdMs: number): Promise<ChildProcess> {
  const script = `
    const Database = require('libsql')
    const db = new Database(process.argv[1])
    db.exec('BEGIN IMMEDIATE')
    db.exec("insert into sessions (owner, tool, host, session_id, started_at, ended_at) values ('lock-holder', 't', 'h', 's', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z') on conflict do nothing")
    process.stdout.write('locked\\n')
    setTimeout(() => { db.exec('COMMIT'); db.close(); process.exit(0) }, Number(process.argv[2]))
  `
  const child = spawn(process.execPath, ['-e', script, path, String(holdMs)], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (data: Buffer) => {
      if (data.toString().includes('locked')) resolve(child)
    })
    child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)))
  })
}

describe('concurrent ingests on a local file database', () => {
  it(`commits ${WRITERS} simultaneous streams exactly, all 200`, async () => {
    await ingestAll(Array.from({ length: WRITERS }, () => freshOwner('writer')))
  })

  it(`keeps ${WRITERS} bodies open at once, each waiting for more, without a listener-leak warning`, async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
    process.on('warning', onWarning)
    try {
      const owners = Array.from({ length: WRITERS }, () => freshOwner('open'))
      const open = await Promise.all(owners.map((owner) => openIngest(stack.server.url, owner)))
      const chunk = (owner: string, from: number) =>
        ndjson(Array.from({ length: 20 }, (_, i) => wireTurn({ turn_id: `${owner}-${from + i}` })))
      for (const [i, { req }] of open.entries()) req.write(chunk(owners[i] as string, 0))
      // Every first chunk is committed: every request is now in a read of its body.
      for (const owner of owners) {
        await expect.poll(async () => (await turnIdsOf(stack.reader, owner)).length).toBe(20)
      }
      for (const [i, { req }] of open.entries()) req.end(chunk(owners[i] as string, 20))
      const answers = await Promise.all(open.map(({ answer }) => answer))
      expect(answers.map(({ status, body }) => [status, body.accepted])).toEqual(
        owners.map(() => [200, 40]),
      )
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings).toEqual([])
  })

  it('waits out another process holding the write lock instead of answering SQLITE_BUSY', async () => {
    const holder = await holdWriteLock(join(stack.dataDir, 'tributary.db'), 700)
    try {
      const started = Date.now()
      await ingestAll(Array.from({ length: WRITERS }, () => freshOwner('blocked')))
      // The writers did wait for the lock (the busy timeout is 5 s): they did not fail fast.
      expect(Date.now() - started).toBeGreaterThanOrEqual(500)
    } finally {
      holder.kill()
    }
  })

  it('gives every pooled connection the busy timeout, not only the first one', async () => {
    // The client opens a pool: writes started in the same tick each borrow a connection of
    // their own. Each one must wait for the lock; a connection without the busy timeout
    // fails at once with SQLITE_BUSY.
    const client = await openNodeDatabase(`file:${join(stack.dataDir, 'tributary.db')}`)
    const store = new TurnStore(client)
    const owner = freshOwner('pool')
    const record = (i: number) => {
      const parsed = parseTurnLine(JSON.stringify(wireTurn({ turn_id: `p${i}` })))
      if (!parsed.ok) throw new Error(parsed.message)
      return parsed.turn
    }
    const holder = await holdWriteLock(join(stack.dataDir, 'tributary.db'), 400)
    try {
      // A read borrows the first connection, so the writes get connections opened for them.
      await Promise.all([
        client.execute('select count(*) from turns'),
        ...Array.from({ length: 6 }, (_, i) => store.write(owner, [record(i)])),
      ])
      expect(await turnIdsOf(stack.reader, owner)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5'])
    } finally {
      holder.kill()
      client.close()
    }
  })
})
