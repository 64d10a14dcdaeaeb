/**
 * `npm run serve`: the self-hosted Node entry. Parses the environment once (the only place it is
 * read), applies pending migrations, then serves on HOST:PORT (default 127.0.0.1:8787) over
 * LIBSQL_URL (default: an embedded file in the git-ignored .data/ folder). SIGTERM or SIGINT
 * stops it gracefully (SHUTDOWN_GRACE_MS); a second signal stops it at once.
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
    return parseConfig(process.env, { LIBSQL_URL: defaultDatabaseUrl })
  } catch (error) {
    return fail(error instanceof ApiError ? `CONFIG_INVALID: ${error.message}` : String(error))
  }
}

const config = readEnv()
const { host, port } = config.server
const server = await startNodeServer(config, { port, hostname: host }).catch(
  (error: NodeJS.ErrnoException) =>
    fail(error.code === 'EADDRINUSE' ? `port ${port} is in use` : `cannot start: ${error.message}`),
)
const database = config.libsqlUrl.startsWith('file:')
  ? config.libsqlUrl
  : new URL(config.libsqlUrl).origin
console.log(`tributary listening on ${server.url} (database ${database})`)
if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
  console.log(
    'HOST is not loopback: tokens travel in clear over plain HTTP; put a TLS proxy in front.',
  )
}
console.log(
  `send data: curl -X POST ${server.url}/v1/ingest -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-ndjson' --data-binary @sample/turns.ndjson`,
)

let stopping = false
const stop = (signal: string) => {
  if (stopping) process.exit(1)
  stopping = true
  console.log(`${signal}: finishing requests in flight (up to ${config.server.shutdownGraceMs} ms)`)
  server.shutdown(config.server.shutdownGraceMs).then(
    () => process.exit(0),
    (error: unknown) => fail(`shutdown failed: ${String(error)}`),
  )
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
