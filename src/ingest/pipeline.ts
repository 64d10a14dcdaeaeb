/**
 * lines -> validated turns -> chunks -> commits -> summary. Knows nothing of HTTP: it reads the
 * body's bytes for one verified owner and returns the partial-accept summary, or throws
 * an ApiError that carries the summary of what was committed before the failure.
 *
 * One chunk commits while the next is being parsed (at most one commit in flight), so parsing
 * overlaps the database round trip. Each record goes to the writer's draft of its chunk as it is
 * validated (the writer may build and hand on its statements right away), and the chunk is
 * sealed before the one in flight lands; memory stays bounded by two chunks and one line.
 */
import type { IngestLimits } from '../config'
import { DatabaseError, databaseCodeOf } from '../db/errors'
import type { TurnRecord } from '../db/turns'
import { ApiError } from '../errors'
import type { IngestObserver } from '../ops/observer'
import { type LineEvent, LineSplitter } from './lines'
import { ErrorList, type Summary } from './summary'
import { parseTurnLine } from './turn'

/** Where chunks go: each one in one transaction, or a DatabaseError. */
export interface ChunkWriter {
  /** Start the next chunk of `owner`'s records. */
  begin(owner: string): ChunkDraft
}

/**
 * A chunk being filled. The writer may build and hand on its statements as records arrive, so
 * the records can be let go of; nothing is written before the sealed chunk is committed.
 */
export interface ChunkDraft {
  add(record: TurnRecord): void
  /** No more records: the chunk is ready to write. */
  seal(): PreparedChunk
  /** It will not be written: let go of what was handed on. */
  discard(): void
}

/** A sealed chunk: committed once, or discarded. */
export interface PreparedChunk {
  /**
   * Write it as one transaction. Throws a DatabaseError: `data` when a value was refused,
   * `unavailable` when the database failed.
   */
  commit(): Promise<void>
  /** It will not be written: let go of what was made ready. */
  discard(): void
  /** Its records, in the order added: for the split after `commit` was refused with `data`. */
  records(): readonly TurnRecord[]
}

/** A sealed chunk of `records`, through `writer`. */
export const sealedChunk = (writer: ChunkWriter, owner: string, records: readonly TurnRecord[]) => {
  const draft = writer.begin(owner)
  for (const r of records) draft.add(r)
  return draft.seal()
}

/**
 * Where the decompressed body is read from, one piece at a time: a web stream's reader is one
 * (openBody, for the Worker), so is the Node server's (src/node/body.ts). Its read errors must
 * already be ApiErrors.
 */
export type BodyReader = {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>
  /** No more will be read (the request failed): let go of the body. */
  cancel(): Promise<void>
}

export type IngestOptions = {
  owner: string
  body: BodyReader | null
  store: ChunkWriter
  limits: IngestLimits
  /**
   * Called after each commit. The Node entry passes a macrotask yield: the native libSQL client
   * frees a statement's memory only when the event loop turns (libsql-client-ts#333).
   */
  afterCommit?: () => Promise<void>
  /** Told of each chunk commit and of the end (logs and metrics); never of single lines. */
  observer?: IngestObserver
}

/** The chunk being parsed: its draft (begun at its first valid line) and its lines' numbers. */
type Chunk = { draft: ChunkDraft | undefined; lines: number[]; bytes: number }

const emptyChunk = (): Chunk => ({ draft: undefined, lines: [], bytes: 0 })

export const RETRY_AFTER_SECONDS = 5

/**
 * What a body must deliver in each idle window (`idleTimeoutMs` of waiting for it) to count as
 * making progress: a client that trickles a byte every few seconds is cut off with BODY_TIMEOUT
 * like one that sends nothing, so it cannot hold a request open forever.
 */
export const MIN_BYTES_PER_IDLE_WINDOW = 512

export async function ingest(options: IngestOptions): Promise<Summary> {
  const { owner, store, limits, observer } = options
  const splitter = new LineSplitter(limits.maxLineBytes)
  const errors = new ErrorList(limits.maxErrors)
  let accepted = 0
  let chunks = 0
  let bytes = 0
  let current = emptyChunk()
  /** The commit in flight: settles to undefined, or to the error that stopped it. */
  let inFlight: Promise<unknown> | undefined

  const summary = (): Summary => {
    const listed = errors.snapshot()
    return {
      accepted,
      rejected: errors.count,
      lines: splitter.lines,
      bytes,
      chunks,
      errors: listed,
      errors_truncated: errors.count > listed.length,
    }
  }

  /**
   * Write a chunk as one transaction. When the database refuses a value, the chunk's records
   * are split in halves, each written on its own, until the refused line stands alone: it is
   * rejected as DB_CONSTRAINT and every other line is still committed, in line order.
   */
  const writeOrSplit = async (chunk: PreparedChunk, lines: number[]): Promise<void> => {
    const started = performance.now()
    try {
      await chunk.commit()
      accepted += lines.length
      chunks++
      observer?.chunkCommitted(lines.length, performance.now() - started)
      return
    } catch (error) {
      if (error instanceof DatabaseError) {
        observer?.databaseFailed({ kind: error.kind, code: databaseCodeOf(error.cause) })
      }
      if (!(error instanceof DatabaseError) || error.kind !== 'data') throw error
      if (lines.length === 1) {
        errors.add({ line: lines[0] ?? 0, code: 'DB_CONSTRAINT', message: error.message })
        return
      }
    }
    const records = chunk.records()
    const half = Math.ceil(lines.length / 2)
    await writeOrSplit(sealedChunk(store, owner, records.slice(0, half)), lines.slice(0, half))
    await writeOrSplit(sealedChunk(store, owner, records.slice(half)), lines.slice(half))
  }

  const commit = async (chunk: PreparedChunk, lines: number[]) => {
    await writeOrSplit(chunk, lines)
    await options.afterCommit?.()
  }

  /** Wait for the commit in flight; rethrow what stopped it. */
  const settle = async () => {
    if (inFlight === undefined) return
    const failure = await inFlight
    inFlight = undefined
    if (failure !== undefined) throw failure
  }

  const submit = async () => {
    const { draft, lines } = current
    if (draft === undefined) return
    current = emptyChunk()
    // Made ready while the previous chunk commits; written only once that one has landed.
    const prepared = draft.seal()
    try {
      await settle()
    } catch (error) {
      prepared.discard()
      throw error
    }
    // The handler is attached now, so a failure waits here, unhandled-rejection free, until
    // the next settle picks it up.
    inFlight = commit(prepared, lines).then(
      () => undefined,
      (error: unknown) => error ?? new Error('commit failed'),
    )
  }

  const handle = async (events: LineEvent[]) => {
    for (const event of events) {
      if (event.kind === 'invalid') {
        errors.add({ line: event.line, code: event.code, message: event.message })
        continue
      }
      const parsed = parseTurnLine(event.text)
      if (!parsed.ok) {
        const { ok: _, ...rejection } = parsed
        errors.add({ line: event.line, ...rejection })
        continue
      }
      current.draft ??= store.begin(owner)
      current.draft.add(parsed.turn)
      current.lines.push(event.line)
      current.bytes += event.bytes
      if (current.lines.length >= limits.chunkLines || current.bytes >= limits.chunkBytes) {
        await submit()
      }
    }
  }

  const finish = (): Summary => {
    const result = summary()
    observer?.finished({
      lines: result.lines,
      accepted,
      rejected: result.rejected,
      bytes,
      chunks,
      rejectedByCode: errors.byCode,
    })
    return result
  }

  const reader = options.body
  if (reader === null) return finish()
  const idle = new IdleWindow(limits.idleTimeoutMs)
  try {
    for (;;) {
      const { done, value } = await idle.read(reader)
      if (done) break
      bytes += value.byteLength
      if (bytes > limits.maxBodyBytes) {
        throw new ApiError(
          'PAYLOAD_TOO_LARGE',
          `The body is larger than the ${limits.maxBodyBytes}-byte cap (after decompression).`,
        )
      }
      await handle(splitter.push(value))
    }
    await handle(splitter.end())
    await submit()
    await settle()
    return finish()
  } catch (error) {
    reader.cancel().catch(() => {})
    current.draft?.discard()
    // What is in flight may still land: wait for it, so `committed` is the truth.
    let failure = error
    try {
      await settle()
    } catch (commitFailure) {
      failure = commitFailure
    }
    throw toApiError(failure).withCommitted(finish())
  }
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  if (error instanceof DatabaseError) {
    return new ApiError(
      'DATABASE_UNAVAILABLE',
      'The database failed; nothing more was read. Lines in `committed` are stored; retry the rest.',
      { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) }, cause: error },
    )
  }
  return new ApiError('INTERNAL', 'The request failed unexpectedly.', { cause: error })
}

/**
 * The idle timeout. Only time spent waiting for the body counts (not time spent waiting for a
 * commit), and the window starts over only once MIN_BYTES_PER_IDLE_WINDOW bytes have arrived
 * in it: a body that delivers less than that in `windowMs` of waiting gets BODY_TIMEOUT.
 */
class IdleWindow {
  readonly #windowMs: number
  #waitedMs = 0
  #bytes = 0

  constructor(windowMs: number) {
    this.#windowMs = windowMs
  }

  async read(reader: BodyReader): Promise<ReadableStreamReadResult<Uint8Array>> {
    const started = Date.now()
    const result = await readWithin(
      reader,
      Math.max(0, this.#windowMs - this.#waitedMs),
      this.#windowMs,
    )
    this.#waitedMs += Date.now() - started
    if (!result.done) {
      this.#bytes += result.value.byteLength
      if (this.#bytes >= MIN_BYTES_PER_IDLE_WINDOW) {
        this.#bytes = 0
        this.#waitedMs = 0
      }
    }
    return result
  }
}

/** One read of the body, or BODY_TIMEOUT when nothing arrives for `ms`. */
async function readWithin(
  reader: BodyReader,
  ms: number,
  windowMs: number,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ApiError(
            'BODY_TIMEOUT',
            `The body stalled: fewer than ${MIN_BYTES_PER_IDLE_WINDOW} bytes arrived in ${windowMs} ms; stopped reading.`,
          ),
        ),
      ms,
    )
  })
  try {
    return await Promise.race([reader.read(), timeout])
  } finally {
    clearTimeout(timer)
  }
}
