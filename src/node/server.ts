/**
 * The Node server: the same app as the Worker, over @hono/node-server, on an embedded libSQL file
 * or a libSQL server. Used by `npm run serve` and by the tests that need real sockets.
 */
import type { AddressInfo } from 'node:net'
import { type HttpBindings, serve } from '@hono/node-server'
import { createApp } from '../app'
import { createVerifier } from '../auth/jwt'
import type { Config } from '../config'
import { ReadStore } from '../db/reads'
import { TurnStore } from '../db/store'
import { nodeBody } from './body'
import { openNodeDatabase } from './database'
import { applyMigrations } from './migrations'
import { WriterThread } from './writer/writer'

/** A macrotask turn: the native libSQL client frees statement memory only then. */
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
  const turnStore = new TurnStore(client)
  // An embedded database writes on a thread of its own, so parsing overlaps the writes.
  const writer = config.libsqlUrl.startsWith('file:')
    ? new WriterThread(config.libsqlUrl)
    : undefined
  try {
    await writer?.start()
  } catch (error) {
    await writer?.close()
    client.close()
    throw error
  }
  const app = createApp({
    limits: config.ingest,
    // `ping` stays on this thread's client, so readiness never waits behind writes.
    store:
      writer === undefined
        ? turnStore
        : { write: (owner, records) => writer.write(owner, records), ping: () => turnStore.ping() },
    verify: createVerifier(config.auth),
    reads: new ReadStore(client),
    readBody: (c, encoding) => nodeBody((c.env as HttpBindings).incoming, encoding),
    ...(writer === undefined ? { afterCommit: yieldToEventLoop } : {}),
    ...(options.log === undefined ? {} : { log: options.log }),
  })
  const hostname = options.hostname ?? '127.0.0.1'
  const server = serve({
    fetch: app.fetch,
    hostname,
    port: options.port,
    // No cap on a whole request: a long stream that keeps delivering is welcome, and a stalled
    // one is cut off by the ingest idle timeout (INGEST_IDLE_TIMEOUT_MS) with a 408 problem.
    serverOptions: { requestTimeout: 0 },
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
  } catch (error) {
    await writer?.close()
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
          void (writer?.close() ?? Promise.resolve()).finally(() => {
            client.close()
            resolve()
          })
        })
        // Keep-alive sockets would hold close() open; the tests and Ctrl-C want it now.
        ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
      }),
  }
}
