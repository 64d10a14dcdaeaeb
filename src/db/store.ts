/**
 * TurnStore: the Sink over a @libsql/client connection (sqld, Turso, a file). A chunk is one batch
 * transaction; when the database refuses a value, the chunk is split in halves, each written on
 * its own, until every refused record stands alone and every other one is committed.
 */
import type { Client } from '@libsql/client'
import { DEFAULT_LIBSQL_TIMEOUT_MS } from '../config'
import type { Refusal, Sink, TurnRecord, WriteResult } from '../types'
import { DatabaseError, isBusy, toDatabaseError } from './errors'
import { ChunkStatements, chunkUpserts, type Upsert } from './statements'

/** Attempts of a write batch refused as busy, and the first pause between them (it doubles). */
const BUSY_ATTEMPTS = 8
const BUSY_BACKOFF_MS = 20

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A write in the queue: settles when it ends; the next one waits no later than `deadline`. */
type Turn = { done: Promise<void>; deadline: number }

export type TurnStoreOptions = {
  /**
   * How long one write may take from the moment it is queued, waiting included (LIBSQL_TIMEOUT_MS);
   * past it the write fails `unavailable` and the next one in the queue goes ahead.
   */
  timeoutMs?: number
}

const expired = () =>
  new DatabaseError('unavailable', 'the database did not finish the write within its deadline')

/**
 * `work` or, when `deadline` (epoch ms) comes first, the `expired` failure. The timer is the
 * caller's own: in workerd a cancelled request's timers and I/O never fire, so no write may wait
 * on another request's timer.
 */
async function within<T>(deadline: number, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), Math.max(0, deadline - Date.now()))
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

export class TurnStore implements Sink {
  readonly #client: Client
  readonly #timeoutMs: number

  /**
   * The last write queued. SQLite has one writer, so concurrent batches from one client only
   * queue on the server's lock and come back busy (and can wedge sqld 0.24's lock hand-over
   * during a WAL checkpoint). The requests of one process or isolate take turns here, each
   * waiting for the one before until it ends or reaches its deadline, whichever is first: a
   * write that never settles (its request was cancelled mid-commit) holds the next one no longer.
   */
  #last: Turn | undefined

  constructor(client: Client, options: TurnStoreOptions = {}) {
    this.#client = client
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_LIBSQL_TIMEOUT_MS
  }

  async write(
    owner: string,
    records: Iterable<TurnRecord> | AsyncIterable<TurnRecord>,
  ): Promise<WriteResult> {
    // The statements are built as the records arrive; the records are kept for a split.
    const kept: TurnRecord[] = []
    const built = new ChunkStatements(owner)
    const groups: Upsert[] = []
    for await (const r of records) {
      kept.push(r)
      const group = built.add(r)
      if (group !== undefined) groups.push(group)
    }
    if (kept.length === 0) return { refused: [] }
    const rest = built.seal()
    const statements = [...rest.sessions, ...groups, ...rest.turns]
    const deadline = Date.now() + this.#timeoutMs
    const before = this.#last
    let ended = () => {}
    const done = new Promise<void>((resolve) => {
      ended = resolve
    })
    const turn: Turn = { done, deadline }
    this.#last = turn
    const work = (async () => {
      if (before !== undefined) await within(before.deadline, before.done).catch(() => {})
      return this.#writeOrSplit(owner, kept, 0, deadline, statements)
    })()
    work.catch(() => {}) // a write past its deadline ends on its own; its caller has the 503
    try {
      return await within(deadline, work)
    } finally {
      ended()
      if (this.#last === turn) this.#last = undefined
    }
  }

  /** Write `records` (at `offset` in the chunk) as one batch, or split them around a refusal. */
  async #writeOrSplit(
    owner: string,
    records: readonly TurnRecord[],
    offset: number,
    deadline: number,
    statements: Upsert[] = chunkUpserts(owner, records),
  ): Promise<WriteResult> {
    try {
      await this.#batch(statements, deadline)
      return { refused: [] }
    } catch (error) {
      const failure = toDatabaseError(error)
      if (failure.kind !== 'data') throw failure
      if (records.length === 1) {
        return { refused: [{ index: offset, code: 'DB_CONSTRAINT', message: failure.message }] }
      }
    }
    const half = Math.ceil(records.length / 2)
    const refused: Refusal[] = []
    for (const [part, at] of [
      [records.slice(0, half), offset],
      [records.slice(half), offset + half],
    ] as const) {
      refused.push(...(await this.#writeOrSplit(owner, part, at, deadline)).refused)
    }
    return { refused }
  }

  /** One batch transaction; none is begun past `deadline` (the caller has had its 503). */
  async #batch(statements: Upsert[], deadline: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (Date.now() >= deadline) throw expired()
      try {
        await this.#client.batch(statements, 'write')
        return
      } catch (error) {
        // A libSQL server refuses a write that finds another in its lock; the batch rolled back
        // whole and the upserts are idempotent, so it is written again after a short pause.
        if (!isBusy(error) || attempt === BUSY_ATTEMPTS) throw toDatabaseError(error)
        await pause(BUSY_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random()))
      }
    }
  }

  /** `select 1`: is the database there? Throws a DatabaseError when it is not. */
  async ping(): Promise<void> {
    try {
      await this.#client.execute('select 1')
    } catch (error) {
      throw toDatabaseError(error)
    }
  }
}
