/**
 * Operating tributary, black-box against `npm run serve`'s entry in a child process: request
 * ids echoed and generated, one JSON log line per request on stdout with the documented fields,
 * /metrics parsed by a Prometheus text parser with counters equal to what was sent, and a burst
 * over the per-owner limit answered 429 while another owner is unaffected.
 */
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pinoLog } from '../../src/ops/pino'
import { type ChildServer, openIngest, postIngest, spawnServer } from '../helpers/node'
import { parsePrometheus, sampleValue } from '../helpers/prometheus'
import { ndjson, wireTurn } from '../helpers/turns'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'
const LIMIT = 4

let server: ChildServer
beforeAll(async () => {
  server = await spawnServer({
    METRICS_TOKEN,
    RATE_LIMIT_REQUESTS: String(LIMIT),
    RATE_LIMIT_PERIOD_S: '60',
    INGEST_CHUNK_LINES: '3',
  })
})
afterAll(() => server?.stop())

let owners = 0
const freshOwner = () => `ops-${process.pid}-${++owners}`

type LogLine = Record<string, unknown>

/** The JSON lines the server printed so far (every line that is not JSON is a startup line). */
const logLines = (): LogLine[] =>
  server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)

/** The request line of `id`; waits briefly, as stdout may trail the answer. */
async function requestLine(id: string): Promise<LogLine> {
  for (let i = 0; i < 50; i++) {
    const found = logLines().find((line) => line.request_id === id && line.msg === 'request')
    if (found !== undefined) return found
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`no log line for ${id}:\n${server.output()}`)
}

const scrape = async () => {
  const res = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  const text = await res.text()
  return Object.assign(parsePrometheus(text), { text })
}

/**
 * A labelled histogram's `_count` from the text itself: the parser folds the label sets of a
 * histogram into one sample.
 */
const histogramCount = (text: string, name: string, labels: string) =>
  Number(new RegExp(`^${name}_count\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)

describe('request ids', () => {
  it('echoes a sane client id and carries it in the summary and in problem bodies', async () => {
    const id = 'collector-7:run.42_a-b'
    const res = await postIngest(server.url, freshOwner(), ndjson([wireTurn()]), {
      'x-request-id': id,
    })
    expect(res.status).toBe(200)
    expect(res.headers['x-request-id']).toBe(id)
    expect(res.body.request_id).toBe(id)

    const problem = await fetch(`${server.url}/nowhere`, { headers: { 'x-request-id': id } })
    expect(problem.status).toBe(404)
    expect(problem.headers.get('x-request-id')).toBe(id)
    expect(await problem.json()).toMatchObject({ code: 'NOT_FOUND', request_id: id })
  })

  it('replaces a missing, too long or unsafe id with a new UUID', async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    const sent = [undefined, 'a'.repeat(129), 'has space', 'semi;colon', 'slash/x', 'eq=sign', '']
    const seen = new Set<string>()
    for (const id of sent) {
      const res = await fetch(`${server.url}/healthz`, {
        headers: id === undefined ? {} : { 'x-request-id': id },
      })
      const got = res.headers.get('x-request-id') ?? ''
      expect(got).toMatch(uuid)
      seen.add(got)
    }
    expect(seen.size).toBe(sent.length)
    const longest = 'b'.repeat(128)
    const res = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': longest } })
    expect(res.headers.get('x-request-id')).toBe(longest)
  })
})

describe('request log', () => {
  it('writes one JSON line per request with the ingest counts', async () => {
    const owner = freshOwner()
    const id = `log-${owner}`
    const body = ndjson([wireTurn(), '{not json', wireTurn(), wireTurn(), wireTurn(), ''])
    const res = await postIngest(server.url, owner, body, { 'x-request-id': id })
    expect(res.status).toBe(207)
    const line = await requestLine(id)
    expect(line).toMatchObject({
      request_id: id,
      method: 'POST',
      route: '/v1/ingest',
      status: 207,
      owner,
      lines: 6,
      accepted: 4,
      rejected: 1,
      bytes: Buffer.byteLength(body),
      chunks: 2,
      rejected_by_code: { INVALID_JSON: 1 },
    })
    expect(Date.parse(String(line.time))).toBeGreaterThan(Date.now() - 60_000)
    expect(typeof line.duration_ms).toBe('number')
    expect(line).not.toHaveProperty('error_code')
    expect(logLines().filter((l) => l.request_id === id)).toHaveLength(1)
  })

  it('names the problem code of a failed request, and its owner once authenticated', async () => {
    const owner = freshOwner()
    const id = `problem-${owner}`
    const res = await postIngest(server.url, owner, 'x', {
      'content-type': 'text/plain',
      'x-request-id': id,
    })
    expect(res.status).toBe(415)
    expect(res.body.request_id).toBe(id)
    expect(await requestLine(id)).toMatchObject({
      status: 415,
      owner,
      route: '/v1/ingest',
      error_code: 'UNSUPPORTED_MEDIA_TYPE',
    })
    const anonymous = await fetch(`${server.url}/v1/ingest`, {
      method: 'POST',
      headers: { 'x-request-id': `anon-${owner}` },
    })
    expect(anonymous.status).toBe(401)
    const line = await requestLine(`anon-${owner}`)
    expect(line).toMatchObject({ status: 401, error_code: 'UNAUTHORIZED' })
    expect(line).not.toHaveProperty('owner')
  })
})

describe('GET /metrics', () => {
  it('counts exactly what was sent', async () => {
    const before = await scrape()
    const owner = freshOwner()
    const bodies = [
      ndjson([wireTurn(), wireTurn(), wireTurn(), wireTurn()]),
      ndjson([wireTurn(), '[1]', '{bad', wireTurn({ seq: -1 })]),
    ]
    for (const body of bodies) await postIngest(server.url, owner, body)
    const after = await scrape()
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(after, name, labels) - sampleValue(before, name, labels)

    expect(delta('tributary_http_requests_total', { route: '/v1/ingest', status: '200' })).toBe(1)
    expect(delta('tributary_http_requests_total', { route: '/v1/ingest', status: '207' })).toBe(1)
    expect(delta('tributary_ingest_lines_accepted_total')).toBe(5)
    expect(delta('tributary_ingest_lines_total')).toBe(8)
    expect(delta('tributary_ingest_lines_rejected_total', { code: 'INVALID_JSON' })).toBe(1)
    expect(delta('tributary_ingest_lines_rejected_total', { code: 'NOT_AN_OBJECT' })).toBe(1)
    expect(delta('tributary_ingest_lines_rejected_total', { code: 'INVALID_FIELD' })).toBe(1)
    expect(delta('tributary_ingest_bytes_total')).toBe(
      bodies.reduce((sum, body) => sum + Buffer.byteLength(body), 0),
    )
    // 4 lines at 3 per chunk: 2 commits; then 1 accepted line: 1 commit.
    expect(delta('tributary_chunk_commit_duration_seconds')).toBe(3)
    const ingestRoute = 'route="/v1/ingest"'
    const durations = (text: string) =>
      histogramCount(text, 'tributary_http_request_duration_seconds', ingestRoute)
    expect(durations(after.text) - durations(before.text)).toBe(2)
    expect(after.find((f) => f.name === 'tributary_http_request_duration_seconds')?.type).toBe(
      'HISTOGRAM',
    )
    for (const name of ['tributary_database_errors_total', 'tributary_writer_queue_depth']) {
      expect(after.some((family) => family.name === name)).toBe(true)
    }
    expect(sampleValue(after, 'tributary_writer_queue_depth')).toBe(0)
  })
})

describe('per-owner rate limit', () => {
  it('answers a burst over the limit 429 with the headers, and another owner is unaffected', async () => {
    const noisy = freshOwner()
    const statuses: number[] = []
    let last: Awaited<ReturnType<typeof postIngest>> | undefined
    for (let i = 0; i < LIMIT + 2; i++) {
      last = await postIngest(server.url, noisy, ndjson([wireTurn()]))
      statuses.push(last.status)
      if (i === 0) {
        expect(last.headers['ratelimit-policy']).toBe(`"owner";q=${LIMIT};w=60`)
        expect(last.headers.ratelimit).toMatch(new RegExp(`^"owner";r=${LIMIT - 1};t=\\d+$`))
      }
    }
    expect(statuses).toEqual([...Array(LIMIT).fill(200), 429, 429])
    expect(last?.headers['retry-after']).toMatch(/^\d+$/)
    expect(Number(last?.headers['retry-after'])).toBeGreaterThan(0)
    expect(Number(last?.headers['retry-after'])).toBeLessThanOrEqual(60)
    expect(last?.headers['ratelimit-policy']).toBe(`"owner";q=${LIMIT};w=60`)
    expect(last?.headers.ratelimit).toMatch(/^"owner";r=0;t=\d+$/)
    expect(last?.body).toMatchObject({ code: 'RATE_LIMITED', status: 429 })
    expect(last?.body).not.toHaveProperty('committed')

    const quiet = await postIngest(server.url, freshOwner(), ndjson([wireTurn()]))
    expect(quiet.status).toBe(200)
    expect(quiet.headers.ratelimit).toBe(`"owner";r=${LIMIT - 1};t=60`)
  })

  it('refuses before reading a byte of the body', async () => {
    const owner = freshOwner()
    for (let i = 0; i < LIMIT; i++) await postIngest(server.url, owner, '')
    // Headers only, the body never sent: only an answer given before reading it can arrive.
    const { req, answer } = await openIngest(server.url, owner)
    try {
      const res = await answer
      expect(res.status).toBe(429)
      expect(res.body.code).toBe('RATE_LIMITED')
    } finally {
      req.destroy()
    }
  })
})

describe('LOG_LEVEL and LOG_FORMAT', () => {
  /** A real stream (pino-pretty pipes into one) that keeps what it is given. */
  const collect = () => {
    let text = ''
    const stream = new Writable({
      write(piece: Buffer | string, _encoding, done) {
        text += piece.toString()
        done()
      },
    })
    return Object.assign(stream, { text: () => text })
  }
  const line = {
    time: new Date().toISOString(),
    request_id: 'fmt-1',
    method: 'GET',
    route: '/healthz',
    status: 200,
    duration_ms: 1,
  }
  const failure = {
    time: line.time,
    request_id: 'fmt-1',
    route: '/readyz',
    db_class: 'unavailable' as const,
  }

  it('renders lines for a person with pretty, and as one JSON object a line by default', () => {
    const pretty = collect()
    const prettyLog = pinoLog({ level: 'info', format: 'pretty', destination: pretty })
    prettyLog.request(line)
    expect(pretty.text()).toMatch(/INFO.*request/)
    expect(pretty.text()).toContain('request_id: "fmt-1"')
    expect(pretty.text().trimStart().startsWith('{')).toBe(false)

    const json = collect()
    pinoLog({ level: 'info', format: 'json', destination: json }).request(line)
    expect(JSON.parse(json.text())).toEqual({ level: 'info', msg: 'request', ...line })
  })

  it('drops request lines below LOG_LEVEL and keeps database failures at warn', () => {
    const out = collect()
    const log = pinoLog({ level: 'warn', format: 'json', destination: out })
    log.request(line)
    log.databaseFailure(failure)
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toEqual([{ level: 'warn', msg: 'database failure', ...failure }])
  })
})
