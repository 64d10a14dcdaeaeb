/**
 * The Node server: the same app as the Worker, over @hono/node-server, on an embedded libSQL file
 * or a libSQL server. Used by `npm run serve` and by the tests that need real sockets.
 */
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { Worker } from 'node:worker_threads'
import { serve } from '@hono/node-server'
import type { InStatement } from '@libsql/client'
import { createApp } from '../app'
import { createVerifier } from '../auth/jwt'
import type { Config } from '../config'
import { toDatabaseError } from '../db/errors'
import { type TurnRecord, TurnStore } from '../db/turns'
import type { PreparedChunk } from '../ingest/pipeline'
import { BUSY_TIMEOUT_MS, openNodeDatabase } from './database'
import { nodeDecompressor } from './inflate'
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
  const turnStore = new TurnStore(client)
  // An embedded database writes on a thread of its own, so parsing overlaps the writes.
  const writer = config.libsqlUrl.startsWith('file:')
    ? new WriterThread(config.libsqlUrl)
    : undefined
  const app = createApp({
    limits: config.ingest,
    store: writer === undefined ? turnStore : threadedStore(turnStore, writer),
    verify: createVerifier(config.auth),
    decompress: nodeDecompressor,
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

// ---------------------------------------------------------------------------------------------
// The writer thread

/**
 * The chunk store of an embedded database whose writes run on the writer thread: the statements
 * are built here (TurnStore.statements, SQL cached per shape) and sent to the thread while the
 * chunk before is still committing; the thread runs them as one transaction when told to.
 * `ping` stays on this thread's client, so readiness never waits behind writes.
 */
function threadedStore(store: TurnStore, writer: WriterThread) {
  const prepare = (owner: string, records: readonly TurnRecord[]): PreparedChunk => {
    if (records.length === 0) return { commit: () => Promise.resolve(), discard: () => {} }
    // Sent now: the thread has the statements when the chunk before this one has committed.
    const staged = writer.stage(store.statements(owner, records))
    return {
      commit: () =>
        writer.run(staged).catch((error: unknown) => {
          throw toDatabaseError(error)
        }),
      discard: () => writer.drop(staged),
    }
  }
  return {
    prepare,
    writeChunk: (owner: string, records: readonly TurnRecord[]) => prepare(owner, records).commit(),
    ping: () => store.ping(),
  }
}

type WriterReply =
  | { id: number; ok: true }
  | { id: number; ok: false; error: { message: string; code?: string } }

/**
 * The thread's code, plain JavaScript: it runs without a TypeScript loader, under tsx and vitest
 * alike. One connection with the settings of openNodeDatabase (WAL, synchronous=NORMAL, the busy
 * timeout); each batch is one BEGIN IMMEDIATE … COMMIT, rolled back whole when a statement
 * fails, and the error's SQLite code goes back so db/errors.ts can tell data from unavailable.
 * The statements of the few SQL shapes a stream of chunks uses stay prepared (an LRU of 32).
 */
const WRITER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs })
db.exec('PRAGMA journal_mode = WAL')
db.exec('PRAGMA synchronous = NORMAL')
db.exec('PRAGMA busy_timeout = ' + Number(workerData.busyTimeoutMs))
const prepared = new Map()
const statement = (sql) => {
  let stmt = prepared.get(sql)
  if (stmt === undefined) {
    stmt = db.prepare(sql)
    if (prepared.size >= 32) prepared.delete(prepared.keys().next().value)
  } else {
    prepared.delete(sql)
  }
  prepared.set(sql, stmt)
  return stmt
}
const begin = db.prepare('BEGIN IMMEDIATE')
const commit = db.prepare('COMMIT')
const staged = new Map()
parentPort.on('message', (request) => {
  if (request.op === 'close') {
    db.close()
    process.exit(0)
  }
  if (request.op === 'stage') {
    staged.set(request.id, request.statements)
    return
  }
  if (request.op === 'drop') {
    staged.delete(request.id)
    return
  }
  const statements = staged.get(request.id)
  staged.delete(request.id)
  try {
    if (statements === undefined) throw new Error('the batch was never staged on this thread')
    begin.run()
    try {
      for (const s of statements) statement(s.sql).run(s.args)
      commit.run()
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK')
      throw error
    }
    parentPort.postMessage({ id: request.id, ok: true })
  } catch (error) {
    const { message, code } = error instanceof Error ? error : { message: String(error) }
    parentPort.postMessage({ id: request.id, ok: false, error: { message, code } })
  }
})
`

/**
 * The writer thread of an embedded (`file:`) database. A write to it is synchronous native work
 * on whichever thread calls it: on the event loop's thread it stalls the parsing of the next
 * chunk, so on two cores parsing and writing could not overlap. Batches are run in the order
 * sent. A thread that dies fails what it had (the pipeline answers 503) and is started again on
 * the next batch.
 */
class WriterThread {
  readonly #path: string
  readonly #driver: string
  #worker: Worker | undefined
  #closed = false
  #nextId = 0
  readonly #pending = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>()

  constructor(url: string) {
    this.#path = url.slice('file:'.length).split('?')[0] ?? ''
    // The native driver under @libsql/client (better-sqlite3's API); the thread requires it.
    this.#driver = createRequire(import.meta.url).resolve('libsql')
  }

  /**
   * Send `statements` to the thread ahead of time (its copy of them is made while it may still
   * be writing something else); they are written by `run`, or let go by `drop`.
   */
  stage(statements: InStatement[]): number {
    if (this.#closed) return -1
    const id = this.#nextId++
    this.#start().postMessage({ op: 'stage', id, statements })
    return id
  }

  /** Run what `stage` sent as one transaction, after every batch run before it. */
  run(id: number): Promise<void> {
    if (this.#closed || id < 0) return Promise.reject(new Error('the writer thread is closed'))
    const worker = this.#start()
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      worker.postMessage({ op: 'run', id })
    })
  }

  drop(id: number): void {
    if (!this.#closed && id >= 0) this.#worker?.postMessage({ op: 'drop', id })
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = new Worker(WRITER_SOURCE, {
      eval: true,
      // It holds one chunk at a time: a small young generation keeps its memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
      workerData: { path: this.#path, driver: this.#driver, busyTimeoutMs: BUSY_TIMEOUT_MS },
    })
    worker.on('message', (reply: WriterReply) => {
      const waiting = this.#pending.get(reply.id)
      if (waiting === undefined) return
      this.#pending.delete(reply.id)
      if (reply.ok) waiting.resolve()
      else waiting.reject(Object.assign(new Error(reply.error.message), reply.error))
    })
    const fail = (error: unknown) => {
      if (this.#worker === worker) this.#worker = undefined
      for (const waiting of this.#pending.values()) waiting.reject(error)
      this.#pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the writer thread exited (${code})`)))
    this.#worker = worker
    return worker
  }

  /** Let the thread finish the batches it was sent, close its connection, and end. */
  async close(): Promise<void> {
    this.#closed = true
    const worker = this.#worker
    if (worker === undefined) return
    this.#worker = undefined
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    worker.postMessage({ op: 'close' })
    await exited
  }
}
