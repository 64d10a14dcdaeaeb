/**
 * The isolate's write queue inside workerd: the TurnStore the Worker entry builds, over
 * libSQL-over-HTTP to a real sqld behind a proxy that never answers a request holding
 * HANG_MARKER. A hung write fails at its own deadline and holds the next one no longer.
 */
import { createClient } from '@libsql/client/web'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { fetchWithDeadline } from '../../src/db/client'
import { DatabaseError } from '../../src/db/errors'
import { TurnStore } from '../../src/db/store'
import { parseTurnLine } from '../../src/ingest/turn'
import { HANG_MARKER } from '../helpers/hang'
import { ownerFactory } from './helpers'
import './provided'

const DEADLINE_MS = 1000

const reader = createClient({ url: inject('sqldUrl') })
afterAll(() => reader.close())

const freshOwner = ownerFactory('workerd-queue')

const record = (turnId: string, content = 'hello from the queue') => {
  const parsed = parseTurnLine(
    JSON.stringify({
      tool: 'claude-code',
      host: 'ci-runner',
      session_id: 'session-q',
      turn_id: turnId,
      seq: 1,
      role: 'assistant',
      timestamp: '2026-11-22T14:22:26.123Z',
      content,
    }),
  )
  if (!parsed.ok) throw new Error(parsed.message)
  return parsed.turn
}

const timed = async (since: number, write: Promise<unknown>) => {
  try {
    return { value: await write, error: undefined, ms: Date.now() - since }
  } catch (error) {
    return { value: undefined, error, ms: Date.now() - since }
  }
}

const turnIds = async (owner: string) =>
  (
    await reader.execute({
      sql: 'select turn_id from turns where owner = ? order by turn_id',
      args: [owner],
    })
  ).rows.map((row) => String(row.turn_id))

describe('the write queue inside workerd', () => {
  it('fails a hung write at its deadline and lets the next one commit within its own', async () => {
    const client = createClient({ url: inject('hangUrl'), fetch: fetchWithDeadline(60_000) })
    const store = new TurnStore(client, { timeoutMs: DEADLINE_MS })
    const owner = freshOwner()

    const queued = Date.now()
    const hung = timed(queued, store.write(owner, [record('hung', HANG_MARKER)]))
    await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS / 2))
    const nextQueued = Date.now()
    const next = timed(nextQueued, store.write(owner, [record('next')]))
    const [first, second] = await Promise.all([hung, next])

    expect(first.error).toBeInstanceOf(DatabaseError)
    expect((first.error as DatabaseError).kind).toBe('unavailable')
    expect(first.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50)
    expect(first.ms).toBeLessThan(DEADLINE_MS * 1.5)
    expect(second.error).toBeUndefined()
    expect(second.value).toEqual({ refused: [] })
    expect(second.ms).toBeLessThan(DEADLINE_MS)
    expect(await turnIds(owner)).toEqual(['next'])
    client.close()
  })
})
