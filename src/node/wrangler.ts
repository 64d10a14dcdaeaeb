/**
 * `wrangler dev` as `npm start` and the benchmark run it: local, on 127.0.0.1, offline (no
 * metrics, no error reports, no update check, no account), in a process group of its own so that
 * stopping the group reaches workerd and esbuild too.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loopback } from './sqld'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The variables that keep wrangler from phoning home or prompting. */
export const offlineWranglerEnv = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  // The banner runs an update check against the npm registry.
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'true',
  CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
} as const

/**
 * Spawn `wrangler dev` for wrangler.toml on 127.0.0.1:`port`, detached, stdout and stderr piped.
 * `args` adds flags (vars, an env file, ...); `env` is the environment the offline variables are
 * laid over.
 */
export function spawnWranglerDev(
  port: number,
  args: string[],
  env: NodeJS.ProcessEnv,
): ChildProcess {
  const bin = join(
    dirname(createRequire(import.meta.url).resolve('wrangler/package.json')),
    'bin',
    'wrangler.js',
  )
  return spawn(
    process.execPath,
    [
      bin,
      'dev',
      '--config',
      join(root, 'wrangler.toml'),
      '--local',
      '--ip',
      loopback,
      '--port',
      String(port),
      '--inspector-ip',
      loopback,
      '--show-interactive-dev-session=false',
      ...args,
    ],
    {
      cwd: root,
      env: { ...env, ...offlineWranglerEnv },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
}

/**
 * Poll `url`/healthz every 200 ms until the worker answers 200 (`ready`), `gaveUp` settles (the
 * process behind it exited, say), or `timeoutMs` has passed.
 */
export async function waitForHealthz(
  url: string,
  gaveUp: Promise<unknown>,
  timeoutMs: number,
): Promise<'ready' | 'gave up' | 'timed out'> {
  let over = false
  const end = () => {
    over = true
  }
  gaveUp.then(end, end)
  const deadline = Date.now() + timeoutMs
  while (!over && Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })
      await response.body?.cancel()
      if (response.ok) return 'ready'
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return over ? 'gave up' : 'timed out'
}
