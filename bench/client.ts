/**
 * The benchmark's HTTP client: node:http over keep-alive sockets, bodies written from buffers
 * prepared before the clock starts (so the client costs the server's two cores as little as it
 * can), streamed bodies written with backpressure.
 */
import { Agent, request } from 'node:http'
import type { Summary } from '../src/types'

export type Answer = {
  status: number
  summary: Summary
  ms: number
  /** The problem's `code` and `detail` when the answer was not a summary. */
  problem?: string
}

export type PostOptions = {
  url: string
  token: string
  gzip?: boolean
  agent?: Agent
  /** Set Content-Length (a buffered client); otherwise the body is sent chunked. */
  length?: number
}

/** POST /v1/ingest with a body written piece by piece; resolves with the parsed answer. */
export function post(
  body: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: PostOptions,
): Promise<Answer> {
  const started = performance.now()
  return new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string | number> = {
      authorization: `Bearer ${options.token}`,
      'content-type': 'application/x-ndjson',
    }
    if (options.gzip === true) headers['content-encoding'] = 'gzip'
    if (options.length !== undefined) headers['content-length'] = options.length
    const req = request(`${options.url}/v1/ingest`, {
      method: 'POST',
      headers,
      ...(options.agent === undefined ? {} : { agent: options.agent }),
    })
    let answered = false
    req.on('response', (res) => {
      answered = true
      const pieces: Buffer[] = []
      res.on('data', (piece: Buffer) => pieces.push(piece))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(pieces).toString('utf8')
        try {
          const parsed = JSON.parse(text) as Summary & {
            committed?: Summary
            code?: string
            detail?: string
          }
          resolve({
            status: res.statusCode ?? 0,
            summary: parsed.committed ?? parsed,
            ms: performance.now() - started,
            ...(parsed.code === undefined ? {} : { problem: `${parsed.code}: ${parsed.detail}` }),
          })
        } catch {
          reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`))
        }
      })
    })
    req.on('error', (error) => {
      if (!answered) reject(error)
    })
    void (async () => {
      for await (const piece of body) {
        if (answered) return // the server answered early (a problem): stop sending
        if (!req.write(piece)) {
          await new Promise<void>((done) => {
            const finish = () => {
              req.off('drain', finish)
              req.off('close', finish)
              done()
            }
            req.once('drain', finish)
            req.once('close', finish)
          })
        }
      }
      req.end()
    })().catch(reject)
  })
}

/** `buffer` as pieces of `size` bytes (views, not copies). */
export function* pieces(buffer: Uint8Array, size = 64 * 1024): Generator<Uint8Array> {
  for (let at = 0; at < buffer.length; at += size) yield buffer.subarray(at, at + size)
}

/**
 * A body of about `total` bytes generated on the fly: the corpus, over and over, never held in
 * memory as a whole. The last copy is cut at a line boundary (`lineStarts`), so every line is
 * whole.
 */
export function* repeated(
  corpus: Uint8Array,
  lineStarts: readonly number[],
  total: number,
  size = 64 * 1024,
): Generator<Uint8Array> {
  let left = total
  while (left > 0) {
    let end = corpus.length
    if (left < corpus.length) {
      end = 0
      for (const start of lineStarts) {
        if (start > left) break
        end = start
      }
      if (end === 0) return
    }
    yield* pieces(corpus.subarray(0, end), size)
    left -= end
  }
}

/** Run `count` jobs with `concurrency` workers pulling the next index; wall time in ms. */
export async function pool(
  count: number,
  concurrency: number,
  job: (index: number) => Promise<void>,
): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await job(i)
    }),
  )
  return performance.now() - started
}

export const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0

export const keepAlive = () => new Agent({ keepAlive: true, maxSockets: 8 })

/**
 * POST `bodies` from `clients` concurrent clients over keep-alive sockets. A body answered 503
 * is sent again at once, up to three times, as the README tells clients to (re-sending is safe:
 * upserts are idempotent); the last answer of each body counts.
 */
export async function sendAll(
  url: string,
  jwt: string,
  bodies: Buffer[],
  options: { gzip?: boolean; clients?: number } = {},
): Promise<{ ms: number; answers: Answer[]; resent: number }> {
  const answers: Answer[] = []
  let resent = 0
  const agent = keepAlive()
  try {
    const ms = await pool(bodies.length, options.clients ?? 4, async (i) => {
      const body = bodies[i] as Buffer
      for (let attempt = 0; ; attempt++) {
        const answer = await post([body], {
          url,
          token: jwt,
          gzip: options.gzip === true,
          agent,
          length: body.length,
        })
        if (answer.status === 503 && attempt < 3) {
          resent++
          continue
        }
        answers.push(answer)
        return
      }
    })
    return { ms, answers, resent }
  } finally {
    agent.destroy()
  }
}
