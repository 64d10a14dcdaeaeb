/**
 * The Node server: the same app as the Worker, over @hono/node-server, on an embedded libSQL file
 * or a libSQL server. Used by `npm run serve` and by the tests that need real sockets.
 */
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createApp } from '../app'
import { createVerifier } from '../auth/jwt'
import type { Config } from '../config'
import { TurnStore } from '../db/turns'
import { openNodeDatabase } from './database'
import { applyMigrations } from './migrations'

/** A macrotask turn: the native libSQL client frees statement memory only then (#333). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

export type NodeServer = {
  url: string
  port: number
  close(): Promise<void>
}

/** Open the database, apply pending migrations, and listen on `hostname:port` (0 = any free). */
export async function startNodeServer(
  config: Config,
  options: { port: number; hostname?: string; log?: (message: string, error: unknown) => void },
): Promise<NodeServer> {
  const client = await openNodeDatabase(
    config.libsqlUrl,
    config.libsqlAuthToken,
    config.libsqlTimeoutMs,
  )
  await applyMigrations(client)
  const app = createApp({
    limits: config.ingest,
    store: new TurnStore(client),
    verify: createVerifier(config.auth),
    afterCommit: yieldToEventLoop,
    ...(options.log === undefined ? {} : { log: options.log }),
  })
  const hostname = options.hostname ?? '127.0.0.1'
  const server = serve({ fetch: app.fetch, hostname, port: options.port })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
  } catch (error) {
    client.close()
    throw error
  }
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${hostname}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          client.close()
          resolve()
        })
        // Keep-alive sockets would hold close() open; the tests and Ctrl-C want it now.
        ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
      }),
  }
}
