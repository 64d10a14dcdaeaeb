/**
 * A real libSQL file database in a temporary folder, migrated from drizzle/ — never `:memory:`
 * (libSQL transactions on `:memory:` see an empty database). One per test file; tests use a
 * fresh owner each so they never see each other's rows.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@libsql/client'
import { openNodeDatabase } from '../../src/node/database'
import { applyMigrations } from '../../src/node/migrations'

export type TestDatabase = {
  url: string
  client: Client
  /** Close the client and delete the folder. */
  close(): Promise<void>
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-test-'))
  const url = `file:${join(dir, 'test.db')}`
  const client = await openNodeDatabase(url)
  await applyMigrations(client)
  return {
    url,
    client,
    async close() {
      client.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * A refusal the wire schema cannot see: a trigger on `turns` that makes the database reject every
 * row whose content is `content`, so its line is a DB_CONSTRAINT. Kept if it already exists.
 */
export async function refuseContent(client: Client, content = 'poison', name = 'poison') {
  await client.execute(`create trigger if not exists ${name} before insert on turns
    when new.content = '${content}' begin select raise(abort, 'poisoned row'); end`)
}

let owners = 0
/** A new owner for each test: rows of one test are invisible to every other. */
export const freshOwner = (prefix = 'owner'): string =>
  `${prefix}-${process.pid}-${Date.now().toString(36)}-${++owners}`

export type TurnRowOut = Record<string, unknown>

/** Every turn of `owner`, in key order, as plain objects. */
export async function turnsOf(client: Client, owner: string): Promise<TurnRowOut[]> {
  const result = await client.execute({
    sql: 'select * from turns where owner = ? order by tool, host, session_id, turn_id',
    args: [owner],
  })
  return result.rows.map((row) => ({ ...row }))
}

/** Every session of `owner`, in key order, as plain objects. */
export async function sessionsOf(client: Client, owner: string): Promise<TurnRowOut[]> {
  const result = await client.execute({
    sql: 'select * from sessions where owner = ? order by tool, host, session_id',
    args: [owner],
  })
  return result.rows.map((row) => ({ ...row }))
}
