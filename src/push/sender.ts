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
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { createGzip, type Gzip } from 'node:zlib'

/** A rejected line as the server reported it. */
export type LineRejection = { code: string; message: string; field?: string }

export type Item<T> = { text: string; tag: T } | { mark: T }

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
  gzipLevel?: number
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

/** One POST in progress: a gzip stream piped into the request, and its answer to come. */
class Attempt {
  readonly gzip: Gzip
  readonly answer: Promise<Answer>
  /** Set as soon as the server answered or the connection failed: write no more. */
  over = false

  constructor(url: URL, token: string, agent: HttpAgent, level: number) {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, {
      method: 'POST',
      agent,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/x-ndjson',
        'content-encoding': 'gzip',
      },
    })
    // Large output chunks: one callback per 128 KB of compressed body, not per 16 KB.
    this.gzip = createGzip({ level, chunkSize: 128 * 1024 })
    this.answer = new Promise<Answer>((resolve) => {
      const fail = (error: Error) => {
        this.over = true
        resolve({ kind: 'failed', reason: error.message || String(error) })
      }
      req.on('error', fail)
      this.gzip.on('error', fail)
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
    })
    this.gzip.pipe(req)
  }

  /** Hand a piece of the body to gzip; waits while the socket is behind. */
  async write(piece: Buffer): Promise<void> {
    if (this.over || piece.length === 0) return
    if (!this.gzip.write(piece)) {
      await Promise.race([new Promise((resolve) => this.gzip.once('drain', resolve)), this.answer])
    }
  }

  end(): Promise<Answer> {
    if (this.over) this.gzip.destroy()
    else this.gzip.end()
    return this.answer
  }
}

/** Body bytes handed to gzip at a time: one zlib job per piece, not per line. */
const PIECE_BYTES = 256 * 1024

export class Sender<T> {
  readonly #o: Required<Omit<SenderOptions<T>, 'onRetry'>> & Pick<SenderOptions<T>, 'onRetry'>
  readonly #endpoint: URL
  readonly #agent: HttpAgent
  /**
   * The request's body, its lines written one after another as UTF-8. A Buffer outside the JS
   * heap: the lines kept for a retry are not copied by every garbage collection.
   */
  #body: Buffer
  /** Bytes used in #body; bytes of it already handed to the attempt being written. */
  #used = 0
  #handed = 0
  /** Where each line of the body ends; lines before #first are covered. */
  #ends: number[] = []
  #first = 0
  /** The request's items in order: lines (`line: true`) and marks, from #head on. */
  #items: Array<{ tag: T; line: boolean }> = []
  #head = 0
  #attempt: Attempt | undefined

  constructor(options: SenderOptions<T>) {
    this.#o = {
      maxBytes: 8 * 1024 * 1024,
      maxLines: 20_000,
      maxAttempts: 8,
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      gzipLevel: 1,
      ...options,
    }
    this.#endpoint = new URL('/v1/ingest', options.url)
    const Agent = this.#endpoint.protocol === 'https:' ? HttpsAgent : HttpAgent
    this.#agent = new Agent({ keepAlive: true, maxSockets: 1 })
    this.#body = Buffer.allocUnsafe(this.#o.maxBytes + 64 * 1024)
  }

  /** Add a line (streamed into the current request) or a mark. */
  async add(item: Item<T>): Promise<void> {
    if ('mark' in item) {
      if (this.#head === this.#items.length) {
        await this.#o.onCovered([{ tag: item.mark, kind: 'mark' }])
      } else {
        this.#items.push({ tag: item.mark, line: false })
      }
      return
    }
    // A UTF-8 byte per UTF-16 unit is the usual case; 3 is the most one can take.
    const worst = item.text.length * 3 + 1
    if (this.#used + worst > this.#body.length) {
      if (this.#ends.length > this.#first) await this.flush()
      if (worst > this.#body.length) this.#body = Buffer.allocUnsafe(worst)
    }
    const written = this.#body.write(item.text, this.#used, 'utf8')
    this.#body[this.#used + written] = 0x0a
    this.#used += written + 1
    this.#ends.push(this.#used)
    this.#items.push({ tag: item.tag, line: true })
    this.#attempt ??= this.#open()
    if (this.#used - this.#handed >= PIECE_BYTES) await this.#hand()
    const lines = this.#ends.length - this.#first
    if (lines >= this.#o.maxLines || this.#used >= this.#o.maxBytes || this.#attempt?.over) {
      await this.flush()
    }
  }

  /** End the request being written and see everything in it covered, retrying as needed. */
  async flush(): Promise<void> {
    let failures = 0
    while (this.#ends.length > this.#first) {
      if (this.#attempt === undefined) {
        this.#attempt = this.#open()
        this.#handed = this.#first === 0 ? 0 : (this.#ends[this.#first - 1] as number)
      }
      await this.#hand()
      const answer = await this.#attempt.end()
      this.#attempt = undefined
      const outcome = this.#settle(answer)
      const progressed = await this.#cover(outcome.covered, outcome.summary)
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
        lines: this.#ends.length - this.#first,
      })
      await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
    const marks = this.#items.slice(this.#head).map(({ tag }) => ({ tag, kind: 'mark' as const }))
    this.#items = []
    this.#head = 0
    this.#ends = []
    this.#first = 0
    this.#used = 0
    this.#handed = 0
    // A new buffer: gzip may still hold pieces of the old one.
    this.#body = Buffer.allocUnsafe(this.#o.maxBytes + 64 * 1024)
    if (marks.length > 0) await this.#o.onCovered(marks)
  }

  close(): void {
    this.#agent.destroy()
  }

  #open(): Attempt {
    this.#handed = 0
    return new Attempt(this.#endpoint, this.#o.token, this.#agent, this.#o.gzipLevel)
  }

  /** Give the attempt the body written since the last piece. */
  async #hand(): Promise<void> {
    const attempt = this.#attempt
    if (attempt === undefined) return
    const piece = this.#body.subarray(this.#handed, this.#used)
    this.#handed = this.#used
    await attempt.write(piece)
  }

  #backoff(failures: number): number {
    const ceiling = Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (failures - 1))
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
  }

  /**
   * How many of the request's lines the answer covers, and whether to retry the rest. Throws
   * SendError for answers that retrying cannot fix.
   */
  #settle(answer: Answer): {
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
      return { covered: this.#ends.length - this.#first, summary }
    }
    const committed = isSummary(problem.committed) ? problem.committed : undefined
    const covered =
      committed === undefined ? 0 : coveredPrefix(committed, this.#ends.length - this.#first)
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
  async #cover(count: number, summary: Summary | undefined): Promise<boolean> {
    if (count === 0) return false
    const errors = new Map((summary?.errors ?? []).map((error) => [error.line, error]))
    const covered: Covered<T>[] = []
    let line = 0
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head] as { tag: T; line: boolean }
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
      this.#head++
    }
    this.#first += count
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
