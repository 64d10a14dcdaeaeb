/**
 * A JWKS key source against a real HTTP server: keys are cached, an unknown kid refetches at most
 * once per 30 s (rotation is picked up without a restart), and an unreachable or broken key
 * source is a 503 AUTH_UNAVAILABLE with Retry-After, never a crash and never a 401.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createVerifier } from '../../src/auth/jwt'
import type { Verifier } from '../../src/types'
import {
  authConfig,
  type JwksServer,
  type KeyPair,
  keyPair,
  rejection,
  signToken,
  startJwksServer,
  whoamiApp,
} from '../helpers/keys'

let a: KeyPair
let b: KeyPair
let c: KeyPair
const servers: JwksServer[] = []

beforeAll(async () => {
  a = await keyPair('RS256', 'key-a')
  b = await keyPair('ES256', 'key-b')
  c = await keyPair('RS256', 'key-c')
})

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function serve(...pairs: KeyPair[]) {
  const server = await startJwksServer(pairs.map((pair) => pair.jwk))
  servers.push(server)
  return server
}

const jwksVerifier = (server: JwksServer, options?: Parameters<typeof createVerifier>[1]) =>
  createVerifier(authConfig({ JWT_JWKS_URL: server.url }), options)

const bearer = async (pair: KeyPair, sub = 'owner-1') =>
  `Bearer ${await signToken(pair, { claims: { sub } })}`

/** The 503 the verifier throws and the app renders when the key source is down. */
async function expectUnavailable(verify: Verifier, authorization: string) {
  const error = await rejection(verify, authorization)
  expect(error).toMatchObject({
    code: 'AUTH_UNAVAILABLE',
    status: 503,
    message: 'The key source could not be reached; retry later.',
    headers: { 'Retry-After': '5' },
  })
  const res = await whoamiApp(verify).request('/whoami', {
    headers: { Authorization: authorization },
  })
  expect(res.status).toBe(503)
  expect(res.headers.get('retry-after')).toBe('5')
  const body = await res.json()
  expect(body).toMatchObject({ code: 'AUTH_UNAVAILABLE', status: 503 })
  expect(JSON.stringify(body)).not.toContain(authorization.slice(7, 40))
}

describe('JWKS: caching', () => {
  it('fetches nothing before the first token, then serves N verifications from one request', async () => {
    const server = await serve(a, b)
    const verify = jwksVerifier(server)
    const app = whoamiApp(verify)
    expect(server.requests()).toBe(0)

    for (let i = 0; i < 10; i++) {
      await expect(verify(await bearer(i % 2 === 0 ? a : b, `owner-${i}`))).resolves.toBe(
        `owner-${i}`,
      )
    }
    const res = await app.request('/whoami', { headers: { Authorization: await bearer(a) } })
    expect(await res.text()).toBe('owner-1')
    expect(server.requests()).toBe(1)
  })

  it('shares one request among concurrent first verifications', async () => {
    const server = await serve(a)
    const verify = jwksVerifier(server)
    const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => bearer(a, `o${i}`)))
    await expect(Promise.all(tokens.map((token) => verify(token)))).resolves.toHaveLength(8)
    expect(server.requests()).toBe(1)
  })

  it('uses the injected fetch for the key source', async () => {
    const server = await serve(a)
    const seen: string[] = []
    const verify = jwksVerifier(server, {
      fetch: (input, init) => {
        seen.push(String(input))
        return fetch(input, init)
      },
    })
    await expect(verify(await bearer(a))).resolves.toBe('owner-1')
    expect(seen).toEqual([server.url])
  })

  it('tries each key when a token without kid matches several', async () => {
    const bare = (pair: KeyPair) => {
      const { kid: _kid, ...jwk } = pair.jwk
      return jwk
    }
    const server = await startJwksServer([bare(a), bare(c)])
    servers.push(server)
    const verify = jwksVerifier(server)
    const token = await signToken(c, { kid: null })
    await expect(verify(`Bearer ${token}`)).resolves.toBe('owner-1')
    const stranger = await keyPair('RS256')
    const forged = await signToken(stranger, { kid: null })
    await expect(verify(`Bearer ${forged}`)).rejects.toMatchObject({ status: 401 })
  })
})

describe('JWKS: unknown kid and rotation (30 s cooldown)', () => {
  it('does not refetch for unknown kids within 30 s of the last fetch', async () => {
    const server = await serve(a)
    const verify = jwksVerifier(server)
    await expect(verify(await bearer(a))).resolves.toBe('owner-1')
    expect(server.requests()).toBe(1)

    server.setKeys([a.jwk, b.jwk])
    for (const pair of [b, c, b, c]) {
      await expect(verify(await bearer(pair))).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    }
    expect(server.requests()).toBe(1)
  })

  it('picks up a rotated key after the cooldown, without a restart', async () => {
    // Only Date is faked: jose's cooldown and the token clocks read it; sockets stay real.
    vi.useFakeTimers({ toFake: ['Date'] })
    const start = Date.now()
    const server = await serve(a)
    const verify = jwksVerifier(server)
    await expect(verify(await bearer(a))).resolves.toBe('owner-1')

    // The issuer rotates: key-b is added, key-a will be retired.
    server.setKeys([a.jwk, b.jwk])
    vi.setSystemTime(start + 10_000)
    await expect(verify(await bearer(b))).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    expect(server.requests()).toBe(1)

    vi.setSystemTime(start + 31_000)
    await expect(verify(await bearer(b, 'rotated'))).resolves.toBe('rotated')
    expect(server.requests()).toBe(2)

    // Another unknown kid right after that refetch: still one request per 30 s.
    vi.setSystemTime(start + 40_000)
    await expect(verify(await bearer(c))).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    expect(server.requests()).toBe(2)

    // Retired keys stop working once the cached set goes stale (jose: 10 minutes).
    server.setKeys([b.jwk])
    await expect(verify(await bearer(a))).resolves.toBe('owner-1')
    vi.setSystemTime(start + 11 * 60_000)
    await expect(verify(await bearer(a))).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    await expect(verify(await bearer(b))).resolves.toBe('owner-1')
    expect(server.requests()).toBe(3)
  })
})

describe('JWKS: key source failures are a 503, never a crash', () => {
  it('answers 503 when the endpoint returns a server error, and recovers', async () => {
    const server = await serve(a)
    server.setDown(true)
    const verify = jwksVerifier(server)
    await expectUnavailable(verify, await bearer(a))

    server.setDown(false)
    await expect(verify(await bearer(a))).resolves.toBe('owner-1')
  })

  it('answers 503 when the endpoint returns garbage', async () => {
    const server = await serve(a)
    server.setDown('garbage')
    await expectUnavailable(jwksVerifier(server), await bearer(a))
  })

  it('answers 503 when the endpoint returns JSON that is not a key set', async () => {
    const server = await startJwksServer([])
    servers.push(server)
    server.setKeys('not-a-list' as never)
    await expectUnavailable(jwksVerifier(server), await bearer(a))
  })

  it('answers 503 when nothing listens at the URL', async () => {
    const server = await startJwksServer([a.jwk])
    await server.close()
    await expectUnavailable(jwksVerifier(server), await bearer(a))
  })

  it('answers 503 when the endpoint hangs (jose times out after 5 s)', async () => {
    const server = await serve(a)
    server.setDown('hang')
    const verify = jwksVerifier(server)
    const started = performance.now()
    const error = await rejection(verify, await bearer(a))
    expect(error).toMatchObject({ code: 'AUTH_UNAVAILABLE', status: 503 })
    expect(performance.now() - started).toBeGreaterThan(4_000)
  }, 15_000)

  it('keeps verifying with cached keys while the endpoint is down', async () => {
    const server = await serve(a)
    const verify = jwksVerifier(server)
    await expect(verify(await bearer(a))).resolves.toBe('owner-1')
    server.setDown(true)
    await expect(verify(await bearer(a, 'still-here'))).resolves.toBe('still-here')
    expect(server.requests()).toBe(1)
  })
})
