/**
 * The sender: NDJSON lines in, gzip-streamed POSTs to `/v1/ingest` out, each request bounded in
 * bytes and lines so it can be retried. It knows nothing of where the lines come from: each
 * carries an opaque tag, and marks (tags without a line) ride between them, so the caller learns,
 * in order, which of its items the server has covered (accepted, or rejected for good).
 *
 * Retries: connection errors, 400, 408, 429 and 5xx are retried with exponential backoff and full
 * jitter, honouring Retry-After; a retry resends only the lines the answer's `committed` did not
 * cover. 401, 403, 404, 405, 413, 415 and other answers stop with a SendError.
 */
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
} from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { type Duplex, PassThrough } from 'node:stream'
import { type Compressor, findCompressor } from './compressor'

/** A rejected line as the server reported it. */
export type LineRejection = { code: string; message: string; field?: string }

/** A line's text: one string, or pieces written one after another. */
export type LineText = string | readonly string[]

/** A line with its tag, or a mark. */
export type Item<T> = { text: LineText; tag: T } | { mark: T }

/** The line's pieces, and the most UTF-8 bytes they and a newline can take (3 per UTF-16 unit). */
export function linePieces(text: LineText): { pieces: readonly string[]; worst: number } {
  const pieces = typeof text === 'string' ? [text] : text
  return { pieces, worst: pieces.reduce((sum, piece) => sum + piece.length * 3, 1) }
}

/** Writes `pieces` and a newline into `buffer` at `at` (room for `worst` bytes); returns the end. */
export function writeLine(buffer: Buffer, at: number, pieces: readonly string[]): number {
  let end = at
  for (const piece of pieces) end += buffer.write(piece, end, 'utf8')
  buffer[end] = 0x0a
  return end + 1
}

export type Covered<T> =
  | { tag: T; kind: 'accepted' }
  | { tag: T; kind: 'rejected'; error: LineRejection }
  | { tag: T; kind: 'mark' }

export type SenderOptions<T> = {
  /** The server's base URL, e.g. `http://127.0.0.1:8787`. */
  url: string
  token: string
  /** Uncompressed bytes per request (default 8 MiB). */
  maxBytes?: number
  /** Lines per request (default 20 000). */
  maxLines?: number
  /** Attempts of one request before giving up (default 8). */
  maxAttempts?: number
  /** First backoff delay in ms (default 500); doubles per attempt up to `maxDelayMs`. */
  baseDelayMs?: number
  maxDelayMs?: number
  /** The gzip of each body (default: findCompressor(), igzip when on PATH, zlib otherwise). */
  compressor?: Compressor
  /** Items the server covered, in the order they were added. */
  onCovered: (items: Covered<T>[]) => void | Promise<void>
  /** A request failed and its `lines` not yet covered will be sent again after `delayMs`. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string; lines: number }) => void
}

/** The push cannot go on: the server refused it, or a request failed every attempt. */
export class SendError extends Error {
  readonly status: number | undefined
  constructor(message: string, status?: number) {
    super(message)
    this.name = 'SendError'
    this.status = status
  }
}

type Summary = {
  accepted: number
  rejected: number
  errors: Array<{ line: number; code: string; message: string; field?: string }>
  errors_truncated: boolean
}

type Answer =
  | { kind: 'answer'; status: number; headers: IncomingMessage['headers']; body: unknown }
  | { kind: 'failed'; reason: string }

/**
 * One POST in progress: a gzip stream piped into the request, and its answer to come. A held
 * attempt compresses its body before its request may start (the batch before it is still being
 * answered): the compressed bytes wait in memory, a quarter of the body or so, and go out at once
 * when it is released, so the server does not wait for this client's gzip between requests.
 */
class Attempt {
  readonly gzip: Duplex
  readonly answer: Promise<Answer>
  /** Set as soon as the server answered or the connection failed: write no more. */
  over = false
  #start: (() => void) | undefined

  constructor(url: URL, token: string, agent: HttpAgent, compressor: Compressor, held: boolean) {
    this.gzip = compressor.open()
    // While held, the compressed body collects here (a 16 MiB mark: gzip is never held back).
    const waiting = held ? new PassThrough({ highWaterMark: 16 * 1024 * 1024 }) : undefined
    if (waiting !== undefined) this.gzip.pipe(waiting)
    this.answer = new Promise<Answer>((resolve) => {
      const fail = (error: Error) => {
        this.over = true
        resolve({ kind: 'failed', reason: error.message || String(error) })
      }
      let req: ClientRequest | undefined
      // A failed gzip (an igzip that died) leaves a body that must never end: the request goes too.
      this.gzip.on('error', (error) => {
        req?.destroy()
        fail(error)
      })
      this.#start = () => {
        if (this.over) return
        const request = url.protocol === 'https:' ? httpsRequest : httpRequest
        req = request(url, {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/x-ndjson',
            'content-encoding': 'gzip',
          },
        })
        req.on('error', fail)
        req.on('response', (res) => {
          this.over = true
          const pieces: Buffer[] = []
          res.on('data', (piece: Buffer) => pieces.push(piece))
          res.on('error', fail)
          res.on('end', () => {
            const text = Buffer.concat(pieces).toString('utf8')
            let body: unknown
            try {
              body = JSON.parse(text)
            } catch {
              body = undefined
            }
            resolve({ kind: 'answer', status: res.statusCode ?? 0, headers: res.headers, body })
          })
        })
        // The request starts now, not at gzip's first output (igzip's comes per MiB of body).
        req.flushHeaders()
        ;(waiting ?? this.gzip).pipe(req)
      }
    })
    if (!held) this.release()
  }

  /** Start the request (once): what was compressed while held is sent first. */
  release(): void {
    const start = this.#start
    this.#start = undefined
    start?.()
  }

  /** Hand a piece of the body to gzip; waits while the socket (or, held, gzip) is behind. */
  async write(piece: Buffer): Promise<void> {
    if (this.over || piece.length === 0) return
    if (!this.gzip.write(piece)) {
      await Promise.race([new Promise((resolve) => this.gzip.once('drain', resolve)), this.answer])
    }
  }

  /** End the body of a released attempt; its answer. */
  end(): Promise<Answer> {
    if (this.over) this.gzip.destroy()
    else this.gzip.end()
    return this.answer
  }

  /**
   * Drop an attempt that will not be finished, held or already streaming: its gzip goes, and
   * with it an igzip child, which would otherwise keep the process alive waiting for its stdin.
   */
  abandon(): void {
    this.#start = undefined
    this.over = true
    this.gzip.destroy()
  }
}

/** Body bytes handed to gzip at a time: one write (a zlib job, a pipe write) per piece, not per line. */
const PIECE_BYTES = 256 * 1024

/** One request's lines and marks, kept until the server has covered them (for a retry). */
class Batch<T> {
  /**
   * The lines written one after another as UTF-8. A Buffer outside the JS heap: the lines
   * kept for a retry are not copied by every garbage collection.
   */
  body: Buffer
  /** Bytes used in body; bytes of it already handed to the attempt being written. */
  used = 0
  handed = 0
  /** Where each line of the body ends; lines before `first` are covered. */
  ends: number[] = []
  first = 0
  /** The items in order: lines (`line: true`) and marks, from `head` on. */
  items: Array<{ tag: T; line: boolean }> = []
  head = 0
  attempt: Attempt | undefined

  constructor(body: Buffer) {
    this.body = body
  }

  get uncovered(): number {
    return this.ends.length - this.first
  }
}

export class Sender<T> {
  readonly #o: Required<Omit<SenderOptions<T>, 'onRetry'>> & Pick<SenderOptions<T>, 'onRetry'>
  readonly #endpoint: URL
  readonly #agent: HttpAgent
  /** The batch being filled: compressed as it fills, streamed once no batch before it is in flight. */
  #batch: Batch<T>
  /**
   * The batch before it, ended and waiting for its answer (or retrying): the next one is
   * converted meanwhile, so the client works while the server finishes a request.
   */
  #inFlight: Promise<void> | undefined
  #flying: Batch<T> | undefined
  /**
   * The body buffer of the last batch settled, for the next one: two buffers in turn, not a
   * new 8 MB one per request left for the garbage collector. Once a batch is covered, gzip has
   * read all of its body.
   */
  #spare: Buffer | undefined
  readonly #bodyBytes: number
  #failure: unknown
  #closed = false

  constructor(options: SenderOptions<T>) {
    this.#o = {
      maxBytes: 8 * 1024 * 1024,
      maxLines: 20_000,
      maxAttempts: 8,
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      ...options,
      compressor: options.compressor ?? findCompressor(),
    }
    this.#endpoint = new URL('/v1/ingest', options.url)
    const Agent = this.#endpoint.protocol === 'https:' ? HttpsAgent : HttpAgent
    this.#agent = new Agent({ keepAlive: true, maxSockets: 1 })
    this.#bodyBytes = this.#o.maxBytes + 64 * 1024
    this.#batch = this.#newBatch()
  }

  /** Add a line (streamed into the current request) or a mark. */
  async add(item: Item<T>): Promise<void> {
    this.#check()
    let batch = this.#batch
    if ('mark' in item) {
      // A mark after the lines in flight is covered with them; after nothing, at once.
      if (batch.head < batch.items.length) batch.items.push({ tag: item.mark, line: false })
      else if (this.#flying !== undefined) this.#flying.items.push({ tag: item.mark, line: false })
      else await this.#o.onCovered([{ tag: item.mark, kind: 'mark' }])
      return
    }
    // A UTF-8 byte per UTF-16 unit is the usual case; room is made for the most it can take.
    const { pieces, worst } = linePieces(item.text)
    if (batch.used + worst > batch.body.length) {
      if (batch.uncovered > 0) {
        await this.#send()
        batch = this.#batch
      }
      if (worst > batch.body.length) batch.body = Buffer.allocUnsafe(worst)
    }
    batch.used = writeLine(batch.body, batch.used, pieces)
    batch.ends.push(batch.used)
    batch.items.push({ tag: item.tag, line: true })
    // Compressed as it fills; sent as it fills too once no batch before it is in flight.
    batch.attempt ??= this.#open(batch)
    if (batch.used - batch.handed >= PIECE_BYTES) await this.#hand(batch)
    if (
      batch.uncovered >= this.#o.maxLines ||
      batch.used >= this.#o.maxBytes ||
      batch.attempt?.over
    ) {
      await this.#send()
    }
  }

  /** End the request being written and see everything sent covered, retrying as needed. */
  async flush(): Promise<void> {
    await this.#send()
    await this.#inFlight
    this.#check()
  }

  close(): void {
    this.#closed = true
    this.#batch.attempt?.abandon()
    this.#agent.destroy()
  }

  #newBatch(): Batch<T> {
    const body = this.#spare ?? Buffer.allocUnsafe(this.#bodyBytes)
    this.#spare = undefined
    return new Batch<T>(body)
  }

  /** A failure of the batch in flight stops the push at the next call. */
  #check(): void {
    if (this.#failure !== undefined) throw this.#failure
  }

  /** End the batch being filled: once the one before is covered, it is settled in the background. */
  async #send(): Promise<void> {
    await this.#inFlight
    this.#check()
    const batch = this.#batch
    if (batch.items.length === batch.head) return
    if (batch.uncovered === 0) {
      await this.#o.onCovered(this.#marks(batch))
      return
    }
    this.#batch = this.#newBatch()
    this.#flying = batch
    const settling: Promise<void> = this.#settle(batch)
      .catch((error: unknown) => {
        this.#failure = error
        this.#flying = undefined
      })
      .then(() => {
        if (this.#inFlight === settling) this.#inFlight = undefined
      })
    this.#inFlight = settling
  }

  /** Send the batch until every line is covered, retrying as needed; then report its marks. */
  async #settle(batch: Batch<T>): Promise<void> {
    let failures = 0
    while (batch.uncovered > 0) {
      if (this.#closed) throw new SendError('the push was stopped before this request was answered')
      if (batch.attempt === undefined) {
        batch.attempt = this.#open(batch)
        batch.handed = batch.first === 0 ? 0 : (batch.ends[batch.first - 1] as number)
      }
      batch.attempt.release()
      await this.#hand(batch)
      const answer = await batch.attempt.end()
      batch.attempt = undefined
      const outcome = this.#answered(batch, answer)
      // Every line of it is covered: the next request may start now, before the bookkeeping.
      if (outcome.retry === undefined) this.#batch.attempt?.release()
      const progressed = await this.#cover(batch, outcome.covered, outcome.summary)
      if (outcome.retry === undefined) break
      failures = progressed ? 1 : failures + 1
      if (failures >= this.#o.maxAttempts) {
        throw new SendError(
          `gave up after ${failures} attempts: ${outcome.retry.reason} (what was accepted before is saved)`,
        )
      }
      const delayMs = outcome.retry.afterMs ?? this.#backoff(failures)
      this.#o.onRetry?.({
        attempt: failures,
        delayMs,
        reason: outcome.retry.reason,
        lines: batch.uncovered,
      })
      await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
    // Marks may still be added to it while the last are reported.
    while (batch.head < batch.items.length) await this.#o.onCovered(this.#marks(batch))
    this.#flying = undefined
    // Nothing before it is in flight now: the batch being filled is sent as it fills.
    this.#batch.attempt?.release()
    if (batch.body.length === this.#bodyBytes) this.#spare = batch.body
  }

  /** The batch's items not yet reported, all marks once its lines are covered. */
  #marks(batch: Batch<T>): Covered<T>[] {
    const marks = batch.items.slice(batch.head).map(({ tag }) => ({ tag, kind: 'mark' as const }))
    batch.head = batch.items.length
    return marks
  }

  /** A new attempt of the batch, held while the batch before it is in flight. */
  #open(batch: Batch<T>): Attempt {
    batch.handed = 0
    const held = this.#flying !== undefined && this.#flying !== batch
    return new Attempt(this.#endpoint, this.#o.token, this.#agent, this.#o.compressor, held)
  }

  /** Give the batch's attempt the body written since the last piece. */
  async #hand(batch: Batch<T>): Promise<void> {
    const attempt = batch.attempt
    if (attempt === undefined) return
    const piece = batch.body.subarray(batch.handed, batch.used)
    batch.handed = batch.used
    await attempt.write(piece)
  }

  #backoff(failures: number): number {
    const ceiling = Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (failures - 1))
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
  }

  /**
   * How many of the batch's uncovered lines the answer covers, and whether to retry the rest.
   * Throws SendError for answers that retrying cannot fix.
   */
  #answered(
    batch: Batch<T>,
    answer: Answer,
  ): {
    covered: number
    summary: Summary | undefined
    retry?: { reason: string; afterMs?: number }
  } {
    if (answer.kind === 'failed')
      return { covered: 0, summary: undefined, retry: { reason: answer.reason } }
    const { status, body } = answer
    const problem = (body ?? {}) as { code?: string; detail?: string; committed?: Summary }
    const described = `${status}${problem.code ? ` ${problem.code}` : ''}${problem.detail ? `: ${problem.detail}` : ''}`
    if (status === 200 || status === 207 || status === 422) {
      const summary = body as Summary
      return { covered: batch.uncovered, summary }
    }
    const committed = isSummary(problem.committed) ? problem.committed : undefined
    const covered = committed === undefined ? 0 : coveredPrefix(committed, batch.uncovered)
    if (status === 408 || status === 429 || status === 400 || (status >= 500 && status !== 501)) {
      const after = retryAfterMs(answer.headers['retry-after'])
      return {
        covered,
        summary: committed,
        retry: {
          reason: described,
          ...(after === undefined ? {} : { afterMs: Math.min(after, this.#o.maxDelayMs * 4) }),
        },
      }
    }
    if (status === 401 || status === 403) {
      throw new SendError(
        `the server refused the token (${described}): check --token or TRIBUTARY_TOKEN, and that it was signed for this server (npm run -s token -- --sub <owner>)`,
        status,
      )
    }
    if (status === 413) {
      throw new SendError(
        `the server refused a request as too large (${described}): lower --batch-mb below its INGEST_MAX_BODY_BYTES`,
        status,
      )
    }
    if (status === 415)
      throw new SendError(`the server refused the body's type or encoding (${described})`, status)
    if (status === 404 || status === 405) {
      throw new SendError(
        `${this.#endpoint.href} is not a tributary ingest endpoint (${described}): check --url`,
        status,
      )
    }
    throw new SendError(`the server answered ${described}`, status)
  }

  /** Report the first `count` uncovered lines (and the marks among and after them) as covered. */
  async #cover(batch: Batch<T>, count: number, summary: Summary | undefined): Promise<boolean> {
    if (count === 0) return false
    const errors = new Map((summary?.errors ?? []).map((error) => [error.line, error]))
    const covered: Covered<T>[] = []
    let line = 0
    while (batch.head < batch.items.length) {
      const item = batch.items[batch.head] as { tag: T; line: boolean }
      if (item.line) {
        if (line === count) break
        line++
        const error = errors.get(line)
        covered.push(
          error === undefined
            ? { tag: item.tag, kind: 'accepted' }
            : {
                tag: item.tag,
                kind: 'rejected',
                error: {
                  code: error.code,
                  message: error.message,
                  ...(error.field === undefined ? {} : { field: error.field }),
                },
              },
        )
      } else {
        covered.push({ tag: item.tag, kind: 'mark' })
      }
      batch.head++
    }
    batch.first += count
    await this.#o.onCovered(covered)
    return true
  }
}

const isSummary = (value: unknown): value is Summary =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Summary).accepted === 'number' &&
  Array.isArray((value as Summary).errors)

/**
 * The longest prefix of the request's `lines` lines that a cut-short request's `committed`
 * covers: chunks commit in line order, so the first `accepted` valid lines are stored, and the
 * listed errors are rejected for good. Unlisted rejections make the prefix shorter, never longer.
 */
export function coveredPrefix(committed: Summary, lines: number): number {
  const rejected = new Set(committed.errors.map((error) => error.line))
  let valid = 0
  let line = 0
  while (line < lines) {
    if (rejected.has(line + 1)) {
      line++
    } else if (valid < committed.accepted) {
      valid++
      line++
    } else {
      break
    }
  }
  return line
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined || text.trim() === '') return undefined
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}
