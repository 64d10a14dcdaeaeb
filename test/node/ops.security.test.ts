/**
 * What operating tributary must never give away: no token, secret or line content in any log
 * line (LOG_LEVEL=trace, every kind of request), and /metrics only for METRICS_TOKEN, never for
 * an ingest token; without METRICS_TOKEN there is no /metrics at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenFor } from '../helpers/app'
import { SECRET, signToken } from '../helpers/keys'
import { type ChildServer, postIngest, type Stack, spawnServer, startStack } from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

const METRICS_TOKEN = 'metrics-token-security-0123456789'

let server: ChildServer
beforeAll(async () => {
  server = await spawnServer({ METRICS_TOKEN, LOG_LEVEL: 'trace', RATE_LIMIT_REQUESTS: '3' })
})
afterAll(() => server?.stop())

describe('log lines', () => {
  it('never hold a token, a secret or the content of a line', async () => {
    const owner = 'owner-security'
    const token = await tokenFor(owner)
    const wrongKey = await signToken('another-secret-of-at-least-32-bytes!!', {
      claims: { sub: owner },
    })
    const marker = 'SECRET-CONTENT-7f3a'
    const body = ndjson([
      wireTurn({ content: marker, session_id: `${marker}-session`, host: `${marker}-host` }),
      `{"content":"${marker}-invalid"`,
      wireTurn({ timestamp: `${marker}-timestamp` }),
    ])
    const sent = [
      await postIngest(server.url, owner, body),
      await postIngest(server.url, owner, body, { 'content-encoding': 'gzip' }),
      await postIngest(server.url, owner, body),
      await postIngest(server.url, owner, body), // over the limit of 3
    ]
    expect(sent.map((answer) => answer.status)).toEqual([207, 400, 207, 429])
    for (const authorization of [`Bearer ${wrongKey}`, `Bearer ${marker}`, `Basic ${marker}`]) {
      const res = await fetch(`${server.url}/v1/ingest`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-ndjson' },
        body,
      })
      expect(res.status).toBe(401)
    }
    for (const authorization of [`Bearer ${token}`, `Bearer ${METRICS_TOKEN}x`]) {
      const res = await fetch(`${server.url}/metrics`, { headers: { authorization } })
      expect(res.status).toBe(401)
    }

    await expect
      .poll(
        () =>
          server
            .output()
            .split('\n')
            .filter((l) => l.includes('"request"')).length,
      )
      .toBeGreaterThanOrEqual(9)
    const output = server.output()
    for (const secret of [SECRET, METRICS_TOKEN, token, wrongKey, marker]) {
      expect(output).not.toContain(secret)
    }
    // The token's signature alone, in case a log split it.
    expect(output).not.toContain(token.split('.')[2])
    const lines = output.split('\n').filter((line) => line.startsWith('{'))
    expect(lines.length).toBeGreaterThanOrEqual(9)
    for (const line of lines) {
      const parsed = JSON.parse(line) as Record<string, unknown>
      expect(parsed).not.toHaveProperty('headers')
      expect(parsed).not.toHaveProperty('authorization')
    }
  })
})

describe('GET /metrics', () => {
  it('needs METRICS_TOKEN as a bearer token; anything else is the 401 problem', async () => {
    const ingestToken = await tokenFor('owner-metrics')
    for (const headers of [
      {},
      { authorization: `Bearer ${ingestToken}` },
      { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${btoa(`user:${METRICS_TOKEN}`)}` },
      { authorization: METRICS_TOKEN },
    ]) {
      const res = await fetch(`${server.url}/metrics`, { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      const body = (await res.json()) as Record<string, unknown>
      expect(body).toMatchObject({ code: 'UNAUTHORIZED', request_id: expect.any(String) })
      expect(JSON.stringify(body)).not.toContain(METRICS_TOKEN)
    }
    const ok = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('tributary_http_requests_total')
  })

  describe('without METRICS_TOKEN', () => {
    let stack: Stack
    beforeAll(async () => {
      stack = await startStack()
    })
    afterAll(() => stack?.close())

    it('has no /metrics route', async () => {
      for (const headers of [{}, { authorization: `Bearer ${METRICS_TOKEN}` }]) {
        const res = await fetch(`${stack.server.url}/metrics`, { headers })
        expect(res.status).toBe(404)
        expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' })
      }
    })
  })
})
