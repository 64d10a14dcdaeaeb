/**
 * The only reader of the environment. Bindings (Workers) or `process.env` (Node) are parsed once,
 * at the entry, into a typed `Config`; nothing else looks at env. A bad value fails closed with
 * CONFIG_INVALID naming the variable, never its value.
 */
import * as v from 'valibot'
import { ApiError, RETRY_AFTER_SECONDS } from './errors'
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
  /** The Node entry's listener and shutdown (`npm run serve`); unused on Workers. */
  server: { host: string; port: number; shutdownGraceMs: number }
}

export const defaultLimits: IngestLimits = {
  chunkLines: 500,
  chunkBytes: 4 * 1024 * 1024,
  maxBodyBytes: 100 * 1024 * 1024,
  maxLineBytes: 1024 * 1024,
  maxErrors: 100,
  idleTimeoutMs: 30_000,
  maxChunks: 0,
  requestTimeoutMs: 600_000,
  maxConcurrent: 32,
  maxConcurrentPerOwner: 8,
  retryAfterS: RETRY_AFTER_SECONDS,
}

/**
 * INGEST_MAX_CHUNKS on Workers: each commit is one subrequest, and the free plan allows 50 per
 * request. 45 leaves room for the JWKS fetch and its one refetch on an unknown kid.
 */
export const WORKERS_MAX_CHUNKS = 45

export const defaults = {
  JWT_OWNER_CLAIM: 'sub',
  JWT_CLOCK_TOLERANCE_S: 30,
  HOST: '127.0.0.1',
  PORT: 8787,
  SHUTDOWN_GRACE_MS: 10_000,
} as const

/** Workers [vars] may arrive as numbers or booleans; the environment always gives strings. */
const raw = v.optional(
  v.pipe(
    v.union([v.string(), v.number()]),
    v.transform((value) => String(value).trim()),
    v.transform((value) => (value === '' ? undefined : value)),
  ),
)

/** Plain decimal digits only: `0x10`, `1e3`, `+5` or `1_000` are refused, not reinterpreted. */
const integerIn = (min: number, max: number) =>
  v.pipe(
    raw,
    v.check((value) => value === undefined || /^\d+$/.test(value), 'must be a whole number'),
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
  v.check((value) => {
    if (!value.startsWith('file:')) return true
    try {
      fileDatabasePath(value)
      return true
    } catch {
      return false
    }
  }, 'must name a database file (file:PATH, file:///PATH or file://localhost/PATH; not :memory:)'),
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
  INGEST_MAX_CHUNKS: integerIn(0, 1_000_000),
  INGEST_REQUEST_TIMEOUT_MS: integerIn(1000, 86_400_000),
  INGEST_MAX_CONCURRENT: integerIn(1, 100_000),
  INGEST_MAX_CONCURRENT_PER_OWNER: integerIn(1, 100_000),
  RETRY_AFTER_S: integerIn(1, 3600),
  HOST: raw,
  PORT: integerIn(0, 65535),
  SHUTDOWN_GRACE_MS: integerIn(0, 600_000),
})

export type ConfigDefaults = { LIBSQL_URL?: string; INGEST_MAX_CHUNKS?: number }

const invalid = (names: string[], why: string) =>
  new ApiError('CONFIG_INVALID', `Configuration invalid: ${names.join(', ')} ${why}`)

/**
 * Parse bindings or `process.env` into a Config. Throws an ApiError CONFIG_INVALID whose message
 * names the variables at fault and says what is expected; a value is never echoed.
 */
export function parseConfig(env: Record<string, unknown>, fallback: ConfigDefaults = {}): Config {
  const e = parseEnv(env)
  const database = databaseConfig(e, fallback)

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

  // A key that any application of the identity provider can get a token from: without an
  // audience and an issuer to pin, a token minted for another application would be accepted.
  if (keySource.kind !== 'secret') {
    const missing = (['JWT_AUDIENCE', 'JWT_ISSUER'] as const).filter(
      (name) => e[name] === undefined,
    )
    if (missing.length > 0) {
      throw invalid(
        missing,
        `${missing.length === 1 ? 'is' : 'are'} required with ${keySource.kind === 'jwks' ? 'JWT_JWKS_URL' : 'JWT_PUBLIC_KEY'}`,
      )
    }
  }

  return {
    ...database,
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
      maxChunks: e.INGEST_MAX_CHUNKS ?? fallback.INGEST_MAX_CHUNKS ?? defaultLimits.maxChunks,
      requestTimeoutMs: e.INGEST_REQUEST_TIMEOUT_MS ?? defaultLimits.requestTimeoutMs,
      maxConcurrent: e.INGEST_MAX_CONCURRENT ?? defaultLimits.maxConcurrent,
      maxConcurrentPerOwner:
        e.INGEST_MAX_CONCURRENT_PER_OWNER ?? defaultLimits.maxConcurrentPerOwner,
      retryAfterS: e.RETRY_AFTER_S ?? defaultLimits.retryAfterS,
    },
    server: {
      host: e.HOST ?? defaults.HOST,
      port: e.PORT ?? defaults.PORT,
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS ?? defaults.SHUTDOWN_GRACE_MS,
    },
  }
}

export type DatabaseConfig = Pick<Config, 'libsqlUrl' | 'libsqlAuthToken' | 'libsqlTimeoutMs'>

/**
 * Only the LIBSQL_* part, for entries that need no key source (`npm run migrate`). The other
 * variables are still validated: a bad one fails here as it would at `npm run serve`.
 */
export function parseDatabaseConfig(
  env: Record<string, unknown>,
  fallback: ConfigDefaults = {},
): DatabaseConfig {
  return databaseConfig(parseEnv(env), fallback)
}

type Env = v.InferOutput<typeof envSchema>

function parseEnv(env: Record<string, unknown>): Env {
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
  return result.output
}

function databaseConfig(e: Env, fallback: ConfigDefaults): DatabaseConfig {
  const libsql = e.LIBSQL_URL ?? fallback.LIBSQL_URL
  if (libsql === undefined) throw invalid(['LIBSQL_URL'], 'is required')
  return {
    libsqlUrl: libsql,
    libsqlAuthToken: e.LIBSQL_AUTH_TOKEN,
    libsqlTimeoutMs: e.LIBSQL_TIMEOUT_MS ?? DEFAULT_LIBSQL_TIMEOUT_MS,
  }
}

/**
 * A `file:` LIBSQL_URL as the one path of its database file, the way @libsql/client reads it:
 * percent-escapes decoded, `file://localhost/` the same as `file:///`, the query dropped. Every
 * side that opens the file (migrations, readiness, the writer thread) takes its path from here,
 * so they all open the same database.
 */
/**
 * The path `url` (a `file:` URL) names: absolute, or relative to the working directory. Throws
 * on `:memory:` (each connection would get an empty database of its own), a host other than
 * localhost, an empty path or a bad escape.
 */
export function fileDatabasePath(url: string): string {
  if (!url.startsWith('file:')) throw new Error('not a file: URL')
  let rest = url.slice('file:'.length)
  const query = rest.search(/[?#]/)
  if (query !== -1) rest = rest.slice(0, query)
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2)
    const host = rest.slice(2, slash === -1 ? rest.length : slash)
    if (host !== '' && host.toLowerCase() !== 'localhost') {
      throw new Error('a file: URL may name no host but localhost')
    }
    rest = slash === -1 ? '' : rest.slice(slash)
  }
  const path = decodeURIComponent(rest)
  if (path === '' || path.includes('\0')) throw new Error('a file: URL must name a file')
  if (path === ':memory:' || path.startsWith(':memory:')) {
    throw new Error('an in-memory database is not one database across connections')
  }
  return path
}
