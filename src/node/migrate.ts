/**
 * `npm run migrate`: apply pending migrations to LIBSQL_URL (default: the embedded .data/ file).
 * Idempotent; safe to run before every start.
 */
import { defaultDatabaseUrl, openNodeDatabase } from './database'
import { applyMigrations } from './migrations'

const url = process.env.LIBSQL_URL?.trim() || defaultDatabaseUrl
const client = await openNodeDatabase(url, process.env.LIBSQL_AUTH_TOKEN?.trim() || undefined)
try {
  await applyMigrations(client)
  console.log(
    `migrations applied to ${new URL(url).protocol === 'file:' ? url : new URL(url).origin}`,
  )
} finally {
  client.close()
}
