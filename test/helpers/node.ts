/**
 * Real sockets for the guarantee, fault, concurrency and load tests: a tributary Node server
 * over a database the test chooses (a temporary file, or a real sqld it starts and kills), and
 * POSTs that stream their body piece by piece the way a collector does.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Client } from '@libsql/client'
import { afterAll, beforeAll } from 'vitest'
import { parseConfig } from '../../src/config'
import { openNodeDatabase } from '../../src/node/database'
import { type NodeServer, startNodeServer } from '../../src/node/server'
import { type SqldServer, startSqld } from '../../src/node/sqld'
import { tokenFor } from './app'
import { createTestDatabase, type TestDatabase } from './db'
import { SECRET } from './keys'

export type Answer = {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Record<string, unknown>
  /** Milliseconds from the request's start to the end of the answer. */
  ms: number
}

/**
 * A streaming POST to `/v1/ingest` as `owner`: `write` pieces when you like, then `end` them,
 * or `destroy` the request as a client that goes away would.
 */
export async function openIngest(
  baseUrl: string,
  owner: string,
  headers: Record<string, string> = {},
) {
  const started = Date.now()
  const req = request(`${baseUrl}/v1/ingest`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor(owner)}`,
      'content-type': 'application/x-ndjson',
      ...headers,
    },
  })
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (piece: string) => {
        text += piece
      })
      res.on('error', reject)
      res.on('end', () => {
        try {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: JSON.parse(text) as Record<string, unknown>,
            ms: Date.now() - started,
          })
        } catch (error) {
          reject(error)
        }
      })
    })
    req.on('error', reject)
  })
  answer.catch(() => {}) // a destroyed request rejects; tests that destroy may not await it
  req.flushHeaders()
  return { req, answer }
}

/** One whole body in one POST over a real socket. */
export async function postIngest(
  baseUrl: string,
  owner: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const { req, answer } = await openIngest(baseUrl, owner, headers)
  req.end(body)
  return answer
}

/** GET a path; the status and how long it took. */
export async function getStatus(url: string): Promise<{ status: number; ms: number }> {
  const started = Date.now()
  const res = await fetch(url)
  await res.body?.cancel()
  return { status: res.status, ms: Date.now() - started }
}

export type Stack = {
  server: NodeServer
  /** A second client on the same database, for the test to read what landed. */
  reader: Client
  sqld: SqldServer | undefined
  dataDir: string
  /** sqld again, on the same port and data (after a kill or stop). */
  restartSqld(): Promise<SqldServer>
  close(): Promise<void>
}

/**
 * tributary on 127.0.0.1 over a fresh database: a temporary `file:` database, or with
 * `sqld: true` a real sqld on a free port. `env` adds variables (INGEST_*, LIBSQL_TIMEOUT_MS).
 * `close` stops everything it started, sqld included, whatever state the test left it in.
 */
export async function startStack(
  options: { sqld?: boolean; env?: Record<string, string> } = {},
): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-stack-'))
  const started: SqldServer[] = []
  let server: NodeServer | undefined
  let reader: Client | undefined
  const close = async () => {
    await server?.close().catch(() => {})
    reader?.close()
    await Promise.all(started.map((s) => s.stop()))
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    let sqld: SqldServer | undefined
    if (options.sqld === true) {
      sqld = await startSqld({ dataDir: join(dataDir, 'sqld') })
      started.push(sqld)
    }
    const url = sqld?.url ?? `file:${join(dataDir, 'tributary.db')}`
    const config = parseConfig({ LIBSQL_URL: url, JWT_SECRET: SECRET, ...options.env })
    server = await startNodeServer(config, { port: 0, log: () => {}, info: () => {} })
    reader = await openNodeDatabase(url)
    const stack: Stack = {
      server,
      reader,
      sqld,
      dataDir,
      async restartSqld() {
        const port = stack.sqld?.port
        if (port === undefined) throw new Error('this stack has no sqld')
        await stack.sqld?.stop()
        const again = await startSqld({ dataDir: join(dataDir, 'sqld'), port })
        started.push(again)
        stack.sqld = again
        return again
      },
      close,
    }
    return stack
  } catch (error) {
    await close()
    throw error
  }
}

/** The file's server and database (set before its tests), and what the server logged. */
export type FileServer = {
  db: TestDatabase
  server: NodeServer
  /** Info notes (a client gone, …) and error lines, in order; the test may empty them. */
  infos: string[]
  errors: string[]
}

/**
 * A Node server on 127.0.0.1 over a fresh temporary database for the calling file: started
 * before its tests (after `prepare` ran on the database), stopped after them.
 */
export function serverForFile(
  env: Record<string, string> = {},
  prepare?: (db: TestDatabase) => Promise<void>,
): FileServer {
  const file = { infos: [], errors: [] } as unknown as FileServer
  beforeAll(async () => {
    file.db = await createTestDatabase()
    await prepare?.(file.db)
    const config = parseConfig({ LIBSQL_URL: file.db.url, JWT_SECRET: SECRET, ...env })
    file.server = await startNodeServer(config, {
      port: 0,
      log: (message) => file.errors.push(message),
      info: (message) => file.infos.push(message),
    })
  })
  afterAll(async () => {
    await file.server?.close()
    await file.db?.close()
  })
  return file
}

/** The turn ids of `owner`, sorted. */
export async function turnIdsOf(client: Client, owner: string): Promise<string[]> {
  const result = await client.execute({
    sql: 'select turn_id from turns where owner = ? order by turn_id',
    args: [owner],
  })
  return result.rows.map((row) => String(row.turn_id))
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

export type ChildServer = {
  url: string
  pid: number
  /** The `file:` database it serves. */
  databaseUrl: string
  /** Resident memory now, in bytes. */
  rss(): number
  /** The highest resident memory so far (Linux VmHWM), in bytes; undefined where unknown. */
  peakRss(): number | undefined
  /** Everything it printed so far, stdout and stderr. */
  output(): string
  /** SIGTERM, then SIGKILL after 5 s; removes its temporary folder. */
  stop(): Promise<void>
  /** Send a signal to the process. */
  kill(signal: NodeJS.Signals): void
  /** Its exit code (null when a signal ended it), once it has exited. */
  exited: Promise<number | null>
}

const procStatus = (pid: number, field: string): number | undefined => {
  const path = `/proc/${pid}/status`
  if (!existsSync(path)) return undefined
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(path, 'utf8'))
  return match === null ? undefined : Number(match[1]) * 1024
}

/**
 * `npm run serve`'s entry, from source under tsx (no build step in the tests; the benchmark
 * measures the bundle), as a child process (its own heap, so its memory can be measured apart
 * from the test's), on 127.0.0.1 and a free port, over a `file:` database in a temporary folder.
 * `env` adds variables (INGEST_*); the parent's environment is not passed on beyond PATH/HOME.
 */
export async function spawnServer(env: Record<string, string> = {}): Promise<ChildServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-child-'))
  const databaseUrl = `file:${join(dir, 'tributary.db')}`
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'src/node/serve.ts')],
    {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? dir,
        PORT: '0',
        LIBSQL_URL: databaseUrl,
        JWT_SECRET: SECRET,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const exitCode = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  const exited = exitCode.then(() => {})
  let output = ''
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])
      if (!done) {
        child.kill('SIGKILL')
        await exited
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000)
      const collect = (data: Buffer) => {
        output += data.toString()
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
        if (match?.[1] !== undefined) {
          clearTimeout(timer)
          resolve(match[1])
        }
      }
      child.stdout?.on('data', collect)
      child.stderr?.on('data', collect)
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`server exited (${code}) before it listened:\n${output}`))
      })
    })
    const pid = child.pid as number
    return {
      url,
      pid,
      databaseUrl,
      rss: () =>
        procStatus(pid, 'VmRSS') ??
        Number(
          execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
            .toString()
            .trim(),
        ) * 1024,
      peakRss: () => procStatus(pid, 'VmHWM'),
      output: () => output,
      stop,
      kill: (signal) => child.kill(signal),
      exited: exitCode,
    }
  } catch (error) {
    await stop()
    throw error
  }
}
