/**
 * `npm run migrate`: apply pending migrations to LIBSQL_URL (default: the embedded .data/ file).
 * Idempotent; safe to run before every start. Reads LIBSQL_* through the validated configuration,
 * so LIBSQL_TIMEOUT_MS applies here as it does to `npm run serve`.
 */
import { parseDatabaseConfig } from '../config'
import { ApiError } from '../errors'
import { defaultDatabaseUrl, openNodeDatabase } from './database'
import { applyMigrations } from './migrations'

let config: ReturnType<typeof parseDatabaseConfig>
try {
  config = parseDatabaseConfig(process.env, { LIBSQL_URL: defaultDatabaseUrl })
} catch (error) {
  console.error(error instanceof ApiError ? `CONFIG_INVALID: ${error.message}` : String(error))
  process.exit(1)
}
const url = config.libsqlUrl
const client = await openNodeDatabase(url, config.libsqlAuthToken, config.libsqlTimeoutMs)
try {
  await applyMigrations(client)
  console.log(
    `migrations applied to ${new URL(url).protocol === 'file:' ? url : new URL(url).origin}`,
  )
} finally {
  client.close()
}
