/**
 * What one `npm run bench` run is set to (environment knobs, read once) and what every phase
 * shares: the server's secret and tokens, its environment and node flags, the log.
 */
import { join } from 'node:path'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { SignJWT } from 'jose'
import { defaultLimits } from '../src/config'
import type { IngestLimits } from '../src/types'
import { root } from './servers'

export const MB = 1024 * 1024

export const settings = {
  sessions: intFromEnv('BENCH_SESSIONS', 1000),
  seed: intFromEnv('BENCH_SEED', 1),
  nonAsciiLines: Number(process.env.BENCH_NON_ASCII ?? '0.25'),
  rounds: intFromEnv('BENCH_ROUNDS', 5),
  chunkLines: intFromEnv('BENCH_CHUNK_LINES', defaultLimits.chunkLines),
  memoryMb: (process.env.BENCH_MEMORY_MB ?? '100,1024')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0),
  phases: new Set(
    (process.env.BENCH_PHASES ?? 'parse,limit,node,latency,memory,worker,read')
      .split(',')
      .map((s) => s.trim()),
  ),
  profile: process.env.BENCH_PROFILE === '1',
  nodeFlags: (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((flag) => flag !== ''),
  out: process.env.BENCH_OUT ?? join(root, 'bench', 'results.json'),
}

/** A positive integer from the environment variable `name`, `fallback` when unset or empty. */
export function intFromEnv(name: string, fallback: number): number {
  const text = process.env[name]?.trim()
  if (text === undefined || text === '') return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`)
  return n
}

export const SECRET = `bench-secret-${'x'.repeat(32)}`
export const limits: IngestLimits = { ...defaultLimits, chunkLines: settings.chunkLines }

export const log = (text: string) => process.stderr.write(`${text}\n`)

/**
 * A full GC of this process before each timed run: its heap holds the corpus and its rows, and
 * V8's concurrent GC threads would otherwise take cores from the run being measured.
 */
v8.setFlagsFromString('--expose-gc')
export const collectGarbage = runInNewContext('gc') as () => void

/** An HS256 token for owner `sub` that every server of the run accepts. */
export const token = (sub: string) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(SECRET))

export const serveEnv = (extra: Record<string, string> = {}) => ({
  INGEST_CHUNK_LINES: String(settings.chunkLines),
  ...extra,
})

/** Node flags for every server process: BENCH_NODE_FLAGS, and the profiler when asked for. */
export const profileArgs = () => [
  ...settings.nodeFlags,
  ...(settings.profile ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench', 'profiles')] : []),
]
