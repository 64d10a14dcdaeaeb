/**
 * Operating tributary inside workerd, through the real Worker entry: request ids, a structured
 * console object per request (what Workers Logs indexes), Analytics Engine data points when a
 * dataset is bound, and the Rate Limiting binding (miniflare's simulation of it) answering a
 * burst over the limit with a 429 while another owner is unaffected.
 */
import { SELF } from 'cloudflare:test'
import { afterEach, describe, expect, it, vi } from 'vitest'
import worker from '../../src/index'
import { bindings, ownerFactory, tokenFor } from './helpers'
import { WORKERS_TEST_SECRET } from './secret'

const freshOwner = ownerFactory('workerd-ops')

let turns = 0
const body = (count: number, extra: string[] = []) =>
  `${[
    ...Array.from({ length: count }, () =>
      JSON.stringify({
        tool: 'claude-code',
        host: 'ci',
        session_id: 'ops-w',
        turn_id: `ops-${++turns}`,
        seq: turns,
        role: 'user',
        timestamp: '2026-11-22T14:22:26Z',
        content: 'LINE-CONTENT-w',
      }),
    ),
    ...extra,
  ].join('\n')}\n`

/** Points written to the METRICS dataset: Analytics Engine itself is Cloudflare's, not ours. */
const points: Array<{ blobs?: string[]; doubles?: number[]; indexes?: string[] }> = []

/** The entry with a limiter of 3 per minute and a dataset: one env object, so one app. */
const limitedEnv = {
  ...bindings,
  RATE_LIMITER: bindings.RATE_LIMITER_TEST,
  RATE_LIMIT_REQUESTS: '3',
  RATE_LIMIT_PERIOD_S: '60',
  METRICS: { writeDataPoint: (point: (typeof points)[number]) => points.push(point) },
}

const ingest = async (owner: string, payload: string, headers: Record<string, string> = {}) =>
  worker.fetch(
    new Request('http://tributary.test/v1/ingest', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await tokenFor(owner)}`,
        'content-type': 'application/x-ndjson',
        ...headers,
      },
      body: payload,
    }),
    limitedEnv,
  )

afterEach(() => {
  vi.restoreAllMocks()
  points.length = 0
})

describe('request ids inside workerd', () => {
  it('echoes a sane id into the header and the summary, and replaces an unsafe one', async () => {
    const owner = freshOwner()
    const res = await SELF.fetch('http://tributary.test/v1/ingest', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await tokenFor(owner)}`,
        'content-type': 'application/x-ndjson',
        'x-request-id': 'w.collector:1',
      },
      body: body(1),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toBe('w.collector:1')
    expect(await res.json()).toMatchObject({ accepted: 1, request_id: 'w.collector:1' })

    const unsafe = await SELF.fetch('http://tributary.test/nowhere', {
      headers: { 'x-request-id': 'not safe/at all' },
    })
    const id = unsafe.headers.get('x-request-id')
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(await unsafe.json()).toMatchObject({ code: 'NOT_FOUND', request_id: id })
  })
})

describe('Workers Logs and Analytics Engine', () => {
  it('logs one structured object per request, without the token or line content', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    const owner = freshOwner()
    const token = await tokenFor(owner)
    const payload = body(3, ['{broken'])
    const bytes = new TextEncoder().encode(payload).length
    const res = await ingest(owner, payload, { 'x-request-id': 'w-log-1' })
    expect(res.status).toBe(207)
    const objects = log.mock.calls.map(([first]) => first as Record<string, unknown>)
    const line = objects.find((o) => o.request_id === 'w-log-1')
    expect(line).toMatchObject({
      msg: 'request',
      method: 'POST',
      route: '/v1/ingest',
      status: 207,
      owner,
      lines: 4,
      accepted: 3,
      rejected: 1,
      bytes,
      chunks: 2, // INGEST_CHUNK_LINES is 2 for the workerd suite
      rejected_by_code: { INVALID_JSON: 1 },
    })
    expect(typeof line?.duration_ms).toBe('number')
    const everything = JSON.stringify(log.mock.calls)
    for (const secret of [token, WORKERS_TEST_SECRET, 'LINE-CONTENT-w']) {
      expect(everything).not.toContain(secret)
    }

    const point = points.find((p) => p.blobs?.[0] === 'request')
    expect(point?.indexes).toEqual(['/v1/ingest'])
    expect(point?.blobs?.slice(1, 4)).toEqual(['/v1/ingest', '207', ''])
    expect(JSON.parse(point?.blobs?.[4] ?? '{}')).toEqual({ INVALID_JSON: 1 })
    expect(point?.doubles?.slice(0, 6)).toEqual([1, 4, 3, 1, bytes, 2])
  })
})

describe('the Rate Limiting binding', () => {
  it('answers a burst over the limit 429 with the headers, and another owner is unaffected', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {})
    const noisy = freshOwner()
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 5; i++) {
      last = await ingest(noisy, body(1))
      statuses.push(last.status)
      if (last.status === 200) {
        expect(last.headers.get('ratelimit-policy')).toBe('"owner";q=3;w=60')
        // The binding does not say what remains: no RateLimit field on a success.
        expect(last.headers.get('ratelimit')).toBeNull()
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    expect(last?.headers.get('retry-after')).toBe('60')
    expect(last?.headers.get('ratelimit-policy')).toBe('"owner";q=3;w=60')
    expect(last?.headers.get('ratelimit')).toBe('"owner";r=0')
    expect(await last?.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 })

    const quiet = await ingest(freshOwner(), body(1))
    expect(quiet.status).toBe(200)
  })

  it('fails closed at start when RATE_LIMIT_REQUESTS is set without the binding', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const res = await worker.fetch(new Request('http://tributary.test/healthz'), {
      ...bindings,
      RATE_LIMITER: undefined,
      RATE_LIMIT_REQUESTS: '3',
    })
    expect(res.status).toBe(500)
    const problem = (await res.json()) as Record<string, unknown>
    expect(problem).toMatchObject({ code: 'CONFIG_INVALID', request_id: expect.any(String) })
    expect(String(problem.detail)).toContain('RATE_LIMITER')
  })
})
