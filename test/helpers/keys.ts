/**
 * Real keys and real signed tokens for the auth tests (no mocks of jose), a tiny JWKS server
 * on 127.0.0.1 that counts its requests, and the smallest Hono app that uses `requireOwner`.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Hono } from 'hono'
import { base64url, CompactSign, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose'
import { requireOwner } from '../../src/auth/middleware'
import { type AuthConfig, parseConfig } from '../../src/config'
import { ApiError, problemResponse } from '../../src/errors'
import type { AppEnv, Verifier } from '../../src/types'

/** The issuer and audience a public-key source must pin; tokens of a key pair carry them. */
export const TEST_ISSUER = 'https://issuer.test'
export const TEST_AUDIENCE = 'tributary-test'

/** A shared secret of 32+ bytes, as JWT_SECRET requires. */
export const SECRET = 'tributary-test-secret-0123456789-abcdef'

export type AsymmetricAlg = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA'

export type KeyPair = {
  alg: AsymmetricAlg
  kid: string
  privateKey: CryptoKey
  publicKey: CryptoKey
  /** Public JWK with `kid`, `alg` and `use: 'sig'`, as a JWKS serves it. */
  jwk: JWK
  /** SPKI PEM of the public key. */
  pem: string
}

let kidCounter = 0

/** A fresh extractable key pair with a unique kid. */
export async function keyPair(
  alg: AsymmetricAlg,
  kid = `${alg}-${++kidCounter}`,
): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { alg, kid, privateKey, publicKey, jwk, pem: await exportSPKI(publicKey) }
}

export const nowS = (): number => Math.floor(Date.now() / 1000)

export type TokenOptions = {
  /** Defaults to the key pair's algorithm, or HS256 for a secret. */
  alg?: string
  /** Defaults to the key pair's kid; `null` leaves it out. */
  kid?: unknown
  /** Extra protected header parameters (`jku`, `crit`, ...); `undefined` values are dropped. */
  header?: Record<string, unknown>
  /**
   * Merged over `{ sub: 'owner-1', iat: now, exp: now + 1 h }`, plus TEST_ISSUER and
   * TEST_AUDIENCE for a key pair; `undefined` removes a claim.
   */
  claims?: Record<string, unknown>
  /** The exact payload JSON text, instead of `claims` (for values JSON.stringify cannot make). */
  rawPayload?: string
}

/** Sign a compact JWS with jose: a secret (string or bytes) or a key pair's private key. */
export async function signToken(
  key: KeyPair | string | Uint8Array,
  options: TokenOptions = {},
): Promise<string> {
  const pair = typeof key === 'string' || key instanceof Uint8Array ? undefined : key
  const alg = options.alg ?? pair?.alg ?? 'HS256'
  // A CryptoKey is bound to one algorithm: sign another one (RS256 key, PS256) from its JWK.
  const signingKey =
    pair === undefined
      ? typeof key === 'string'
        ? encode(key)
        : (key as Uint8Array)
      : alg === pair.alg
        ? pair.privateKey
        : await exportJWK(pair.privateKey)
  const header: Record<string, unknown> = {
    alg,
    kid: options.kid === undefined ? pair?.kid : options.kid === null ? undefined : options.kid,
    ...options.header,
  }
  const payload =
    options.rawPayload ??
    JSON.stringify({
      sub: 'owner-1',
      iat: nowS(),
      exp: nowS() + 3600,
      ...(pair === undefined ? {} : { iss: TEST_ISSUER, aud: TEST_AUDIENCE }),
      ...options.claims,
    })
  const crit = Array.isArray(header.crit)
    ? Object.fromEntries(header.crit.map((name) => [String(name), false]))
    : undefined
  return new CompactSign(encode(payload))
    .setProtectedHeader(JSON.parse(JSON.stringify(header)))
    .sign(signingKey, crit === undefined ? undefined : { crit })
}

/** A hand-built token, for what no signer produces (`alg: none`). */
export function unsignedToken(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signature = '',
): string {
  const part = (value: unknown) => base64url.encode(JSON.stringify(value))
  return `${part(header)}.${part(claims)}.${signature}`
}

const encode = (text: string) => new TextEncoder().encode(text)

export type JwksServer = {
  /** The JWKS URL, `http://127.0.0.1:<port>/jwks.json`. */
  url: string
  /** How many requests the server has received. */
  requests(): number
  /** Serve these keys from now on (key rotation). */
  setKeys(keys: JWK[]): void
  /** `true`: answer 503; `'hang'`: never answer; `'garbage'`: 200 with non-JSON; `false`: serve. */
  setDown(down: boolean | 'hang' | 'garbage'): void
  close(): Promise<void>
}

/** A JWKS endpoint on 127.0.0.1 and an ephemeral port. */
export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  let served = keys
  let down: boolean | 'hang' | 'garbage' = false
  let count = 0
  const server = createServer((_req, res) => {
    count++
    if (down === 'hang') return
    if (down === true) {
      res.writeHead(503).end('unavailable')
    } else if (down === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json')
    } else {
      res
        .writeHead(200, { 'content-type': 'application/jwk-set+json' })
        .end(JSON.stringify({ keys: served }))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    requests: () => count,
    setKeys: (next) => {
      served = next
    },
    setDown: (next) => {
      down = next
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}

/** `GET /whoami` behind `requireOwner`, answering the owner; ApiErrors become problem+json. */
export function whoamiApp(verify: Verifier): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.onError((error, c) =>
    error instanceof ApiError ? problemResponse(error) : c.text('unexpected', 500),
  )
  app.use('*', requireOwner(verify))
  app.all('/whoami', (c) => c.text(c.var.owner))
  return app
}

/**
 * The auth part of a real parsed configuration: pass JWT_* variables as the environment has
 * them. A public-key source gets TEST_ISSUER and TEST_AUDIENCE unless the test names its own.
 */
export function authConfig(env: Record<string, string>): AuthConfig {
  const pinned =
    env.JWT_SECRET === undefined ? { JWT_ISSUER: TEST_ISSUER, JWT_AUDIENCE: TEST_AUDIENCE } : {}
  return parseConfig({ LIBSQL_URL: 'file:unused.db', ...pinned, ...env }).auth
}

/** The ApiError a verification fails with; throws when it succeeds or fails with anything else. */
export async function rejection(
  verify: Verifier,
  authorization: string | undefined,
): Promise<ApiError> {
  try {
    const owner = await verify(authorization)
    throw new Error(`expected a rejection, got owner ${JSON.stringify(owner)}`)
  } catch (error) {
    if (error instanceof ApiError) return error
    throw error
  }
}
