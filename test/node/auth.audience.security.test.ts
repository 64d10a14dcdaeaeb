/**
 * Tokens for someone else. A JWKS or an inline public key is the identity provider's, shared by
 * every application it serves: without an audience and an issuer pinned, a token minted for any
 * of them would be accepted, so those sources fail closed at configuration. A token whose `aud`
 * is present but does not name us is refused whatever the key source. And what jose's JWKS
 * cache does once it is older than its max age while the endpoint is down.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createVerifier } from '../../src/auth/jwt'
import { parseConfig } from '../../src/config'
import { ApiError } from '../../src/errors'
import {
  authConfig,
  type JwksServer,
  type KeyPair,
  keyPair,
  rejection,
  SECRET,
  signToken,
  startJwksServer,
  TEST_AUDIENCE,
  TEST_ISSUER,
} from '../helpers/keys'

let rsa: KeyPair
const servers: JwksServer[] = []

beforeAll(async () => {
  rsa = await keyPair('RS256', 'main')
})

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

const configError = (env: Record<string, string>): ApiError => {
  try {
    parseConfig({ LIBSQL_URL: 'file:unused.db', ...env })
  } catch (error) {
    if (error instanceof ApiError) return error
    throw error
  }
  throw new Error('expected CONFIG_INVALID')
}

describe('a public-key source pins audience and issuer', () => {
  for (const source of ['JWT_JWKS_URL', 'JWT_PUBLIC_KEY'] as const) {
    const value = () =>
      source === 'JWT_JWKS_URL' ? 'https://id.example/.well-known/jwks.json' : rsa.pem

    it(`${source} without JWT_AUDIENCE and JWT_ISSUER is CONFIG_INVALID naming both`, () => {
      const error = configError({ [source]: value() })
      expect(error.code).toBe('CONFIG_INVALID')
      expect(error.message).toContain('JWT_AUDIENCE')
      expect(error.message).toContain('JWT_ISSUER')
      expect(error.message).toContain(source)
    })

    it(`${source} with only one of them names the other`, () => {
      const noIssuer = configError({ [source]: value(), JWT_AUDIENCE: 'tributary' })
      expect(noIssuer.message).toContain('JWT_ISSUER')
      expect(noIssuer.message).not.toContain('JWT_AUDIENCE')
      const noAudience = configError({ [source]: value(), JWT_ISSUER: 'https://id.example' })
      expect(noAudience.message).toContain('JWT_AUDIENCE')
      expect(noAudience.message).not.toContain('JWT_ISSUER')
    })
  }

  it('a secret needs neither (it is ours alone)', () => {
    expect(() => parseConfig({ LIBSQL_URL: 'file:unused.db', JWT_SECRET: SECRET })).not.toThrow()
  })
})

describe('a token addressed to someone else is refused, whatever the key source', () => {
  const secretVerify = () => createVerifier(authConfig({ JWT_SECRET: SECRET }))

  it('secret, no JWT_AUDIENCE: a token with any aud is a 401; one without aud passes', async () => {
    const verify = secretVerify()
    for (const aud of ['other-app', ['other-app', 'another'], '']) {
      const token = await signToken(SECRET, { claims: { aud } })
      expect(await rejection(verify, `Bearer ${token}`)).toMatchObject({ code: 'UNAUTHORIZED' })
    }
    await expect(verify(`Bearer ${await signToken(SECRET)}`)).resolves.toBe('owner-1')
  })

  it('secret with JWT_AUDIENCE: only a token naming it passes', async () => {
    const verify = createVerifier(authConfig({ JWT_SECRET: SECRET, JWT_AUDIENCE: 'tributary' }))
    const other = await signToken(SECRET, { claims: { aud: 'other-app' } })
    expect(await rejection(verify, `Bearer ${other}`)).toMatchObject({ code: 'UNAUTHORIZED' })
    const ours = await signToken(SECRET, { claims: { aud: ['other-app', 'tributary'] } })
    await expect(verify(`Bearer ${ours}`)).resolves.toBe('owner-1')
  })

  it('inline public key: another application of the same issuer is a 401', async () => {
    const verify = createVerifier(authConfig({ JWT_PUBLIC_KEY: rsa.pem }))
    const other = await signToken(rsa, { claims: { aud: 'billing-app' } })
    expect(await rejection(verify, `Bearer ${other}`)).toMatchObject({ code: 'UNAUTHORIZED' })
    const noAud = await signToken(rsa, { claims: { aud: undefined } })
    expect(await rejection(verify, `Bearer ${noAud}`)).toMatchObject({ code: 'UNAUTHORIZED' })
    const wrongIssuer = await signToken(rsa, { claims: { iss: 'https://elsewhere.test' } })
    expect(await rejection(verify, `Bearer ${wrongIssuer}`)).toMatchObject({
      code: 'UNAUTHORIZED',
    })
    await expect(verify(`Bearer ${await signToken(rsa)}`)).resolves.toBe('owner-1')
  })
})

describe('JWKS cache past its max age (10 minutes) with the endpoint down', () => {
  it('refuses with 503 and Retry-After from RETRY_AFTER_S, refetching each time, until the endpoint is back', async () => {
    // Only Date is faked: jose's cache age reads it; sockets stay real.
    vi.useFakeTimers({ toFake: ['Date'] })
    const start = Date.now()
    const server = await startJwksServer([rsa.jwk])
    servers.push(server)
    const config = parseConfig({
      LIBSQL_URL: 'file:unused.db',
      JWT_JWKS_URL: server.url,
      JWT_ISSUER: TEST_ISSUER,
      JWT_AUDIENCE: TEST_AUDIENCE,
      RETRY_AFTER_S: '7',
    })
    const verify = createVerifier(config.auth, { retryAfterS: config.ingest.retryAfterS })
    await expect(verify(`Bearer ${await signToken(rsa)}`)).resolves.toBe('owner-1')
    expect(server.requests()).toBe(1)

    // Down, but the cached set is still fresh: tokens keep verifying without a fetch.
    server.setDown(true)
    vi.setSystemTime(start + 9 * 60_000)
    await expect(verify(`Bearer ${await signToken(rsa)}`)).resolves.toBe('owner-1')
    expect(server.requests()).toBe(1)

    // Past the max age the stale keys are not used: every request tries the endpoint again.
    vi.setSystemTime(start + 11 * 60_000)
    for (let i = 0; i < 3; i++) {
      const error = await rejection(verify, `Bearer ${await signToken(rsa)}`)
      expect(error).toMatchObject({
        code: 'AUTH_UNAVAILABLE',
        status: 503,
        headers: { 'Retry-After': '7' },
      })
    }
    expect(server.requests()).toBe(4)

    server.setDown(false)
    await expect(
      verify(`Bearer ${await signToken(rsa, { claims: { sub: 'back' } })}`),
    ).resolves.toBe('back')
    expect(server.requests()).toBe(5)
  })
})
