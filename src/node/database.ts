import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Client, createClient } from '@libsql/client'

/** Default embedded database for the Node entry: a file in the git-ignored .data/ folder. */
export const defaultDatabaseUrl = `file:${fileURLToPath(new URL('../../.data/tributary.db', import.meta.url))}`

/**
 * A libSQL client for the Node entries. A `file:` database gets WAL (readers never block the
 * writer) and a busy timeout, so concurrent writers wait instead of failing with SQLITE_BUSY.
 */
export async function openNodeDatabase(url: string, authToken?: string): Promise<Client> {
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length).split('?')[0] ?? ''
    if (path !== '' && path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  }
  const client = createClient(authToken === undefined ? { url } : { url, authToken })
  if (url.startsWith('file:')) {
    await client.execute('PRAGMA journal_mode = WAL')
    await client.execute('PRAGMA busy_timeout = 5000')
    await client.execute('PRAGMA synchronous = NORMAL')
  }
  return client
}
