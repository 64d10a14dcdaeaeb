/**
 * The Node server: the same app as the Worker, over @hono/node-server, on an embedded libSQL file
 * or a libSQL server. Used by `npm run serve` and by the tests that need real sockets.
 */
import { setMaxListeners } from 'node:events'
import type { AddressInfo } from 'node:net'
import { type HttpBindings, serve } from '@hono/node-server'
import { createApp } from '../app'
import { createVerifier } from '../auth/jwt'
import type { Config } from '../config'
import { ReadStore } from '../db/reads'
import { TurnStore } from '../db/store'
import { ApiError, problemResponse } from '../errors'
import { nodeOps } from '../ops/node'
import { chooseRequestId } from '../ops/request-id'
import { nodeBody } from './body'
import { openNodeDatabase } from './database'
import { Drain } from './drain'
import { applyMigrations } from './migrations'
import { WriterThread } from './writer/writer'

/** A macrotask turn: the native libSQL client frees statement memory only then. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

export type NodeServer = {
  url: string
  port: number
  close(): Promise<void>
  /**
   * Graceful stop (SIGTERM/SIGINT): stop accepting, let requests in flight finish for up to
   * `graceMs`, then stop the rest (a 503 with `committed`), drain the writer, close the database.
   */
  shutdown(graceMs: number): Promise<void>
}

/** Open the database, apply pending migrations, and listen on `hostname:port` (0 = any free). */
export async function startNodeServer(
  config: Config,
  options: {
    port: number
    hostname?: string
    log?: (message: string, error: unknown) => void
    info?: (message: string) => void
    /** Where request log lines go (stdout for `npm run serve`); none: no lines. */
    logTo?: NodeJS.WritableStream
  },
): Promise<NodeServer> {
  const client = await openNodeDatabase(
    config.libsqlUrl,
    config.libsqlAuthToken,
    config.libsqlTimeoutMs,
  )
  await applyMigrations(client)
  const turnStore = new TurnStore(client, { timeoutMs: config.libsqlTimeoutMs })
  // An embedded database writes on a thread of its own, so parsing overlaps the writes.
  const writer = config.libsqlUrl.startsWith('file:')
    ? new WriterThread(config.libsqlUrl, options.log === undefined ? {} : { log: options.log })
    : undefined
  try {
    await writer?.start()
  } catch (error) {
    await writer?.close()
    client.close()
    throw error
  }
  const stopping = new AbortController()
  // Every ingest reading its body waits on this signal, one listener each: as many as are
  // admitted (INGEST_MAX_CONCURRENT), past Node's default warning at 10.
  setMaxListeners(config.ingest.maxConcurrent, stopping.signal)
  const ops = nodeOps(config.ops, {
    ...(options.logTo === undefined ? {} : { logTo: options.logTo }),
    queueDepth: () => writer?.depth ?? 0,
  })
  const app = createApp({
    ...ops,
    shutdown: stopping.signal,
    limits: config.ingest,
    // Readiness asks both connections: the one migrations ran on, and the writer thread's.
    store:
      writer === undefined
        ? turnStore
        : {
            write: (owner, records) => writer.write(owner, records),
            ping: async () => {
              await Promise.all([turnStore.ping(), writer.ping()])
            },
          },
    verify: createVerifier(config.auth, { retryAfterS: config.ingest.retryAfterS }),
    reads: new ReadStore(client),
    readBody: (c, encoding) => nodeBody((c.env as HttpBindings).incoming, encoding),
    ...(writer === undefined ? { afterCommit: yieldToEventLoop } : {}),
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.info === undefined ? {} : { info: options.info }),
  })
  const hostname = options.hostname ?? config.server.host
  const drain = new Drain()
  const refuse = new ApiError('SHUTTING_DOWN', 'The server is shutting down; send this again.', {
    headers: { 'Retry-After': String(config.ingest.retryAfterS), Connection: 'close' },
  })
  const server = serve({
    fetch: (request, env) => {
      if (!drain.closing) return app.fetch(request, env)
      const id = chooseRequestId(request.headers.get('x-request-id'))
      const response = problemResponse(refuse, id)
      response.headers.set('X-Request-Id', id)
      return response
    },
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
  server.on('request', (_request, response) => drain.track(response))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`,
    port,
    shutdown: async (graceMs) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      drain.closing = true
      const http = server as unknown as {
        closeIdleConnections(): void
        closeAllConnections(): void
      }
      http.closeIdleConnections()
      if (!(await drain.idle(graceMs))) {
        stopping.abort()
        await drain.idle()
      }
      http.closeAllConnections()
      await closed
      await writer?.close()
      client.close()
    },
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
