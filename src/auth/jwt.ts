/**
 * Bearer JWT -> owner (RFC 8725). The key source and the allowed algorithms come from
 * configuration, never from the token. Web Crypto and fetch only: runs on Node and on workerd.
 */
import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  importJWK,
  importSPKI,
  importX509,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose'
import type { AuthConfig, JwtAlgorithm } from '../config'
import { asymmetricAlgorithms, defaultLimits } from '../config'
import { ApiError } from '../errors'
import type { Verifier } from '../types'

export type VerifierOptions = {
  /** Fetch used for the JWKS URL (a Workers service binding, a test); the global one by default. */
  fetch?: typeof fetch
  /** Clock in epoch milliseconds; `Date.now` by default. */
  now?: () => number
  /** `Retry-After` of the 503 when the key source is down (RETRY_AFTER_S). */
  retryAfterS?: number
}

/** The one answer to every authentication failure: no reason is leaked to the caller. */
const unauthorized = () =>
  new ApiError('UNAUTHORIZED', 'A valid bearer token is required.', {
    headers: { 'WWW-Authenticate': 'Bearer' },
  })

const unavailable = (retryAfterS: number) =>
  new ApiError('AUTH_UNAVAILABLE', 'The key source could not be reached; retry later.', {
    headers: { 'Retry-After': String(retryAfterS) },
  })

const unusableKey = () =>
  new ApiError('CONFIG_INVALID', 'Configuration invalid: JWT_PUBLIC_KEY is not a usable public key')

const MAX_TOKEN_CHARS = 8192
/**
 * RFC 6750 §2.1 `Bearer`, matched case-insensitively as RFC 7235 §2.1 requires for any auth-scheme,
 * then one or more spaces and a compact JWS: three non-empty base64url parts, nothing else.
 */
const BEARER = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i
/** Header parameters that would let the token choose its own key or extensions (RFC 8725 §3.10). */
const REFUSED_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'] as const
const JWKS_COOLDOWN_MS = 30_000
const MAX_OWNER_CODE_POINTS = 255
const CONTROL = /\p{Cc}/u

type KeySet = { algorithms: ReadonlySet<string>; key: JWTVerifyGetKey }

/**
 * Build the verifier for one configuration. Keys are prepared once: a JWKS is fetched on first
 * use and cached (an unknown `kid` refetches at most once per 30 s); a secret or an inline key
 * is imported on first use, once for each allowed algorithm (jose would import a raw secret
 * again for every token), and an inline key that cannot be imported fails every request with
 * CONFIG_INVALID.
 */
export function createVerifier(config: AuthConfig, options: VerifierOptions = {}): Verifier {
  const now = options.now ?? (() => Date.now())
  const keySet = keySetFor(config, options)

  return async function verify(authorization) {
    const keys = await keySet()
    try {
      const token = bearerToken(authorization)
      refuseHeader(token, keys.algorithms)
      const currentDate = new Date(now())
      const payload = await verifyToken(token, keys.key, {
        algorithms: [...keys.algorithms],
        clockTolerance: config.clockToleranceS,
        currentDate,
        requiredClaims: ['exp'],
        ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
        ...(config.audience === undefined ? {} : { audience: config.audience }),
      })
      // RFC 7519 §4.1.3: a token addressed to someone else is not ours, audience set or not.
      if (config.audience === undefined && payload.aud !== undefined) throw unauthorized()
      checkTimes(payload, currentDate, config.clockToleranceS)
      return ownerOf(payload, config.ownerClaim)
    } catch (error) {
      if (error instanceof ApiError) throw error
      throw unauthorized()
    }
  }
}

function bearerToken(authorization: string | undefined): string {
  const token = BEARER.exec(authorization?.trim() ?? '')?.[1]
  if (token === undefined || token.length > MAX_TOKEN_CHARS) throw unauthorized()
  return token
}

/** Refuse before any key is looked up or fetched: the token never picks its key or algorithm. */
function refuseHeader(token: string, algorithms: ReadonlySet<string>): void {
  const header = decodeProtectedHeader(token)
  if (REFUSED_HEADERS.some((name) => Object.hasOwn(header, name))) throw unauthorized()
  if (typeof header.alg !== 'string' || !algorithms.has(header.alg)) throw unauthorized()
  if (header.kid !== undefined && typeof header.kid !== 'string') throw unauthorized()
}

/** jwtVerify, trying each candidate when a kid-less token matches several JWKS keys. */
async function verifyToken(
  token: string,
  key: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, key, options)).payload
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error
    for await (const candidate of error) {
      try {
        return (await jwtVerify(token, candidate, options)).payload
      } catch {}
    }
    throw error
  }
}

/** What jose leaves out: `iat` in the future (it only checks it with maxTokenAge), and ±Infinity. */
function checkTimes(payload: JWTPayload, currentDate: Date, toleranceS: number): void {
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    const value = payload[claim]
    if (value !== undefined && !Number.isFinite(value)) throw unauthorized()
  }
  const nowS = Math.floor(currentDate.getTime() / 1000)
  if (payload.iat !== undefined && payload.iat > nowS + toleranceS) throw unauthorized()
}

function ownerOf(payload: JWTPayload, claim: string): string {
  const owner = Object.hasOwn(payload, claim) ? payload[claim] : undefined
  if (typeof owner !== 'string' || owner === '' || !owner.isWellFormed() || CONTROL.test(owner)) {
    throw unauthorized()
  }
  // The token is at most 8 KiB, so counting code points of the claim is cheap.
  if ([...owner].length > MAX_OWNER_CODE_POINTS) throw unauthorized()
  return owner
}

function keySetFor(config: AuthConfig, options: VerifierOptions): () => Promise<KeySet> {
  const source = config.keySource
  switch (source.kind) {
    case 'secret': {
      let imported: Promise<KeySet> | undefined
      return () => {
        imported ??= hmacKeys(source.secret, config.algorithms ?? ['HS256'])
        return imported
      }
    }
    case 'jwks': {
      const keys = {
        algorithms: new Set(config.algorithms ?? ['RS256', 'ES256']),
        key: remoteKeys(
          source.url,
          options.fetch,
          options.retryAfterS ?? defaultLimits.retryAfterS,
        ),
      }
      return async () => keys
    }
    case 'public-key': {
      let loaded: Promise<KeySet> | undefined
      return () => {
        loaded ??= inlineKeys(source.key, config.algorithms).catch((error: unknown) => {
          throw error instanceof ApiError ? error : unusableKey()
        })
        return loaded
      }
    }
  }
}

/**
 * jose's remote JWKS (cached, refetched on an unknown kid at most once per cooldown). A key source
 * that cannot be reached or answers garbage is a 503, not a 401: the client should retry.
 */
function remoteKeys(
  url: URL,
  fetchImpl: typeof fetch | undefined,
  retryAfterS: number,
): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    cooldownDuration: JWKS_COOLDOWN_MS,
    ...(fetchImpl === undefined ? {} : { [customFetch]: fetchImpl }),
  })
  return async function jwksKey(header, token) {
    try {
      return await remote(header, token)
    } catch (error) {
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys ||
        error instanceof errors.JOSENotSupported
      ) {
        throw error
      }
      throw unavailable(retryAfterS)
    }
  }
}

const RSA_BITS_MIN = 2048
const EC_ALGORITHMS: Record<string, string> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
}
const PEM_TRIAL_ORDER = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

/** Parse JWT_PUBLIC_KEY (JWK JSON, SPKI or X.509 PEM) and import it for every allowed algorithm. */
async function inlineKeys(text: string, configured: JwtAlgorithm[] | undefined): Promise<KeySet> {
  // Environment files often carry a PEM on one line with literal `\n` separators.
  const value = text.replaceAll('\\n', '\n').trim()
  let importFor: (alg: string) => Promise<CryptoKey>
  let own: string | undefined

  if (value.startsWith('{')) {
    const jwk = parseJwk(value)
    importFor = async (alg) => {
      if (jwk.alg !== undefined && jwk.alg !== alg) throw unusableKey()
      const key = await importJWK(jwk, alg)
      if (key instanceof Uint8Array) throw unusableKey()
      return key
    }
    own = jwk.alg ?? defaultAlgorithm(jwk)
    if (own !== undefined && !(await importFor(own).then(usable, () => false))) own = undefined
  } else {
    if (value.startsWith('-----BEGIN PUBLIC KEY-----')) {
      importFor = (alg) => importSPKI(value, alg)
    } else if (value.startsWith('-----BEGIN CERTIFICATE-----')) {
      importFor = (alg) => importX509(value, alg)
    } else {
      throw unusableKey()
    }
    for (const alg of PEM_TRIAL_ORDER) {
      if (await importFor(alg).then(usable, () => false)) {
        own = alg
        break
      }
    }
  }
  if (own === undefined || !isAsymmetric(own)) throw unusableKey()

  const algorithms = configured ?? [own]
  const keys = new Map<string, CryptoKey>()
  for (const alg of algorithms) {
    const key = await importFor(alg).catch(() => undefined)
    if (key === undefined || !usable(key)) {
      throw new ApiError(
        'CONFIG_INVALID',
        `Configuration invalid: JWT_ALGORITHMS lists ${alg}, which JWT_PUBLIC_KEY cannot verify`,
      )
    }
    keys.set(alg, key)
  }
  return byAlgorithm(keys)
}

/** JWT_SECRET as an HMAC key for each allowed algorithm (HS256 -> SHA-256, …). */
async function hmacKeys(secret: string, algorithms: readonly string[]): Promise<KeySet> {
  const bytes = new TextEncoder().encode(secret)
  const keys = new Map<string, CryptoKey>()
  for (const alg of algorithms) {
    const hash = { name: `SHA-${alg.slice('HS'.length)}` }
    keys.set(
      alg,
      await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash }, false, ['verify']),
    )
  }
  return byAlgorithm(keys)
}

/** The keys of a set, picked by the token's `alg` (already checked against the allowed ones). */
function byAlgorithm(keys: ReadonlyMap<string, CryptoKey>): KeySet {
  return {
    algorithms: new Set(keys.keys()),
    key: async (header) => {
      const key = typeof header.alg === 'string' ? keys.get(header.alg) : undefined
      if (key === undefined) throw unauthorized()
      return key
    },
  }
}

function parseJwk(value: string): JWK {
  let jwk: unknown
  try {
    jwk = JSON.parse(value)
  } catch {
    throw unusableKey()
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw unusableKey()
  // A private or symmetric JWK here would be a leaked secret or an HS/RS confusion waiting to happen.
  if ('d' in jwk || 'k' in jwk || 'priv' in jwk) throw unusableKey()
  return jwk as JWK
}

/** The algorithm a JWK without `alg` is for, from its key type and curve. */
function defaultAlgorithm(jwk: JWK): string | undefined {
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'EC') return EC_ALGORITHMS[jwk.crv ?? '']
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA'
  return undefined
}

/** A public verification key, and for RSA one that jose will accept (≥ 2048 bits). */
function usable(key: CryptoKey): boolean {
  if (key.type !== 'public') return false
  const { modulusLength } = key.algorithm as { modulusLength?: number }
  return modulusLength === undefined || modulusLength >= RSA_BITS_MIN
}

const isAsymmetric = (alg: string): alg is JwtAlgorithm =>
  (asymmetricAlgorithms as readonly string[]).includes(alg)
