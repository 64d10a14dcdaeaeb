/**
 * lines -> validated turns -> chunks -> sink.write -> summary. Knows nothing of HTTP: it reads
 * the body's bytes for one verified owner and returns the partial-accept summary, or throws an
 * ApiError that carries the summary of what was committed before the failure.
 *
 * Each chunk streams into its sink write as its lines are validated, so the sink may hand its
 * rows on before the chunk is complete; a chunk ends (and commits) only once the chunk before
 * has landed, and is dropped if that one failed. Memory stays bounded by two chunks and a line.
 */
import { DatabaseError, databaseCodeOf } from '../db/errors'
import { ApiError } from '../errors'
import type {
  BodyReader,
  IngestLimits,
  IngestObserver,
  Sink,
  Summary,
  TurnRecord,
  WriteResult,
} from '../types'
import { type LineEvent, LineSplitter } from './lines'
import { ErrorList } from './summary'
import { parseTurnLine } from './turn'

export type IngestOptions = {
  owner: string
  body: BodyReader | null
  store: Sink
  limits: IngestLimits
  /**
   * Called after each commit. The Node entry passes a macrotask yield: the native libSQL client
   * frees a statement's memory only when the event loop turns.
   */
  afterCommit?: () => Promise<void>
  /** Aborted when the server shuts down: reading stops, the answer is a 503 with `committed`. */
  signal?: AbortSignal
  /** Told of each chunk commit and of the end (logs and metrics); never of single lines. */
  observer?: IngestObserver
}

/**
 * A chunk's records on their way to the sink: pushed as they are validated, read by the sink's
 * `for await`. `end` completes it; `fail` makes the sink's iteration throw, so nothing is written.
 * A plain iterator (not an async generator): one settled promise per record.
 */
class RecordFeed implements AsyncIterableIterator<TurnRecord> {
  #queue: TurnRecord[] = []
  #head = 0
  #ended = false
  #failed = false
  /** The sink's read waiting for the next record. */
  #waiting:
    | { resolve: (result: IteratorResult<TurnRecord>) => void; reject: (error: Error) => void }
    | undefined

  push(record: TurnRecord): void {
    const waiting = this.#waiting
    if (waiting === undefined) {
      this.#queue.push(record)
      return
    }
    this.#waiting = undefined
    waiting.resolve({ value: record, done: false })
  }

  end(): void {
    this.#ended = true
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.resolve({ value: undefined, done: true })
  }

  fail(): void {
    this.#failed = true
    this.#queue = []
    this.#head = 0
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.reject(dropped())
  }

  next(): Promise<IteratorResult<TurnRecord>> {
    if (this.#failed) return Promise.reject(dropped())
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++] as TurnRecord
      if (this.#head === this.#queue.length) {
        this.#queue = []
        this.#head = 0
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject }
    })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}

const dropped = () => new Error('the chunk was dropped')

/** The chunk being parsed: its feed and sink write (begun at its first valid line), its lines. */
type Chunk = {
  feed: RecordFeed | undefined
  written: Promise<WriteResult> | undefined
  lines: number[]
  bytes: number
}

const emptyChunk = (): Chunk => ({ feed: undefined, written: undefined, lines: [], bytes: 0 })

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
  /** Chunk writes begun: each is a subrequest on Workers. */
  let writes = 0

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

  /** Count what a chunk's write committed and refused. */
  const account = async (written: Promise<WriteResult>, lines: number[]) => {
    // The chunk has just ended: from here on the time is its commit's.
    const started = performance.now()
    const { refused } = await written.catch((error: unknown) => {
      if (error instanceof DatabaseError) {
        observer?.databaseFailed({ kind: error.kind, code: databaseCodeOf(error.cause) })
      }
      throw error
    })
    for (const r of refused) {
      errors.add({ line: lines[r.index] ?? 0, code: r.code, message: r.message })
      observer?.databaseFailed({ kind: 'data', code: undefined })
    }
    accepted += lines.length - refused.length
    if (refused.length < lines.length) {
      chunks++
      observer?.chunkCommitted(lines.length - refused.length, performance.now() - started)
    }
    await options.afterCommit?.()
  }

  /** Wait for the commit in flight; rethrow what stopped it. */
  const settle = async () => {
    if (inFlight === undefined) return
    const failure = await inFlight
    inFlight = undefined
    if (failure !== undefined) throw failure
  }

  /** Let go of a chunk that will not be written, and of its sink write. */
  const drop = async (chunk: Chunk) => {
    if (chunk.feed === undefined) return
    chunk.feed.fail()
    await chunk.written?.catch(() => {})
  }

  const submit = async () => {
    const chunk = current
    const { feed, written, lines } = chunk
    if (feed === undefined || written === undefined) return
    current = emptyChunk()
    try {
      await settle()
    } catch (error) {
      await drop(chunk)
      throw error
    }
    // The chunk before has landed: this one may commit now.
    feed.end()
    // The handler is attached now, so a failure waits here, unhandled-rejection free, until
    // the next settle picks it up.
    inFlight = account(written, lines).then(
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
      if (current.feed === undefined) {
        if (limits.maxChunks > 0 && writes >= limits.maxChunks) {
          throw chunkBudgetSpent(limits, event.line)
        }
        writes++
        const feed = new RecordFeed()
        current.feed = feed
        current.written = store.write(owner, feed)
        // Settled by submit or drop; until then a failure must not count as unhandled.
        current.written.catch(() => {})
      }
      current.feed.push(parsed.turn)
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
  const idle = new IdleWindow(limits, options.signal)
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
    await drop(current)
    // What is in flight may still land: wait for it, so `committed` is the truth.
    let failure = error
    try {
      await settle()
    } catch (commitFailure) {
      failure = commitFailure
    }
    throw toApiError(failure, limits).withCommitted(finish())
  }
}

/**
 * INGEST_MAX_CHUNKS reached: stopped before the platform's own subrequest limit would fail the
 * request, with where to resume. Lines before `resumeLine` are committed or listed as rejected.
 */
const chunkBudgetSpent = (limits: IngestLimits, resumeLine: number) =>
  new ApiError(
    'PAYLOAD_TOO_LARGE',
    `This body needs more than the ${limits.maxChunks} chunk writes one request may make (INGEST_MAX_CHUNKS; each is a subrequest on Workers); nothing more was read. Lines in \`committed\` are stored: send the body from line ${resumeLine} on in a new request, and split bodies to at most ${limits.maxChunks * limits.chunkLines} lines and ${limits.maxChunks} × ${limits.chunkBytes} bytes.`,
  )

function toApiError(error: unknown, limits: IngestLimits): ApiError {
  if (error instanceof ApiError) return error
  if (error instanceof DatabaseError) {
    return new ApiError(
      'DATABASE_UNAVAILABLE',
      'The database failed; nothing more was read. Lines in `committed` are stored; retry the rest.',
      { headers: { 'Retry-After': String(limits.retryAfterS) }, cause: error },
    )
  }
  return new ApiError('INTERNAL', 'The request failed unexpectedly.', { cause: error })
}

/**
 * The idle timeout. Only time spent waiting for the body counts (not time spent waiting for a
 * commit), and the window starts over only once MIN_BYTES_PER_IDLE_WINDOW bytes have arrived
 * in it: a body that delivers less than that in `windowMs` of waiting gets BODY_TIMEOUT. Past
 * `deadlineMs` from the start, however it trickles in, the body is cut off too. The clock is
 * monotonic (performance.now): a wall-clock step cannot stretch or cut a window.
 */
class IdleWindow {
  readonly #windowMs: number
  readonly #deadline: number
  readonly #deadlineMs: number
  readonly #signal: AbortSignal | undefined
  readonly #retryAfterS: number
  #waitedMs = 0
  #bytes = 0

  constructor(limits: IngestLimits, signal: AbortSignal | undefined) {
    this.#windowMs = limits.idleTimeoutMs
    this.#deadlineMs = limits.requestTimeoutMs
    this.#deadline = performance.now() + limits.requestTimeoutMs
    this.#retryAfterS = limits.retryAfterS
    this.#signal = signal
  }

  async read(reader: BodyReader): Promise<ReadableStreamReadResult<Uint8Array>> {
    const started = performance.now()
    const idleLeft = Math.max(0, this.#windowMs - this.#waitedMs)
    const deadlineLeft = Math.max(0, this.#deadline - started)
    const result = await readWithin(
      reader,
      Math.min(idleLeft, deadlineLeft),
      deadlineLeft < idleLeft
        ? () =>
            new ApiError(
              'BODY_TIMEOUT',
              `The request passed its ${this.#deadlineMs} ms deadline (INGEST_REQUEST_TIMEOUT_MS); stopped reading. Lines in \`committed\` are stored; send the rest in a new request.`,
            )
        : () =>
            new ApiError(
              'BODY_TIMEOUT',
              `The body stalled: fewer than ${MIN_BYTES_PER_IDLE_WINDOW} bytes arrived in ${this.#windowMs} ms; stopped reading.`,
            ),
      this.#signal,
      this.#retryAfterS,
    )
    this.#waitedMs += performance.now() - started
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

const shuttingDown = (retryAfterS: number) =>
  new ApiError(
    'SHUTTING_DOWN',
    'The server is shutting down; stopped reading. Lines in `committed` are stored; send the rest again.',
    { headers: { 'Retry-After': String(retryAfterS) } },
  )

/**
 * One read of the body; `timedOut()` (made only then: an Error captures its stack) when nothing
 * arrives for `ms`; stopped when `signal` aborts.
 */
async function readWithin(
  reader: BodyReader,
  ms: number,
  timedOut: () => ApiError,
  signal: AbortSignal | undefined,
  retryAfterS: number,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  if (signal?.aborted === true) throw shuttingDown(retryAfterS)
  let timer: ReturnType<typeof setTimeout> | undefined
  let onAbort: (() => void) | undefined
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms)
    onAbort = () => reject(shuttingDown(retryAfterS))
    signal?.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([reader.read(), stop])
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
  }
}
