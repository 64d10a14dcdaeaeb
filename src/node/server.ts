/**
 * The Node server: the same app as the Worker, over @hono/node-server, on an embedded libSQL file
 * or a libSQL server. Used by `npm run serve` and by the tests that need real sockets.
 */
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { Worker } from 'node:worker_threads'
import { type HttpBindings, serve } from '@hono/node-server'
import type { InValue } from '@libsql/client'
import { createApp } from '../app'
import { createVerifier } from '../auth/jwt'
import type { Config } from '../config'
import { toDatabaseError } from '../db/errors'
import {
  pushSessionFields,
  recordsFromTurnArgs,
  sessionsFromFields,
  TurnStore,
  type Upsert,
} from '../db/turns'
import type { ChunkDraft } from '../ingest/pipeline'
import { nodeOps } from '../ops/node'
import { nodeBody } from './body'
import { BUSY_TIMEOUT_MS, openNodeDatabase } from './database'
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
  options: {
    port: number
    hostname?: string
    log?: (message: string, error: unknown) => void
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
  const turnStore = new TurnStore(client)
  // An embedded database writes on a thread of its own, so parsing overlaps the writes.
  const writer = config.libsqlUrl.startsWith('file:')
    ? new WriterThread(config.libsqlUrl)
    : undefined
  const ops = nodeOps(config.ops, {
    ...(options.logTo === undefined ? {} : { logTo: options.logTo }),
    queueDepth: () => writer?.depth ?? 0,
  })
  const app = createApp({
    ...ops,
    limits: config.ingest,
    store: writer === undefined ? turnStore : threadedStore(turnStore, writer),
    verify: createVerifier(config.auth),
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

// ---------------------------------------------------------------------------------------------
// The writer thread

/**
 * Turn rows per upsert handed to the writer thread while its chunk is still being parsed: a
 * chunk's records are let go of a few dozen lines after they are validated, before a young
 * generation collection promotes them (README, Performance).
 */
const HANDOVER_ROWS = 64

/**
 * The chunk store of an embedded database whose writes run on the writer thread. A chunk's
 * statements are built here (SQL cached per shape) and handed to the thread as its records
 * arrive, every HANDOVER_ROWS turns, and its merged sessions when it is sealed; the thread runs
 * them as one transaction when told to. Each line's own session fields go along with its turn
 * row and come back with the rows when a value is refused, to rebuild the records for the split:
 * once its group is handed on, nothing of a line stays on this thread but its number (in the
 * pipeline), so nothing of it lives long enough to be promoted to V8's old generation (README,
 * Performance).
 * `ping` stays on this thread's client, so readiness never waits behind writes.
 */
function threadedStore(store: TurnStore, writer: WriterThread) {
  const begin = (owner: string): ChunkDraft => {
    const statements = store.chunkStatements(owner, HANDOVER_ROWS)
    const batch = writer.open()
    // The session fields of the lines not yet handed on (pushSessionFields).
    let fields: InValue[] = []
    return {
      add: (record) => {
        pushSessionFields(fields, record.session)
        const group = statements.add(record)
        if (group !== undefined) {
          writer.append(batch, group, fields)
          fields = []
        }
      },
      seal: () => {
        const rest = statements.seal()
        writer.seal(batch, rest.sessions, rest.turns, fields)
        let handedBack: HandedBack = { rows: [], fields: [] }
        return {
          commit: () =>
            writer.run(batch).catch((error: unknown) => {
              handedBack = { rows: [], fields: [], ...(error as Partial<HandedBack>) }
              throw toDatabaseError(error)
            }),
          discard: () => writer.drop(batch),
          records: () =>
            recordsFromTurnArgs(handedBack.rows, sessionsFromFields(handedBack.fields)),
        }
      },
      discard: () => writer.drop(batch),
    }
  }
  return { begin, ping: () => store.ping() }
}

/** What the thread hands back with a failed batch: its turn rows and their lines' session fields. */
type HandedBack = { rows: InValue[][]; fields: InValue[][] }

type WriterReply =
  | { id: number; ok: true }
  | ({ id: number; ok: false; error: { message: string; code?: string } } & HandedBack)

/**
 * The thread's code, plain JavaScript: it runs without a TypeScript loader, under tsx and vitest
 * alike. One connection with the settings of openNodeDatabase (WAL, synchronous=NORMAL, the busy
 * timeout). A batch's turn upserts arrive as its chunk is parsed ('append') and its session
 * upserts when it is sealed ('seal'); 'run' writes the sessions, then the turns, as one BEGIN
 * IMMEDIATE … COMMIT, rolled back whole when a statement fails: the error's SQLite code goes back
 * so db/errors.ts can tell data from unavailable, with the turn rows and their lines' session
 * fields, so the chunk can be split.
 * The statements of the few SQL shapes there are (statementRows) stay prepared (an LRU of 32).
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
const batches = new Map()
const batch = (id) => {
  let b = batches.get(id)
  if (b === undefined) {
    b = { sessions: [], turns: [], fields: [], sealed: false }
    batches.set(id, b)
  }
  return b
}
parentPort.on('message', (request) => {
  if (request.op === 'close') {
    db.close()
    process.exit(0)
  }
  if (request.op === 'append') {
    const b = batch(request.id)
    b.turns.push(request.statement)
    b.fields.push(request.fields)
    return
  }
  if (request.op === 'seal') {
    const b = batch(request.id)
    b.sessions = request.sessions
    b.turns.push(...request.turns)
    b.fields.push(request.fields)
    b.sealed = true
    return
  }
  if (request.op === 'drop') {
    batches.delete(request.id)
    return
  }
  const b = batches.get(request.id)
  batches.delete(request.id)
  try {
    if (b === undefined || !b.sealed) throw new Error('the batch was never sealed on this thread')
    begin.run()
    try {
      for (const s of b.sessions) statement(s.sql).run(s.args)
      for (const s of b.turns) statement(s.sql).run(s.args)
      commit.run()
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK')
      throw error
    }
    parentPort.postMessage({ id: request.id, ok: true })
  } catch (error) {
    const { message, code } = error instanceof Error ? error : { message: String(error) }
    const rows = b === undefined ? [] : b.turns.map((s) => s.args)
    const fields = b === undefined ? [] : b.fields
    parentPort.postMessage({ id: request.id, ok: false, error: { message, code }, rows, fields })
  }
})
`

/** A batch on the writer thread, and the thread it lives on (a restarted thread has lost it). */
type Batch = { id: number; generation: number }

/**
 * The writer thread of an embedded (`file:`) database. A write to it is synchronous native work
 * on whichever thread calls it: on the event loop's thread it stalls the parsing of the next
 * chunk, so on two cores parsing and writing could not overlap. Batches are run in the order
 * `run` is called. A thread that dies fails what it had (the pipeline answers 503) and is started
 * again for the next batch; a batch begun on it is never run in part on the new one.
 */
export class WriterThread {
  readonly #path: string
  readonly #driver: string
  #worker: Worker | undefined
  /** Threads started so far: a batch belongs to the one that was running when it was opened. */
  #generation = 0
  #closed = false
  #nextId = 0
  /** Runs sent and not yet answered, with the thread they were sent to. */
  readonly #pending = new Map<
    number,
    { worker: Worker; resolve: () => void; reject: (error: unknown) => void }
  >()

  constructor(url: string) {
    this.#path = url.slice('file:'.length).split('?')[0] ?? ''
    // The native driver under @libsql/client (better-sqlite3's API); the thread requires it.
    this.#driver = createRequire(import.meta.url).resolve('libsql')
  }

  /** Batches sent to run and not yet answered. */
  get depth(): number {
    return this.#pending.size
  }

  /** A new batch, filled by `append` and `seal`, then written by `run` or let go by `drop`. */
  open(): Batch {
    if (!this.#closed) this.#start()
    return { id: this.#nextId++, generation: this.#generation }
  }

  /**
   * Hand the thread one turn upsert of the batch now, with its lines' session fields (kept for a
   * failure); their copy is made on that thread.
   */
  append(batch: Batch, statement: Upsert, fields: InValue[]): void {
    this.#post(batch, { op: 'append', id: batch.id, statement, fields })
  }

  /**
   * The batch's last statements: its session upserts, which run first, and its last turns, with
   * their lines' session fields.
   */
  seal(batch: Batch, sessions: Upsert[], turns: Upsert[], fields: InValue[]): void {
    this.#post(batch, { op: 'seal', id: batch.id, sessions, turns, fields })
  }

  /**
   * Write the batch as one transaction, after every batch run before it. A failure carries
   * `rows`, the args of its turn upserts, and `fields`, the session fields handed with them, in
   * order.
   */
  run(batch: Batch): Promise<void> {
    const worker = this.#live(batch)
    if (worker === undefined) {
      return Promise.reject(new Error('the writer thread closed or restarted; the batch is lost'))
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(batch.id, { worker, resolve, reject })
      worker.postMessage({ op: 'run', id: batch.id })
    })
  }

  drop(batch: Batch): void {
    this.#post(batch, { op: 'drop', id: batch.id })
  }

  /** The thread `batch` lives on, while it still runs. */
  #live(batch: Batch): Worker | undefined {
    return !this.#closed && batch.generation === this.#generation ? this.#worker : undefined
  }

  #post(batch: Batch, message: object): void {
    this.#live(batch)?.postMessage(message)
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = new Worker(WRITER_SOURCE, {
      eval: true,
      // It holds the chunks being written and filled: a small young generation keeps it small.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
      workerData: { path: this.#path, driver: this.#driver, busyTimeoutMs: BUSY_TIMEOUT_MS },
    })
    worker.on('message', (reply: WriterReply) => {
      const waiting = this.#pending.get(reply.id)
      if (waiting === undefined) return
      this.#pending.delete(reply.id)
      if (reply.ok) waiting.resolve()
      else
        waiting.reject(
          Object.assign(new Error(reply.error.message), reply.error, {
            rows: reply.rows,
            fields: reply.fields,
          }),
        )
    })
    const fail = (error: unknown) => {
      if (this.#worker === worker) this.#worker = undefined
      // 'error' then 'exit': a thread started in between keeps its own runs.
      for (const [id, waiting] of this.#pending) {
        if (waiting.worker !== worker) continue
        this.#pending.delete(id)
        waiting.reject(error)
      }
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the writer thread exited (${code})`)))
    this.#worker = worker
    this.#generation++
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
