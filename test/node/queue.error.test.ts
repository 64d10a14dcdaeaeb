/**
 * The write queue of a libSQL-client store (TurnStore, as a Worker isolate and the Node server
 * over sqld use it): writes take turns, but each has its own deadline from the moment it is
 * queued, and a write that hangs holds the next one no longer than its own deadline.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Client, createClient } from '@libsql/client'
import { afterEach, describe, expect, it } from 'vitest'
import { fetchWithDeadline } from '../../src/db/client'
import { DatabaseError } from '../../src/db/errors'
import { TurnStore } from '../../src/db/store'
import { parseTurnLine } from '../../src/ingest/turn'
import { applyMigrations } from '../../src/node/migrations'
import { type SqldServer, startSqld } from '../../src/node/sqld'
import { freshOwner } from '../helpers/db'
import { HANG_MARKER, type HangProxy, startHangProxy } from '../helpers/hang'
import { turnIdsOf } from '../helpers/node'
import { type WireTurn, wireTurn } from '../helpers/turns'

/** Each write's deadline in these tests (LIBSQL_TIMEOUT_MS). */
const DEADLINE_MS = 1000

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function migratedSqld(): Promise<{ sqld: SqldServer; reader: Client }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-queue-'))
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
  const sqld = await startSqld({ dataDir })
  cleanups.push(async () => {
    sqld.kill('SIGCONT') // a stopped process ignores SIGTERM until it runs again
    await sqld.stop()
  })
  const reader = createClient({ url: sqld.url })
  cleanups.push(() => reader.close())
  await applyMigrations(reader)
  return { sqld, reader }
}

const recordsOf = (...lines: WireTurn[]) =>
  lines.map((line) => {
    const parsed = parseTurnLine(JSON.stringify(line))
    if (!parsed.ok) throw new Error(parsed.message)
    return parsed.turn
  })

/** How a write ended, and when (ms after `since`). */
const timed = async (since: number, write: Promise<unknown>) => {
  try {
    return { value: await write, error: undefined, ms: Date.now() - since }
  } catch (error) {
    return { value: undefined, error, ms: Date.now() - since }
  }
}

describe('the write queue', () => {
  it('fails a hanging write at its deadline, and the write queued behind it at its own', async () => {
    const { sqld, reader } = await migratedSqld()
    // As the entries build it: every request to the server has the deadline too.
    const client = createClient({ url: sqld.url, fetch: fetchWithDeadline(DEADLINE_MS) })
    cleanups.push(() => client.close())
    const store = new TurnStore(client, { timeoutMs: DEADLINE_MS })
    const owner = freshOwner()

    sqld.kill('SIGSTOP') // sqld keeps its sockets open and answers nothing
    const queued = Date.now()
    const [first, second] = await Promise.all([
      timed(queued, store.write(owner, recordsOf(wireTurn({ turn_id: 'a' })))),
      timed(queued, store.write(owner, recordsOf(wireTurn({ turn_id: 'b' })))),
    ])
    for (const { error, ms } of [first, second]) {
      expect(error).toBeInstanceOf(DatabaseError)
      expect((error as DatabaseError).kind).toBe('unavailable')
      expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50)
    }
    // The second was queued with the first: it ends near its own deadline, not after the
    // first's deadline and a whole one of its own.
    expect(second.ms).toBeLessThan(DEADLINE_MS * 1.5)

    sqld.kill('SIGCONT')
    await store.write(owner, recordsOf(wireTurn({ turn_id: 'c' })))
    // 'a' and 'b' are in doubt (sqld may run them once it wakes); 'c' is stored in any case.
    const stored = await turnIdsOf(reader, owner)
    expect(stored).toContain('c')
    expect(['a', 'b', 'c']).toEqual(expect.arrayContaining(stored))
  })

  it('lets the next write go once a write that never settles reaches its deadline', async () => {
    const { sqld, reader } = await migratedSqld()
    const proxy: HangProxy = await startHangProxy(sqld.url)
    cleanups.push(() => proxy.close())
    // No deadline on the client's requests: the hanging one never settles, as the I/O of a
    // request cancelled mid-commit never does in workerd. Only the store's deadline is left.
    const client = createClient({ url: proxy.url })
    cleanups.push(() => client.close())
    const store = new TurnStore(client, { timeoutMs: DEADLINE_MS })
    const owner = freshOwner()

    const queued = Date.now()
    const hung = timed(queued, store.write(owner, recordsOf(wireTurn({ content: HANG_MARKER }))))
    // Queued half a deadline later: it waits for the hung write's deadline, then has half of
    // its own left to commit in.
    await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS / 2))
    const nextQueued = Date.now()
    const next = timed(nextQueued, store.write(owner, recordsOf(wireTurn({ turn_id: 'after' }))))
    const [first, second] = await Promise.all([hung, next])

    expect(proxy.held()).toBe(1)
    expect(first.error).toBeInstanceOf(DatabaseError)
    expect(first.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50)
    expect(first.ms).toBeLessThan(DEADLINE_MS * 1.5)
    expect(second.error).toBeUndefined()
    expect(second.value).toEqual({ refused: [] })
    expect(second.ms).toBeLessThan(DEADLINE_MS)
    expect(await turnIdsOf(reader, owner)).toEqual(['after'])
  })

  it('still runs writes one after another while each ends within its deadline', async () => {
    const { sqld, reader } = await migratedSqld()
    const client = createClient({ url: sqld.url, fetch: fetchWithDeadline(DEADLINE_MS) })
    cleanups.push(() => client.close())
    const store = new TurnStore(client, { timeoutMs: DEADLINE_MS })
    const owner = freshOwner()

    // sqld pauses for a third of the deadline: the writes queued meanwhile all land.
    sqld.kill('SIGSTOP')
    const writes = ['1', '2', '3', '4'].map((id) =>
      store.write(owner, recordsOf(wireTurn({ turn_id: id }))),
    )
    await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS / 3))
    sqld.kill('SIGCONT')
    expect(await Promise.all(writes)).toEqual([0, 1, 2, 3].map(() => ({ refused: [] })))
    expect(await turnIdsOf(reader, owner)).toEqual(['1', '2', '3', '4'])
  })
})
