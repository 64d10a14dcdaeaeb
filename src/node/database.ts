import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type Client, createClient } from '@libsql/client'
import { DEFAULT_LIBSQL_TIMEOUT_MS, fileDatabasePath } from '../config'
import { fetchWithDeadline } from '../db/client'

/** Default embedded database for the Node entry: a file in the git-ignored .data/ folder. */
export const defaultDatabaseUrl = `file:${fileURLToPath(new URL('../../.data/tributary.db', import.meta.url))}`

/** How long a write on a `file:` database waits for another connection's lock. */
export const BUSY_TIMEOUT_MS = 5000

/**
 * A libSQL client for the Node entries. A `file:` database gets WAL (readers never block the
 * writer) and a busy timeout, so concurrent writers wait instead of failing with SQLITE_BUSY. A
 * libSQL server gets a deadline on every request (`timeoutMs`, LIBSQL_TIMEOUT_MS).
 *
 * The busy timeout is the client's `timeout` option, not a PRAGMA: the client keeps a pool of
 * connections, and a PRAGMA reaches only the one connection that runs it.
 */
export async function openNodeDatabase(
  url: string,
  authToken?: string,
  timeoutMs: number = DEFAULT_LIBSQL_TIMEOUT_MS,
): Promise<Client> {
  if (url.startsWith('file:')) {
    // The client is handed the path the writer thread opens (fileDatabasePath), as a URL.
    const path = resolve(fileDatabasePath(url))
    mkdirSync(dirname(path), { recursive: true })
    url = pathToFileURL(path).href
  }
  const client = createClient({
    url,
    ...(authToken === undefined ? {} : { authToken }),
    fetch: fetchWithDeadline(timeoutMs),
    timeout: BUSY_TIMEOUT_MS,
  })
  if (url.startsWith('file:')) {
    await client.execute('PRAGMA journal_mode = WAL')
    await client.execute('PRAGMA synchronous = NORMAL')
  }
  return client
}
