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
  /** A request failed and will be retried after `delayMs`. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void
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
    this.gzip = createGzip({ level })
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

  /** Lines not yet handed to gzip: written in pieces of ~256 KB, not one zlib job per line. */
  #buffered: string[] = []
  #bufferedBytes = 0

  /** Write one line; waits while the socket is behind. */
  async write(text: string): Promise<void> {
    if (this.over) return
    this.#buffered.push(text, '\n')
    this.#bufferedBytes += text.length + 1
    if (this.#bufferedBytes >= PIECE_BYTES) await this.#drain()
  }

  async #drain(): Promise<void> {
    const piece = this.#buffered.join('')
    this.#buffered = []
    this.#bufferedBytes = 0
    if (!this.gzip.write(piece)) {
      await Promise.race([new Promise((resolve) => this.gzip.once('drain', resolve)), this.answer])
    }
  }

  async end(): Promise<Answer> {
    if (!this.over && this.#bufferedBytes > 0) await this.#drain()
    if (this.over) this.gzip.destroy()
    else this.gzip.end()
    return this.answer
  }
}

const PIECE_BYTES = 256 * 1024

export class Sender<T> {
  readonly #o: Required<Omit<SenderOptions<T>, 'onRetry'>> & Pick<SenderOptions<T>, 'onRetry'>
  readonly #endpoint: URL
  readonly #agent: HttpAgent
  /** The items of the request being written (marks included), in order. */
  #pending: Item<T>[] = []
  #lines = 0
  #bytes = 0
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
  }

  /** Add a line (streamed into the current request) or a mark. */
  async add(item: Item<T>): Promise<void> {
    if ('mark' in item) {
      if (this.#pending.length === 0) await this.#o.onCovered([{ tag: item.mark, kind: 'mark' }])
      else this.#pending.push(item)
      return
    }
    this.#pending.push(item)
    this.#lines++
    this.#bytes += Buffer.byteLength(item.text) + 1
    this.#attempt ??= this.#open()
    await this.#attempt.write(item.text)
    if (this.#lines >= this.#o.maxLines || this.#bytes >= this.#o.maxBytes || this.#attempt.over) {
      await this.flush()
    }
  }

  /** End the request being written and see everything in it covered, retrying as needed. */
  async flush(): Promise<void> {
    let attempt = this.#attempt
    this.#attempt = undefined
    let failures = 0
    while (this.#pending.some((item) => 'text' in item)) {
      if (attempt === undefined) {
        attempt = this.#open()
        for (const item of this.#pending) if ('text' in item) await attempt.write(item.text)
      }
      const answer = await attempt.end()
      attempt = undefined
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
      this.#o.onRetry?.({ attempt: failures, delayMs, reason: outcome.retry.reason })
      await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
    if (this.#pending.length > 0) {
      const marks = this.#pending.map((item) => ({
        tag: 'mark' in item ? item.mark : item.tag,
        kind: 'mark' as const,
      }))
      this.#pending = []
      await this.#o.onCovered(marks)
    }
    this.#lines = 0
    this.#bytes = 0
  }

  close(): void {
    this.#agent.destroy()
  }

  #open(): Attempt {
    return new Attempt(this.#endpoint, this.#o.token, this.#agent, this.#o.gzipLevel)
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
      return { covered: this.#lines, summary }
    }
    const committed = isSummary(problem.committed) ? problem.committed : undefined
    const covered = committed === undefined ? 0 : coveredPrefix(committed, this.#lines)
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

  /** Report the first `count` lines of the request (and the marks among them) as covered. */
  async #cover(count: number, summary: Summary | undefined): Promise<boolean> {
    if (count === 0) return false
    const errors = new Map((summary?.errors ?? []).map((error) => [error.line, error]))
    const covered: Covered<T>[] = []
    let line = 0
    let taken = 0
    for (const item of this.#pending) {
      if ('mark' in item) {
        covered.push({ tag: item.mark, kind: 'mark' })
      } else {
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
      }
      taken++
    }
    // Marks right after the last covered line are covered too.
    while (taken < this.#pending.length && 'mark' in (this.#pending[taken] as Item<T>)) {
      const item = this.#pending[taken] as { mark: T }
      covered.push({ tag: item.mark, kind: 'mark' })
      taken++
    }
    this.#pending = this.#pending.slice(taken)
    this.#lines -= count
    this.#bytes = 0
    for (const item of this.#pending)
      if ('text' in item) this.#bytes += Buffer.byteLength(item.text) + 1
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
