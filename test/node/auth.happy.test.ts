import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVerifier } from '../../src/auth/jwt'
import {
  type AsymmetricAlg,
  authConfig,
  type JwksServer,
  type KeyPair,
  keyPair,
  nowS,
  SECRET,
  signToken,
  startJwksServer,
  whoamiApp,
} from '../helpers/keys'

const bearer = (token: string) => `Bearer ${token}`

describe('auth: shared secret (HS256 by default)', () => {
  const verify = createVerifier(authConfig({ JWT_SECRET: SECRET }))
  const app = whoamiApp(verify)

  it('resolves the sub claim of a valid token, directly and through requireOwner', async () => {
    const token = await signToken(SECRET, { claims: { sub: 'alice' } })
    await expect(verify(bearer(token))).resolves.toBe('alice')

    const res = await app.request('/whoami', { headers: { Authorization: bearer(token) } })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('alice')
  })

  it('accepts a lowercase scheme: RFC 7235 §2.1 makes the auth-scheme case-insensitive', async () => {
    const token = await signToken(SECRET)
    await expect(verify(`bearer ${token}`)).resolves.toBe('owner-1')
    await expect(verify(`BEARER ${token}`)).resolves.toBe('owner-1')
  })

  it('accepts several spaces after the scheme and surrounding whitespace', async () => {
    const token = await signToken(SECRET)
    await expect(verify(`Bearer    ${token}`)).resolves.toBe('owner-1')
    await expect(verify(`  Bearer ${token}  `)).resolves.toBe('owner-1')
  })

  it('accepts an owner of exactly 255 code points (astral characters count once)', async () => {
    const owner = `${'😀'.repeat(200)}${'a'.repeat(55)}`
    const token = await signToken(SECRET, { claims: { sub: owner } })
    await expect(verify(bearer(token))).resolves.toBe(owner)
  })

  it('tolerates clock skew within JWT_CLOCK_TOLERANCE_S for nbf, exp and iat', async () => {
    const skewed = await signToken(SECRET, {
      claims: { nbf: nowS() + 20, iat: nowS() + 20, exp: nowS() + 20 },
    })
    await expect(verify(bearer(skewed))).resolves.toBe('owner-1')
    const justExpired = await signToken(SECRET, { claims: { exp: nowS() - 20 } })
    await expect(verify(bearer(justExpired))).resolves.toBe('owner-1')
  })

  it('uses the injected clock', async () => {
    const later = createVerifier(authConfig({ JWT_SECRET: SECRET }), {
      now: () => Date.now() + 7200_000,
    })
    const token = await signToken(SECRET, { claims: { exp: nowS() + 3600 } })
    await expect(verify(bearer(token))).resolves.toBe('owner-1')
    await expect(later(bearer(token))).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
  })

  it('honours JWT_ALGORITHMS for a secret', async () => {
    const hs384 = createVerifier(authConfig({ JWT_SECRET: SECRET, JWT_ALGORITHMS: 'HS384' }))
    await expect(hs384(bearer(await signToken(SECRET, { alg: 'HS384' })))).resolves.toBe('owner-1')
    await expect(hs384(bearer(await signToken(SECRET)))).rejects.toMatchObject({ status: 401 })
  })
})

describe('auth: configured claims', () => {
  it('reads the owner from JWT_OWNER_CLAIM', async () => {
    const verify = createVerifier(authConfig({ JWT_SECRET: SECRET, JWT_OWNER_CLAIM: 'tenant' }))
    const token = await signToken(SECRET, { claims: { sub: 'not-me', tenant: 'acme' } })
    await expect(verify(bearer(token))).resolves.toBe('acme')
    const without = await signToken(SECRET, { claims: { sub: 'not-me' } })
    await expect(verify(bearer(without))).rejects.toMatchObject({ status: 401 })
  })

  it('accepts the configured issuer and audience, also an audience inside an array', async () => {
    const verify = createVerifier(
      authConfig({ JWT_SECRET: SECRET, JWT_ISSUER: 'https://id.test', JWT_AUDIENCE: 'tributary' }),
    )
    const single = await signToken(SECRET, {
      claims: { iss: 'https://id.test', aud: 'tributary' },
    })
    const array = await signToken(SECRET, {
      claims: { iss: 'https://id.test', aud: ['other', 'tributary'] },
    })
    await expect(verify(bearer(single))).resolves.toBe('owner-1')
    await expect(verify(bearer(array))).resolves.toBe('owner-1')
  })
})

describe('auth: requireOwner', () => {
  const verify = createVerifier(authConfig({ JWT_SECRET: SECRET }))
  const app = whoamiApp(verify)

  it('leaves the request body to the handler', async () => {
    const token = await signToken(SECRET)
    const res = await app.request('/whoami', {
      method: 'POST',
      headers: { Authorization: bearer(token) },
      body: '{"line":1}\n',
    })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('owner-1')
  })

  it('refuses before reading a byte of the body', async () => {
    let pulls = 0
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulls++
          controller.enqueue(new TextEncoder().encode('{}\n'))
        },
      },
      { highWaterMark: 0 },
    )
    const res = await app.request('/whoami', {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(401)
    expect(pulls).toBe(0)
  })
})

describe('auth: inline public key (JWT_PUBLIC_KEY)', () => {
  const algs: AsymmetricAlg[] = ['RS256', 'ES256', 'EdDSA']
  const pairs = new Map<AsymmetricAlg, KeyPair>()

  beforeAll(async () => {
    for (const alg of algs) pairs.set(alg, await keyPair(alg))
  })

  const cases = algs.flatMap((alg) => [
    { alg, form: 'PEM' as const },
    { alg, form: 'JWK' as const },
  ])

  it.each(cases)(
    '$alg as $form: accepted with its own algorithm by default',
    async ({ alg, form }) => {
      const pair = pairs.get(alg) as KeyPair
      // A JWK without `alg` gets its algorithm from kty/crv, like a PEM does from its key type.
      const { alg: _alg, ...bare } = pair.jwk
      const key = form === 'PEM' ? pair.pem : JSON.stringify(bare)
      const verify = createVerifier(authConfig({ JWT_PUBLIC_KEY: key }))
      const token = await signToken(pair, { claims: { sub: `${alg}-${form}` } })
      await expect(verify(bearer(token))).resolves.toBe(`${alg}-${form}`)

      const res = await whoamiApp(verify).request('/whoami', {
        headers: { Authorization: bearer(token) },
      })
      expect(await res.text()).toBe(`${alg}-${form}`)
    },
  )

  it('accepts a one-line PEM with literal \\n separators, as env files carry it', async () => {
    const pair = pairs.get('ES256') as KeyPair
    const verify = createVerifier(authConfig({ JWT_PUBLIC_KEY: pair.pem.replaceAll('\n', '\\n') }))
    await expect(verify(bearer(await signToken(pair)))).resolves.toBe('owner-1')
  })

  it('uses JWT_ALGORITHMS when set (an RSA key for RS256 and PS256)', async () => {
    const pair = pairs.get('RS256') as KeyPair
    const verify = createVerifier(
      authConfig({ JWT_PUBLIC_KEY: pair.pem, JWT_ALGORITHMS: 'RS256,PS256' }),
    )
    await expect(verify(bearer(await signToken(pair, { alg: 'PS256' })))).resolves.toBe('owner-1')
    await expect(verify(bearer(await signToken(pair)))).resolves.toBe('owner-1')
  })
})

describe('auth: JWKS URL', () => {
  let rsa: KeyPair
  let ec: KeyPair
  let server: JwksServer

  beforeAll(async () => {
    rsa = await keyPair('RS256')
    ec = await keyPair('ES256')
    server = await startJwksServer([rsa.jwk, ec.jwk])
  })
  afterAll(() => server.close())

  it('accepts RS256 and ES256 tokens by default', async () => {
    const verify = createVerifier(authConfig({ JWT_JWKS_URL: server.url }))
    await expect(verify(bearer(await signToken(rsa, { claims: { sub: 'r' } })))).resolves.toBe('r')
    await expect(verify(bearer(await signToken(ec, { claims: { sub: 'e' } })))).resolves.toBe('e')
  })
})
