/**
 * The only reader of the environment. Bindings (Workers) or `process.env` (Node) are parsed once,
 * at the entry, into a typed `Config`; nothing else looks at env. A bad value fails closed with
 * CONFIG_INVALID naming the variable, never its value.
 */
import * as v from 'valibot'
import { ApiError } from './errors'
import type { IngestLimits } from './types'

/** Default of LIBSQL_TIMEOUT_MS: a 4 MiB chunk commits in well under a second on a healthy server. */
export const DEFAULT_LIBSQL_TIMEOUT_MS = 10_000

export type JwtAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'

export const hmacAlgorithms = ['HS256', 'HS384', 'HS512'] as const satisfies JwtAlgorithm[]
export const asymmetricAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const satisfies JwtAlgorithm[]

/** Exactly one key source; which one decides the algorithms that may be allowed. */
export type KeySource =
  | { kind: 'secret'; secret: string }
  | { kind: 'jwks'; url: URL }
  | { kind: 'public-key'; key: string }

export type AuthConfig = {
  keySource: KeySource
  /** Set when JWT_ALGORITHMS is given; otherwise the key source's default applies. */
  algorithms: JwtAlgorithm[] | undefined
  issuer: string | undefined
  audience: string | undefined
  ownerClaim: string
  clockToleranceS: number
}

export type Config = {
  libsqlUrl: string
  libsqlAuthToken: string | undefined
  /** Deadline of each request to a libSQL server (http:, https:, libsql:); see db/client.ts. */
  libsqlTimeoutMs: number
  auth: AuthConfig
  ingest: IngestLimits
}

export const defaultLimits: IngestLimits = {
  chunkLines: 500,
  chunkBytes: 4 * 1024 * 1024,
  maxBodyBytes: 100 * 1024 * 1024,
  maxLineBytes: 1024 * 1024,
  maxErrors: 100,
  idleTimeoutMs: 30_000,
}

export const defaults = {
  JWT_OWNER_CLAIM: 'sub',
  JWT_CLOCK_TOLERANCE_S: 30,
} as const

/** Workers [vars] may arrive as numbers or booleans; the environment always gives strings. */
const raw = v.optional(
  v.pipe(
    v.union([v.string(), v.number()]),
    v.transform((value) => String(value).trim()),
    v.transform((value) => (value === '' ? undefined : value)),
  ),
)

const integerIn = (min: number, max: number) =>
  v.pipe(
    raw,
    v.transform((value) => (value === undefined ? undefined : Number(value))),
    v.optional(
      v.pipe(
        v.number(),
        v.integer('must be a whole number'),
        v.minValue(min, `must be at least ${min}`),
        v.maxValue(max, `must be at most ${max}`),
      ),
    ),
  )

const algorithmList = v.pipe(
  raw,
  v.transform((value) =>
    value === undefined
      ? undefined
      : value
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name !== ''),
  ),
  v.optional(
    v.pipe(
      v.array(
        v.picklist(
          [...hmacAlgorithms, ...asymmetricAlgorithms],
          'lists an unsupported algorithm (none is never allowed)',
        ),
      ),
      v.minLength(1, 'must list at least one algorithm'),
    ),
  ),
)

const libsqlUrl = v.pipe(
  v.string(),
  v.check((value) => {
    try {
      return ['file:', 'http:', 'https:', 'libsql:', 'ws:', 'wss:'].includes(
        new URL(value).protocol,
      )
    } catch {
      return false
    }
  }, 'must be a file:, http(s):, libsql: or ws(s): URL'),
)

const GiB = 1024 * 1024 * 1024

const envSchema = v.object({
  LIBSQL_URL: v.pipe(raw, v.optional(libsqlUrl)),
  LIBSQL_AUTH_TOKEN: raw,
  LIBSQL_TIMEOUT_MS: integerIn(100, 600_000),
  JWT_SECRET: v.pipe(
    raw,
    v.optional(
      v.pipe(
        v.string(),
        v.check(
          (value) => new TextEncoder().encode(value).length >= 32,
          'must be at least 32 bytes (RFC 7518 §3.2)',
        ),
      ),
    ),
  ),
  JWT_JWKS_URL: v.pipe(
    raw,
    v.optional(
      v.pipe(
        v.string(),
        v.check((value) => {
          try {
            const url = new URL(value)
            return (
              url.protocol === 'https:' ||
              (url.protocol === 'http:' &&
                ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
            )
          } catch {
            return false
          }
        }, 'must be an https: URL (http: only for 127.0.0.1, localhost or [::1])'),
      ),
    ),
  ),
  JWT_PUBLIC_KEY: raw,
  JWT_ISSUER: raw,
  JWT_AUDIENCE: raw,
  JWT_ALGORITHMS: algorithmList,
  JWT_OWNER_CLAIM: raw,
  JWT_CLOCK_TOLERANCE_S: integerIn(0, 600),
  INGEST_CHUNK_LINES: integerIn(1, 10_000),
  INGEST_CHUNK_BYTES: integerIn(1024, 256 * 1024 * 1024),
  INGEST_MAX_BODY_BYTES: integerIn(1, 64 * GiB),
  INGEST_MAX_LINE_BYTES: integerIn(64, 64 * 1024 * 1024),
  INGEST_MAX_ERRORS: integerIn(0, 10_000),
  INGEST_IDLE_TIMEOUT_MS: integerIn(100, 3_600_000),
})

export type ConfigDefaults = { LIBSQL_URL?: string }

const invalid = (names: string[], why: string) =>
  new ApiError('CONFIG_INVALID', `Configuration invalid: ${names.join(', ')} ${why}`)

/**
 * Parse bindings or `process.env` into a Config. Throws an ApiError CONFIG_INVALID whose message
 * names the variables at fault and says what is expected; a value is never echoed.
 */
export function parseConfig(env: Record<string, unknown>, fallback: ConfigDefaults = {}): Config {
  const picked: Record<string, unknown> = {}
  for (const key of Object.keys(envSchema.entries)) picked[key] = env[key]
  const result = v.safeParse(envSchema, picked)
  if (!result.success) {
    const reasons = result.issues.map((issue) => {
      const name = v.getDotPath(issue) ?? 'environment'
      return `${name} ${issue.message.startsWith('Invalid') ? 'is invalid' : issue.message}`
    })
    throw new ApiError('CONFIG_INVALID', `Configuration invalid: ${reasons.join('; ')}`)
  }
  const e = result.output

  const libsql = e.LIBSQL_URL ?? fallback.LIBSQL_URL
  if (libsql === undefined) throw invalid(['LIBSQL_URL'], 'is required')

  const sources = [
    e.JWT_SECRET === undefined ? undefined : ({ kind: 'secret', secret: e.JWT_SECRET } as const),
    e.JWT_JWKS_URL === undefined
      ? undefined
      : ({ kind: 'jwks', url: new URL(e.JWT_JWKS_URL) } as const),
    e.JWT_PUBLIC_KEY === undefined
      ? undefined
      : ({ kind: 'public-key', key: e.JWT_PUBLIC_KEY } as const),
  ].filter((source) => source !== undefined)
  const sourceNames = ['JWT_SECRET', 'JWT_JWKS_URL', 'JWT_PUBLIC_KEY']
  const [keySource, ...others] = sources
  if (keySource === undefined) throw invalid(sourceNames, 'are all unset: set exactly one')
  if (others.length > 0) {
    throw invalid(
      sourceNames.filter((name) => e[name as keyof typeof e] !== undefined),
      'are all set: set exactly one key source',
    )
  }
  if (e.JWT_ALGORITHMS !== undefined) {
    const hmac = (hmacAlgorithms as readonly string[]).includes.bind(hmacAlgorithms)
    const wrongFamily =
      keySource.kind === 'secret'
        ? e.JWT_ALGORITHMS.some((alg) => !hmac(alg))
        : e.JWT_ALGORITHMS.some((alg) => hmac(alg))
    if (wrongFamily) {
      throw invalid(
        ['JWT_ALGORITHMS'],
        keySource.kind === 'secret'
          ? 'may only list HS256, HS384 or HS512 with JWT_SECRET'
          : 'may not list an HS algorithm with a public key source',
      )
    }
  }

  return {
    libsqlUrl: libsql,
    libsqlAuthToken: e.LIBSQL_AUTH_TOKEN,
    libsqlTimeoutMs: e.LIBSQL_TIMEOUT_MS ?? DEFAULT_LIBSQL_TIMEOUT_MS,
    auth: {
      keySource,
      algorithms: e.JWT_ALGORITHMS,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      ownerClaim: e.JWT_OWNER_CLAIM ?? defaults.JWT_OWNER_CLAIM,
      clockToleranceS: e.JWT_CLOCK_TOLERANCE_S ?? defaults.JWT_CLOCK_TOLERANCE_S,
    },
    ingest: {
      chunkLines: e.INGEST_CHUNK_LINES ?? defaultLimits.chunkLines,
      chunkBytes: e.INGEST_CHUNK_BYTES ?? defaultLimits.chunkBytes,
      maxBodyBytes: e.INGEST_MAX_BODY_BYTES ?? defaultLimits.maxBodyBytes,
      maxLineBytes: e.INGEST_MAX_LINE_BYTES ?? defaultLimits.maxLineBytes,
      maxErrors: e.INGEST_MAX_ERRORS ?? defaultLimits.maxErrors,
      idleTimeoutMs: e.INGEST_IDLE_TIMEOUT_MS ?? defaultLimits.idleTimeoutMs,
    },
  }
}
