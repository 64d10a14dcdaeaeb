/**
 * TurnStore: the Sink over a @libsql/client connection (sqld, Turso, a file). A chunk is one batch
 * transaction; when the database refuses a value, the chunk is split in halves, each written on
 * its own, until every refused record stands alone and every other one is committed.
 */
import type { Client } from '@libsql/client'
import type { Refusal, Sink, TurnRecord, WriteResult } from '../types'
import { isBusy, toDatabaseError } from './errors'
import { ChunkStatements, chunkUpserts, type Upsert } from './statements'

/** Attempts of a write batch refused as busy, and the first pause between them (it doubles). */
const BUSY_ATTEMPTS = 8
const BUSY_BACKOFF_MS = 20

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class TurnStore implements Sink {
  readonly #client: Client

  /**
   * The write before the next one. SQLite has one writer, so concurrent batches from one client
   * only queue on the server's lock and come back busy (and can wedge sqld 0.24's lock hand-over
   * during a WAL checkpoint). The requests of one process or isolate take turns here.
   */
  #writes: Promise<void> = Promise.resolve()

  constructor(client: Client) {
    this.#client = client
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
    const turn = this.#writes.then(() => this.#writeOrSplit(owner, kept, 0, statements))
    this.#writes = turn.then(
      () => undefined,
      () => undefined,
    )
    return turn
  }

  /** Write `records` (at `offset` in the chunk) as one batch, or split them around a refusal. */
  async #writeOrSplit(
    owner: string,
    records: readonly TurnRecord[],
    offset: number,
    statements: Upsert[] = chunkUpserts(owner, records),
  ): Promise<WriteResult> {
    try {
      await this.#batch(statements)
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
      refused.push(...(await this.#writeOrSplit(owner, part, at)).refused)
    }
    return { refused }
  }

  async #batch(statements: Upsert[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
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
