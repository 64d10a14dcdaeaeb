/**
 * WriterThread: the Sink of an embedded (`file:`) database, writing on a thread of its own. A write
 * is synchronous native work on whichever thread calls it; on the event loop's thread it would
 * stall the parsing of the next chunk, so on two cores parsing and writing could not overlap.
 */
import { Worker } from 'node:worker_threads'
import type { InValue } from '@libsql/client'
import { fileDatabasePath } from '../../config'
import { toDatabaseError } from '../../db/errors'
import { lineSession } from '../../db/sessions'
import { ChunkStatements, pushSessionValues } from '../../db/statements'
import type { Refusal, Sink, TurnRecord, WriteResult } from '../../types'
import { BUSY_TIMEOUT_MS } from '../database'
import type { FromThread, ToThread, WriterData } from './messages'

/**
 * Turn rows per upsert handed to the thread while its chunk is still being parsed: a record is
 * let go of a few dozen lines after it is validated, before a young generation collection would
 * promote it.
 */
const HANDOVER_ROWS = 64

/**
 * The thread's entry: thread.ts from source under tsx and vitest (through a shim that registers
 * tsx's loader), the bundle's second entry (dist/node/writer-thread.mjs) under `npm run serve`.
 */
const threadEntry = (): URL =>
  import.meta.url.endsWith('.ts')
    ? new URL('./source-thread.mjs', import.meta.url)
    : new URL('./writer-thread.mjs', import.meta.url)

/** A batch on the thread, and the thread it lives on (a restarted thread has lost it). */
type Batch = { id: number; generation: number }

/**
 * Batches are run in the order their writes end. A thread that dies fails what it had (the
 * pipeline answers 503) and is started again for the next batch; a batch begun on it is never
 * run in part on the new one.
 */
export class WriterThread implements Sink {
  readonly #path: string
  #worker: Worker | undefined
  /** Threads started so far: a batch belongs to the one that was running when it was opened. */
  #generation = 0
  #closed = false
  #nextId = 0
  /** Settles when the running thread has opened its database, or failed to. */
  #ready: Promise<void> = Promise.resolve()
  /** Runs sent and not yet answered, with the thread they were sent to. */
  readonly #pending = new Map<
    number,
    { worker: Worker; resolve: (refused: Refusal[]) => void; reject: (error: unknown) => void }
  >()

  constructor(url: string) {
    this.#path = fileDatabasePath(url)
  }

  /**
   * Build the chunk's statements as its records arrive and hand them to the thread every
   * HANDOVER_ROWS turns, with each line's own session row (for the line-by-line path); the merged
   * session upserts follow when the records end, and the thread runs them first.
   */
  async write(
    owner: string,
    records: Iterable<TurnRecord> | AsyncIterable<TurnRecord>,
  ): Promise<WriteResult> {
    const batch = this.#open()
    const statements = new ChunkStatements(owner, HANDOVER_ROWS)
    let lineSessions: InValue[] = []
    let lines = 0
    try {
      for await (const record of records) {
        lines++
        pushSessionValues(lineSessions, lineSession(owner, record))
        const group = statements.add(record)
        if (group !== undefined) {
          this.#post(batch, { op: 'append', id: batch.id, statement: group, lineSessions })
          lineSessions = []
        }
      }
    } catch (error) {
      this.#post(batch, { op: 'drop', id: batch.id })
      throw error
    }
    if (lines === 0) {
      this.#post(batch, { op: 'drop', id: batch.id })
      return { refused: [] }
    }
    const rest = statements.seal()
    this.#post(batch, { op: 'seal', id: batch.id, ...rest, lineSessions })
    try {
      return { refused: await this.#run(batch) }
    } catch (error) {
      throw toDatabaseError(error)
    }
  }

  /** Start the thread now and wait until its database is open (it fails if it cannot open). */
  async start(): Promise<void> {
    this.#start()
    await this.#ready
  }

  /** A new batch, on the thread running now (started if need be). */
  #open(): Batch {
    if (!this.#closed) this.#start()
    return { id: this.#nextId++, generation: this.#generation }
  }

  /** `select 1` on the thread's connection, after the batches already sent to it. */
  async ping(): Promise<void> {
    await this.#run(this.#open(), 'ping')
  }

  /** Write the batch as one transaction, after every batch run before it. */
  #run(batch: Batch, op: 'run' | 'ping' = 'run'): Promise<Refusal[]> {
    const worker = this.#live(batch)
    if (worker === undefined) {
      return Promise.reject(new Error('the writer thread closed or restarted; the batch is lost'))
    }
    return new Promise<Refusal[]>((resolve, reject) => {
      this.#pending.set(batch.id, { worker, resolve, reject })
      this.#send(worker, { op, id: batch.id })
    })
  }

  /** The thread `batch` lives on, while it still runs. */
  #live(batch: Batch): Worker | undefined {
    return !this.#closed && batch.generation === this.#generation ? this.#worker : undefined
  }

  #post(batch: Batch, message: ToThread): void {
    const worker = this.#live(batch)
    if (worker !== undefined) this.#send(worker, message)
  }

  #send(worker: Worker, message: ToThread): void {
    worker.postMessage(message)
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker
    const workerData: WriterData = { path: this.#path, busyTimeoutMs: BUSY_TIMEOUT_MS }
    const worker = new Worker(threadEntry(), {
      // It holds the chunks being written and filled: a small young generation keeps it small.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
      workerData,
    })
    let ready = () => {}
    let notReady = (_: unknown) => {}
    this.#ready = new Promise<void>((resolve, reject) => {
      ready = resolve
      notReady = reject
    })
    this.#ready.catch(() => {})
    worker.on('message', (reply: FromThread) => {
      if ('ready' in reply) return ready()
      const waiting = this.#pending.get(reply.id)
      if (waiting === undefined) return
      this.#pending.delete(reply.id)
      if (reply.ok) waiting.resolve(reply.refused)
      else waiting.reject(Object.assign(new Error(reply.error.message), reply.error))
    })
    const fail = (error: unknown) => {
      notReady(error)
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
    this.#send(worker, { op: 'close' })
    await exited
  }
}
