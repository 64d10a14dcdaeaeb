/**
 * `npm run serve`: the self-hosted Node entry. Parses the environment once (the only place it is
 * read), applies pending migrations, then serves on 127.0.0.1:PORT (default 8787) over
 * LIBSQL_URL (default: an embedded file in the git-ignored .data/ folder).
 */
import { parseConfig } from '../config'
import { ApiError } from '../errors'
import { defaultDatabaseUrl } from './database'
import { startNodeServer } from './server'

function fail(message: string): never {
  console.error(message)
  process.exit(1)
}

function readEnv() {
  try {
    const config = parseConfig(process.env, { LIBSQL_URL: defaultDatabaseUrl })
    const rawPort = process.env.PORT?.trim() || '8787'
    const port = Number(rawPort)
    if (!/^\d+$/.test(rawPort) || port > 65535) {
      throw new ApiError('CONFIG_INVALID', 'Configuration invalid: PORT must be a port number')
    }
    return { config, port }
  } catch (error) {
    return fail(error instanceof ApiError ? `CONFIG_INVALID: ${error.message}` : String(error))
  }
}

const { config, port } = readEnv()
const server = await startNodeServer(config, { port, logTo: process.stdout }).catch(
  (error: NodeJS.ErrnoException) =>
    fail(error.code === 'EADDRINUSE' ? `port ${port} is in use` : `cannot start: ${error.message}`),
)
const database = config.libsqlUrl.startsWith('file:')
  ? config.libsqlUrl
  : new URL(config.libsqlUrl).origin
console.log(`tributary listening on ${server.url} (database ${database})`)
console.log(
  `send data: curl -X POST ${server.url}/v1/ingest -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-ndjson' --data-binary @sample/turns.ndjson`,
)

const stop = () => {
  server.close().then(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
