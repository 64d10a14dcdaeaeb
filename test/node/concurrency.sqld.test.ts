/**
 * Concurrent writers on one sqld: the server refuses a write batch that finds another one in its
 * write lock (SQLITE_BUSY). No client may see that as a failure: the store retries it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { TurnStore } from '../../src/db/turns'
import { parseTurnLine } from '../../src/ingest/turn'
import { applyMigrations } from '../../src/node/migrations'
import { type SqldServer, startSqld } from '../../src/node/sqld'
import { freshOwner, turnsOf } from '../helpers/db'
import { wireTurn } from '../helpers/turns'

let sqld: SqldServer
let dataDir: string

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tributary-busy-'))
  sqld = await startSqld({ dataDir })
  const client = createClient({ url: sqld.url })
  await applyMigrations(client)
  client.close()
})
afterAll(async () => {
  await sqld.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

const records = (count: number, content: string) =>
  Array.from({ length: count }, (_, i) => {
    const parsed = parseTurnLine(JSON.stringify(wireTurn({ turn_id: `t${i}`, content })))
    if (!parsed.ok) throw new Error(parsed.message)
    return parsed.turn
  })

it('commits every chunk of 8 writers at once, each on its own connection', async () => {
  const content = 'z'.repeat(2000)
  const writers = Array.from({ length: 8 }, () => ({
    owner: freshOwner('busy'),
    client: createClient({ url: sqld.url }),
  }))
  try {
    await Promise.all(
      writers.map(async ({ owner, client }) => {
        const store = new TurnStore(client)
        for (let chunk = 0; chunk < 4; chunk++) await store.writeChunk(owner, records(500, content))
      }),
    )
    const reader = createClient({ url: sqld.url })
    for (const { owner } of writers) expect(await turnsOf(reader, owner)).toHaveLength(500)
    reader.close()
  } finally {
    for (const { client } of writers) client.close()
  }
})
