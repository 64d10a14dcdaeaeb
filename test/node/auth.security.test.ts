/**
 * RFC 8725 hardening: every refusal is the same 401 problem with `WWW-Authenticate: Bearer`, and
 * nothing the token names (jku, x5u, an embedded jwk) is ever fetched or trusted.
 */
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVerifier } from '../../src/auth/jwt'
import type { Verifier } from '../../src/types'
import {
  authConfig,
  type JwksServer,
  type KeyPair,
  keyPair,
  nowS,
  rejection,
  SECRET,
  signToken,
  startJwksServer,
  type TokenOptions,
  unsignedToken,
  whoamiApp,
} from '../helpers/keys'

const ISSUER = 'https://id.example.test'
const AUDIENCE = 'tributary'
const DETAIL = 'A valid bearer token is required.'

let rsa: KeyPair
let stranger: KeyPair
let attacker: KeyPair
let jwks: JwksServer
/** Serves the attacker's key: a token naming it in jku/x5u must never make us call it. */
let trap: JwksServer
let verify: Verifier
let canonical: string

beforeAll(async () => {
  rsa = await keyPair('RS256', 'main')
  stranger = await keyPair('RS256', 'stranger')
  attacker = await keyPair('RS256', 'attacker')
  jwks = await startJwksServer([rsa.jwk])
  trap = await startJwksServer([attacker.jwk])
  verify = createVerifier(
    authConfig({ JWT_JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }),
  )
  const res = await whoamiApp(verify).request('/whoami')
  canonical = await res.text()
})

afterAll(async () => {
  await jwks.close()
  await trap.close()
})

/** A token signed by the served RSA key, with good iss/aud; options override. */
const token = (options: TokenOptions = {}) =>
  signToken(options.kid === 'attacker' ? attacker : rsa, {
    ...options,
    claims: { iss: ISSUER, aud: AUDIENCE, ...options.claims },
  })
const bearer = async (options: TokenOptions = {}) => `Bearer ${await token(options)}`

/** The rejection directly and through requireOwner: one identical body, no reason leaked. */
async function expectUnauthorized(verifier: Verifier, authorization: string | undefined) {
  const error = await rejection(verifier, authorization)
  expect(error).toMatchObject({
    code: 'UNAUTHORIZED',
    status: 401,
    message: DETAIL,
    headers: { 'WWW-Authenticate': 'Bearer' },
  })
  const res = await whoamiApp(verifier).request('/whoami', {
    headers: authorization === undefined ? {} : { Authorization: authorization },
  })
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe('Bearer')
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(await res.text()).toBe(canonical)
}

type Row = {
  name: string
  authorization: () => Promise<string | undefined>
  /** Refused from the header alone: neither the JWKS nor anything the token names is fetched. */
  noFetch?: boolean
}

const rows: Row[] = [
  // The header itself.
  { name: 'no Authorization header', authorization: async () => undefined, noFetch: true },
  { name: 'empty header', authorization: async () => '', noFetch: true },
  { name: 'scheme only', authorization: async () => 'Bearer', noFetch: true },
  { name: 'scheme and blank token', authorization: async () => 'Bearer    ', noFetch: true },
  {
    name: 'Basic credentials',
    authorization: async () => `Basic ${btoa('user:pass')}`,
    noFetch: true,
  },
  {
    name: 'a valid JWT under the Basic scheme',
    authorization: async () => `Basic ${await token()}`,
    noFetch: true,
  },
  { name: 'a valid JWT without a scheme', authorization: token, noFetch: true },
  {
    name: 'a valid JWT under a Token scheme',
    authorization: async () => `Token ${await token()}`,
    noFetch: true,
  },
  {
    name: 'a tab instead of a space after the scheme',
    authorization: async () => `Bearer\t${await token()}`,
    noFetch: true,
  },
  {
    name: 'a space inside the token',
    authorization: async () => (await bearer()).replace('.', ' .'),
    noFetch: true,
  },
  {
    name: 'two credentials (repeated Authorization headers joined)',
    authorization: async () => `${await bearer()}, ${await bearer()}`,
    noFetch: true,
  },
  {
    name: 'a validly signed 10 KB token (over 8192 chars)',
    authorization: () => bearer({ claims: { pad: 'x'.repeat(10_000) } }),
    noFetch: true,
  },
  { name: 'two segments', authorization: async () => 'Bearer aGVhZA.Ym9keQ', noFetch: true },
  {
    name: 'four segments',
    authorization: async () => `${await bearer()}.c2ln`,
    noFetch: true,
  },
  {
    name: 'an empty segment',
    authorization: async () => (await bearer()).replace(/\.[^.]+\./, '..'),
    noFetch: true,
  },
  {
    name: 'invalid base64url (standard alphabet, padding)',
    authorization: async () => `Bearer eyJhbGciOiJSUzI1NiJ9+/=.e30=.c2ln`,
    noFetch: true,
  },
  {
    name: 'base64url that is not a JSON header',
    authorization: async () => 'Bearer Zm9vYmFy.Zm9vYmFy.Zm9vYmFy',
    noFetch: true,
  },
  { name: 'garbage', authorization: async () => 'Bearer hello-world', noFetch: true },
  {
    name: 'JWS JSON serialization',
    authorization: async () => {
      const [protectedHeader, payload, signature] = (await token()).split('.')
      return `Bearer ${JSON.stringify({ protected: protectedHeader, payload, signature })}`
    },
    noFetch: true,
  },

  // Algorithms: pinned by configuration (RS256, ES256), never chosen by the token.
  {
    name: 'alg none, no signature',
    authorization: async () =>
      `Bearer ${unsignedToken({ alg: 'none', kid: 'main' }, { sub: 'x', exp: nowS() + 60 })}`,
    noFetch: true,
  },
  {
    name: 'alg none with a bogus signature',
    authorization: async () =>
      `Bearer ${unsignedToken({ alg: 'none' }, { sub: 'x', exp: nowS() + 60 }, 'c2ln')}`,
    noFetch: true,
  },
  {
    name: 'alg NoNe (case games)',
    authorization: async () =>
      `Bearer ${unsignedToken({ alg: 'NoNe' }, { sub: 'x', exp: nowS() + 60 }, 'c2ln')}`,
    noFetch: true,
  },
  {
    name: 'HS256 keyed with the RSA public key PEM (algorithm confusion)',
    authorization: async () =>
      `Bearer ${await signToken(rsa.pem, { alg: 'HS256', kid: 'main', claims: { iss: ISSUER, aud: AUDIENCE } })}`,
    noFetch: true,
  },
  {
    name: 'HS256 keyed with the RSA public JWK JSON (algorithm confusion)',
    authorization: async () =>
      `Bearer ${await signToken(JSON.stringify(rsa.jwk), { alg: 'HS256', kid: 'main', claims: { iss: ISSUER, aud: AUDIENCE } })}`,
    noFetch: true,
  },
  {
    name: 'RS512, not in the allowlist',
    authorization: () => bearer({ alg: 'RS512' }),
    noFetch: true,
  },
  {
    name: 'PS256, not in the allowlist',
    authorization: () => bearer({ alg: 'PS256' }),
    noFetch: true,
  },
  { name: 'kid of an integer', authorization: () => bearer({ kid: 42 }), noFetch: true },
  { name: 'kid of an object', authorization: () => bearer({ kid: { $ne: 1 } }), noFetch: true },

  // Keys named by the token are never fetched nor trusted (RFC 8725 §3.10).
  {
    name: 'jku naming the attacker JWKS',
    authorization: () => bearer({ kid: 'attacker', header: { jku: trap.url } }),
    noFetch: true,
  },
  {
    name: 'x5u naming the attacker server',
    authorization: () => bearer({ kid: 'attacker', header: { x5u: trap.url } }),
    noFetch: true,
  },
  {
    name: 'an embedded jwk (the attacker key)',
    authorization: () => bearer({ kid: 'attacker', header: { jwk: attacker.jwk } }),
    noFetch: true,
  },
  {
    name: 'an embedded jwk equal to the served key, signed by the served key',
    authorization: () => bearer({ header: { jwk: rsa.jwk } }),
    noFetch: true,
  },
  {
    name: 'an x5c chain',
    authorization: () => bearer({ header: { x5c: ['MIIB'] } }),
    noFetch: true,
  },
  {
    name: 'crit, even signed by the served key',
    authorization: () => bearer({ header: { crit: ['x-ext'], 'x-ext': true } }),
    noFetch: true,
  },

  // Keys and signatures.
  { name: 'kid unknown to the JWKS', authorization: () => bearer({ kid: 'nobody' }) },
  {
    name: 'the served kid, signed by another key',
    authorization: async () =>
      `Bearer ${await signToken(stranger, { kid: 'main', claims: { iss: ISSUER, aud: AUDIENCE } })}`,
  },
  {
    name: 'a tampered payload',
    authorization: async () => {
      const [head, , signature] = (await token()).split('.')
      const [, body] = (await token({ claims: { sub: 'someone-else' } })).split('.')
      return `Bearer ${head}.${body}.${signature}`
    },
  },

  // Time claims (tolerance 30 s).
  { name: 'exp missing', authorization: () => bearer({ claims: { exp: undefined } }) },
  { name: 'expired', authorization: () => bearer({ claims: { exp: nowS() - 120 } }) },
  { name: 'exp a string', authorization: () => bearer({ claims: { exp: String(nowS() + 60) } }) },
  { name: 'exp null', authorization: () => bearer({ claims: { exp: null } }) },
  {
    name: 'exp 1e999 (Infinity once parsed)',
    authorization: async () =>
      `Bearer ${await signToken(rsa, { rawPayload: `{"sub":"x","iss":"${ISSUER}","aud":"${AUDIENCE}","exp":1e999}` })}`,
  },
  {
    name: 'nbf beyond the tolerance',
    authorization: () => bearer({ claims: { nbf: nowS() + 120 } }),
  },
  { name: 'iat in the future', authorization: () => bearer({ claims: { iat: nowS() + 120 } }) },
  { name: 'iat a string', authorization: () => bearer({ claims: { iat: 'yesterday' } }) },

  // Issuer and audience.
  { name: 'iss missing', authorization: () => bearer({ claims: { iss: undefined } }) },
  { name: 'iss wrong', authorization: () => bearer({ claims: { iss: 'https://evil.test' } }) },
  { name: 'aud missing', authorization: () => bearer({ claims: { aud: undefined } }) },
  { name: 'aud wrong (string)', authorization: () => bearer({ claims: { aud: 'other' } }) },
  {
    name: 'aud wrong (array)',
    authorization: () => bearer({ claims: { aud: ['other', 'another'] } }),
  },

  // The owner claim.
  { name: 'sub missing', authorization: () => bearer({ claims: { sub: undefined } }) },
  { name: 'sub empty', authorization: () => bearer({ claims: { sub: '' } }) },
  {
    name: 'sub of 256 code points',
    authorization: () => bearer({ claims: { sub: '😀'.repeat(256) } }),
  },
  { name: 'sub a number', authorization: () => bearer({ claims: { sub: 42 } }) },
  { name: 'sub an array', authorization: () => bearer({ claims: { sub: ['a'] } }) },
  { name: 'sub null', authorization: () => bearer({ claims: { sub: null } }) },
  {
    name: 'sub with a control character',
    authorization: () => bearer({ claims: { sub: 'a\u0000b' } }),
  },
  { name: 'sub a lone surrogate', authorization: () => bearer({ claims: { sub: 'a\ud800' } }) },

  // Payloads that are not a claims set.
  {
    name: 'payload a JSON array',
    authorization: async () => `Bearer ${await signToken(rsa, { rawPayload: '["sub"]' })}`,
  },
  {
    name: 'payload not JSON',
    authorization: async () => `Bearer ${await signToken(rsa, { rawPayload: 'sub=alice' })}`,
  },
]

describe('auth hardening (RFC 8725): one identical 401', () => {
  it('accepts the baseline token, so every row below fails for its own reason', async () => {
    await expect(verify(await bearer())).resolves.toBe('owner-1')
  })

  it.each(rows)('refuses $name', async ({ authorization, noFetch }) => {
    const value = await authorization()
    // A fresh verifier has fetched nothing yet, so any key lookup would show in the counter.
    const fresh = createVerifier(
      authConfig({ JWT_JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }),
    )
    const before = jwks.requests()
    await expectUnauthorized(fresh, value)
    if (noFetch) expect(jwks.requests()).toBe(before)
    expect(trap.requests()).toBe(0)
  })

  it('reads the token from the Authorization header only (not a query string or cookie)', async () => {
    const valid = await token()
    const res = await whoamiApp(verify).request(`/whoami?access_token=${valid}&token=${valid}`, {
      headers: { Cookie: `token=${valid}; access_token=${valid}` },
    })
    expect(res.status).toBe(401)
    expect(await res.text()).toBe(canonical)
  })
})

describe('auth hardening: algorithm confusion against an inline key', () => {
  it.each(['PEM', 'JWK'] as const)('refuses HS256 keyed with the inline %s text', async (form) => {
    const key = form === 'PEM' ? rsa.pem : JSON.stringify(rsa.jwk)
    const inline = createVerifier(authConfig({ JWT_PUBLIC_KEY: key }))
    await expect(inline(`Bearer ${await signToken(rsa)}`)).resolves.toBe('owner-1')
    for (const secret of [key, key.trim(), `${key}\n`]) {
      await expectUnauthorized(inline, `Bearer ${await signToken(secret, { alg: 'HS256' })}`)
    }
  })

  it('refuses an RS256 token against a shared secret', async () => {
    const hs = createVerifier(authConfig({ JWT_SECRET: SECRET }))
    await expectUnauthorized(hs, `Bearer ${await signToken(rsa)}`)
    await expectUnauthorized(hs, `Bearer ${await signToken(SECRET, { alg: 'HS512' })}`)
  })
})

describe('auth: an unusable inline key fails closed with CONFIG_INVALID', () => {
  const unusable = 'Configuration invalid: JWT_PUBLIC_KEY is not a usable public key'

  const cases: { name: string; key: () => Promise<string>; detail?: string }[] = [
    { name: 'not a key', key: async () => 'definitely-not-a-key' },
    { name: 'a JWK that is not JSON', key: async () => '{"kty":"RSA",' },
    {
      name: 'a private JWK',
      key: async () => {
        const { privateKey } = await generateKeyPair('ES256', { extractable: true })
        return JSON.stringify(await exportJWK(privateKey))
      },
    },
    {
      name: 'a symmetric (oct) JWK',
      key: async () => JSON.stringify({ kty: 'oct', k: btoa(SECRET).replaceAll('=', '') }),
    },
    {
      name: 'an RSA JWK that declares alg HS256',
      key: async () => JSON.stringify({ ...rsa.jwk, alg: 'HS256' }),
    },
    {
      name: 'a PKCS#8 private key PEM',
      key: async () => {
        const { privateKey } = await generateKeyPair('RS256', { extractable: true })
        return exportPKCS8(privateKey)
      },
    },
    {
      name: 'a 1024-bit RSA key (jose would refuse every token)',
      key: async () => {
        const pair = await crypto.subtle.generateKey(
          {
            name: 'RSASSA-PKCS1-v1_5',
            modulusLength: 1024,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: 'SHA-256',
          },
          true,
          ['sign', 'verify'],
        )
        return exportSPKI(pair.publicKey)
      },
    },
  ]

  it.each(cases)('$name', async ({ key }) => {
    const text = await key()
    const inline = createVerifier(authConfig({ JWT_PUBLIC_KEY: text }))
    const error = await rejection(inline, `Bearer ${await signToken(rsa)}`)
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', status: 500, message: unusable })

    // Every request fails closed, even one without credentials, and the key is never echoed.
    const res = await whoamiApp(inline).request('/whoami')
    expect(res.status).toBe(500)
    const body = await res.text()
    expect(JSON.parse(body)).toMatchObject({ code: 'CONFIG_INVALID', detail: unusable })
    expect(body).not.toContain(text.slice(0, 40))
  })

  it('names JWT_ALGORITHMS when it lists an algorithm the key cannot verify', async () => {
    const inline = createVerifier(authConfig({ JWT_PUBLIC_KEY: rsa.pem, JWT_ALGORITHMS: 'ES256' }))
    const error = await rejection(inline, undefined)
    expect(error.code).toBe('CONFIG_INVALID')
    expect(error.message).toContain('JWT_ALGORITHMS')
    expect(error.message).not.toContain('BEGIN')
  })
})
