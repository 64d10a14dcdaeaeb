/**
 * `npm run token -- --sub alice [--ttl 1h]`: print a JWT the local server accepts, signed with
 * JWT_SECRET (and carrying JWT_ISSUER / JWT_AUDIENCE) from the environment when it sets
 * JWT_SECRET, else from `.dev.vars`.
 * Prints only the token, so `TOKEN=$(npm run -s token -- --sub alice)` works.
 */
import { realpathSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SignJWT } from 'jose'
import { type DevVars, defaultDevVarsPath, readDevVars } from './devvars'

export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512'

export type DevTokenOptions = {
  secret: string
  /** The owner: written to `sub`, and to the owner claim too when that is another claim. */
  sub: string
  /** Lifetime in seconds. */
  ttlSeconds: number
  issuer?: string | undefined
  audience?: string | undefined
  ownerClaim?: string | undefined
  algorithm?: HmacAlgorithm
  /** Seconds since the epoch; default now. */
  now?: number
}

const units = { s: 1, m: 60, h: 3600, d: 86_400 } as const

/** `90`, `90s`, `15m`, `1h`, `7d` -> seconds. Throws on anything else or on zero. */
export function parseTtl(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  const amount = Number(match?.[1])
  if (match === null || !Number.isSafeInteger(amount) || amount <= 0) {
    throw new Error(`--ttl must be a positive number of s, m, h or d (like 30m or 1h), not ${text}`)
  }
  return amount * units[(match[2] || 's') as keyof typeof units]
}

/** Sign an HMAC JWT for `sub` (default HS256) with `iat` and `exp`, plus `iss`/`aud` when given. */
export async function signDevToken(options: DevTokenOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = {}
  const ownerClaim = options.ownerClaim ?? 'sub'
  if (ownerClaim !== 'sub') claims[ownerClaim] = options.sub
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.algorithm ?? 'HS256', typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSeconds)
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer)
  if (options.audience !== undefined) jwt.setAudience(options.audience)
  return jwt.sign(new TextEncoder().encode(options.secret))
}

const setting = (vars: DevVars, name: string): string | undefined => {
  const value = vars[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

/**
 * A token the worker configured by `vars` (the values of `.dev.vars`) accepts for owner `sub`:
 * its secret, issuer, audience and owner claim; HS256 unless JWT_ALGORITHMS leaves it out, then
 * the first HS algorithm listed. Throws when there is no JWT_SECRET to sign with.
 */
export function signFromDevVars(vars: DevVars, sub: string, ttlSeconds: number): Promise<string> {
  const secret = setting(vars, 'JWT_SECRET')
  if (secret === undefined) {
    throw new Error(
      'JWT_SECRET is not set in .dev.vars: dev tokens are signed with that shared secret ' +
        '(add JWT_SECRET=<at least 32 bytes> there, or move the file away and let npm start create one)',
    )
  }
  const listed = (setting(vars, 'JWT_ALGORITHMS') ?? 'HS256').split(',').map((alg) => alg.trim())
  const algorithm = (['HS256', 'HS384', 'HS512'] as const).find((alg) => listed.includes(alg))
  if (algorithm === undefined) {
    throw new Error('JWT_ALGORITHMS in .dev.vars lists no HS algorithm to sign with JWT_SECRET')
  }
  return signDevToken({
    secret,
    sub,
    ttlSeconds,
    issuer: setting(vars, 'JWT_ISSUER'),
    audience: setting(vars, 'JWT_AUDIENCE'),
    ownerClaim: setting(vars, 'JWT_OWNER_CLAIM'),
    algorithm,
  })
}

/** The JWT_* variables of `env` when it sets JWT_SECRET; undefined when it does not. */
export function jwtVarsFromEnv(env: Record<string, string | undefined>): DevVars | undefined {
  if (!env.JWT_SECRET?.trim()) return undefined
  const names = ['JWT_SECRET', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_ALGORITHMS', 'JWT_OWNER_CLAIM']
  return Object.fromEntries(
    names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])),
  )
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { sub: { type: 'string' }, ttl: { type: 'string', default: '1h' } },
    strict: true,
  })
  const sub = values.sub?.trim()
  if (sub === undefined || sub === '') {
    throw new Error('usage: npm run token -- --sub <owner> [--ttl 1h]')
  }
  if ([...sub].length > 255) throw new Error('--sub must be at most 255 characters')
  const ttlSeconds = parseTtl(values.ttl)
  // Read here, at the entry. A JWT_SECRET in the environment (how `npm run serve` is
  // configured) wins over .dev.vars; TRIBUTARY_DEV_VARS points npm start and this script elsewhere.
  const fromEnv = jwtVarsFromEnv(process.env)
  const path = process.env.TRIBUTARY_DEV_VARS?.trim() || defaultDevVarsPath
  const vars = fromEnv ?? (await readDevVars(path))
  if (vars === undefined) {
    const near = relative(process.cwd(), path)
    const shown = near === '' || near.startsWith('..') ? path : near
    throw new Error(
      `no JWT_SECRET in the environment and ${shown} not found: set JWT_SECRET, run npm start once to create the file, or write JWT_SECRET=... there`,
    )
  }
  process.stdout.write(`${await signFromDevVars(vars, sub, ttlSeconds)}\n`)
}

const entry = process.argv[1]
if (entry !== undefined && realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((error: unknown) => {
    process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  })
}
