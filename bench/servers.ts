/**
 * The servers under test, each a child process so that its memory is its own: `npm run serve`'s
 * bundle with its node flags on a fresh embedded file database, and the worker under
 * `wrangler dev` against a local sqld. All bind 127.0.0.1; all are stopped by procs.stopAll().
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openNodeDatabase } from '../src/node/database'
import { applyMigrations } from '../src/node/migrations'
import { findFreePort, loopback, type SqldServer, startSqld } from '../src/node/sqld'
import { spawnWranglerDev, waitForHealthz } from '../src/node/wrangler'
import { memoryOf, removeFolder, tempFolder, track, trackStop } from './procs'

export const root = fileURLToPath(new URL('../', import.meta.url))

/** The parent's environment without anything tributary, libSQL or wrangler would read. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(JWT_|INGEST_|LIBSQL_|PORT$|CLOUDFLARE_|WRANGLER_|SQLD_|NODE_OPTIONS$)/.test(key))
      continue
    env[key] = value
  }
  return env
}

/** Keep the last few KB a child printed, to show when it fails. */
function tail(child: ChildProcess): () => string {
  let text = ''
  const take = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-4000)
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  return () => text
}

export type Server = {
  url: string
  pid: number
  /** Peak and current RSS of the server process itself (the node process, or workerd). */
  memory(): { rss: number; peak: number } | undefined
  /** Highest RSS seen by the 20 ms sampler since the start or the last reset. */
  sampledPeak(): number
  resetSampledPeak(): void
  /** The last few KB the server printed. */
  output(): string
  stop(): Promise<void>
}

function sampler(pid: () => number | undefined) {
  let peak = 0
  const timer = setInterval(() => {
    const id = pid()
    const m = id === undefined ? undefined : memoryOf(id)
    if (m !== undefined && m.rss > peak) peak = m.rss
  }, 20)
  timer.unref()
  return {
    peak: () => peak,
    reset: () => {
      peak = 0
    },
    stop: () => clearInterval(timer),
  }
}

/**
 * A started server: its RSS sampled every 20 ms from now on; `stop` ends the sampler, the
 * process (`handle`) and its temporary folder.
 */
function running(
  url: string,
  pid: number,
  output: () => string,
  handle: { stop(): Promise<void> },
  dir: string,
): Server {
  const memory = sampler(() => pid)
  return {
    url,
    pid,
    memory: () => memoryOf(pid),
    sampledPeak: memory.peak,
    resetSampledPeak: memory.reset,
    output,
    async stop() {
      memory.stop()
      await handle.stop()
      removeFolder(dir)
    },
  }
}

export type ServeOptions = {
  secret: string
  env?: Record<string, string>
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[]
  log?: (line: string) => void
}

/**
 * What `npm run serve` runs after its build: the environment it sets, the node flags and the
 * bundled entry, read from package.json so the benchmark measures the server as it is started.
 */
export function serveCommand(): { env: Record<string, string>; flags: string[]; entry: string } {
  const scripts = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
  ).scripts
  const match = /&&((?:\s+[A-Z_]+=\S+)*)\s+exec\s+node((?:\s+--\S+)*)\s+(dist\/\S+\.mjs)\s*$/.exec(
    scripts.serve ?? '',
  )
  if (match?.[3] === undefined) throw new Error(`cannot read the serve script: ${scripts.serve}`)
  const words = (text: string | undefined) => (text ?? '').split(/\s+/).filter((w) => w !== '')
  const env = Object.fromEntries(
    words(match[1]).map((assignment) => assignment.split('=', 2) as [string, string]),
  )
  return { env, flags: words(match[2]), entry: join(root, match[3]) }
}

/**
 * The bundles the benchmark runs: `npm run build` (what `npm run serve` starts) and
 * bench/parse.ts bundled the same way, so the parse figure is the code the server runs (not
 * tsx's transform of it, which wraps every named function).
 */
export function buildBundles(): { parse: string } {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' })
  const parse = join(root, 'dist', 'bench', 'parse.mjs')
  execFileSync(
    join(root, 'node_modules', '.bin', 'esbuild'),
    [
      join(root, 'bench', 'parse.ts'),
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--packages=external',
      `--outfile=${parse}`,
      '--log-level=warning',
    ],
    { cwd: root, stdio: 'inherit' },
  )
  return { parse }
}

/**
 * `npm run serve` as a child, built beforehand (buildBundles): its environment, `node <its flags>
 * dist/node/serve.mjs`
 * (one process, so its RSS is the server's) on a fresh file database in a temporary folder,
 * PORT=0.
 */
export async function startServe(options: ServeOptions): Promise<Server> {
  const dir = tempFolder('serve')
  const { env, flags, entry } = serveCommand()
  const child = spawn(process.execPath, [...flags, ...(options.nodeArgs ?? []), entry], {
    cwd: root,
    env: {
      ...cleanEnv(),
      ...env,
      PORT: '0',
      LIBSQL_URL: `file:${join(dir, 'tributary.db')}`,
      JWT_SECRET: options.secret,
      ...options.env,
    },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = tail(child)
  const handle = track('serve', child)
  const url = await new Promise<string>((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output()}`)), 30_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8')
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited (${code}) before listening:\n${output()}`))
    })
  }).catch(async (error: unknown) => {
    await handle.stop()
    removeFolder(dir)
    throw error
  })
  return running(url, child.pid as number, output, handle, dir)
}

/** A fresh, migrated sqld in a temporary folder. */
export async function startBenchSqld(): Promise<SqldServer & { dir: string }> {
  const dir = tempFolder('sqld')
  const sqld = await startSqld({ dataDir: dir })
  const stopSqld = sqld.stop
  const handle = trackStop(
    'sqld',
    async () => {
      await stopSqld()
      removeFolder(dir)
    },
    () => sqld.kill('SIGKILL'),
  )
  try {
    const client = await openNodeDatabase(sqld.url)
    try {
      await applyMigrations(client)
    } finally {
      client.close()
    }
  } catch (error) {
    await handle.stop()
    throw error
  }
  return { ...sqld, dir, stop: handle.stop }
}

/** workerd's pid under a wrangler process group (for its RSS), when it can be found. */
function workerdPid(pgid: number): number | undefined {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,comm=', '-g', String(pgid)], { encoding: 'utf8' })
    const line = out.split('\n').find((l) => l.includes('workerd'))
    return line === undefined ? undefined : Number(line.trim().split(/\s+/)[0])
  } catch {
    return undefined
  }
}

/**
 * The worker under `wrangler dev` (local mode, offline: the same flags as src/node/dev.ts) with
 * LIBSQL_URL pointing at `libsqlUrl`. Secrets come from a temporary env file, never .dev.vars.
 */
export async function startWorker(
  libsqlUrl: string,
  secret: string,
  vars: Record<string, string> = {},
): Promise<Server> {
  const dir = tempFolder('wrangler')
  const envFile = join(dir, 'bench.env')
  writeFileSync(envFile, `JWT_SECRET=${secret}\n`, { mode: 0o600 })
  const port = await findFreePort()
  const child = spawnWranglerDev(
    port,
    [
      '--inspector-port',
      String(await findFreePort()),
      '--persist-to',
      join(dir, 'state'),
      '--env-file',
      envFile,
      '--var',
      `LIBSQL_URL:${libsqlUrl}`,
      ...Object.entries(vars).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
      '--log-level',
      'warn',
    ],
    cleanEnv(),
  )
  const output = tail(child)
  const handle = track('wrangler dev', child)
  const url = `http://${loopback}:${port}`
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  if ((await waitForHealthz(url, exited, 90_000)) !== 'ready') {
    await handle.stop()
    removeFolder(dir)
    throw new Error(`wrangler dev did not become ready:\n${output()}`)
  }
  const pid = child.pid as number
  const workerd = workerdPid(pid) ?? pid
  return running(url, workerd, output, handle, dir)
}
