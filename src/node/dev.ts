/**
 * `npm start`: the worker under `wrangler dev` against a real local libSQL server, offline.
 *
 * 1. checks that PORT (default 8787) and LIBSQL_PORT (default 8080) are free on 127.0.0.1;
 * 2. creates `.dev.vars` with a random JWT_SECRET when it does not exist, else uses it as it is;
 * 3. starts sqld on 127.0.0.1:LIBSQL_PORT with its data in `.data/sqld` (kept across restarts)
 *    and applies the migrations;
 * 4. runs `wrangler dev` on 127.0.0.1:PORT with LIBSQL_URL pointing at that sqld, waits for
 *    `GET /healthz`, and prints a dev token and a curl line that ingests sample/turns.ndjson;
 * 5. on Ctrl-C (SIGINT), SIGTERM or SIGHUP stops wrangler (its whole process group, workerd
 *    included) and then sqld, and exits 0.
 *
 * Environment: PORT, LIBSQL_PORT, and for tests TRIBUTARY_DEV_VARS (path of the .dev.vars file)
 * and TRIBUTARY_DATA_DIR (sqld's data folder).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../config'
import { ApiError } from '../errors'
import { openNodeDatabase } from './database'
import { defaultDevVarsPath, ensureDevVars } from './devvars'
import { applyMigrations } from './migrations'
import { groupAlive, signalGroup } from './procgroup'
import { isPortFree, loopback, type SqldServer, startSqld } from './sqld'
import { signFromDevVars } from './token'
import { spawnWranglerDev, waitForHealthz } from './wrangler'

const root = fileURLToPath(new URL('../../', import.meta.url))
const samplePath = join(root, 'sample', 'turns.ndjson')
const devTokenTtlSeconds = 24 * 3600
const readyTimeoutMs = 60_000
const stopTimeoutMs = 5000

/** A plain message for the user, printed without a stack. */
class Fatal extends Error {}

const say = (text = '') => process.stdout.write(`${text}\n`)
const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms))

function portFromEnv(name: string, fallback: number): number {
  const text = process.env[name]?.trim()
  if (text === undefined || text === '') return fallback
  const port = Number(text)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Fatal(`${name} must be a port number between 1 and 65535`)
  }
  return port
}

/** How the user's shell (where `npm start` was typed) reaches a repository file. */
function shownPath(path: string): string {
  const from = process.env.INIT_CWD ?? process.cwd()
  const shown = relative(from, path)
  return shown === '' || shown.startsWith('..') ? path : shown
}

const quote = (text: string) =>
  /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`

/** When a child last wrote a line: the ready message waits for its output to settle. */
let lastOutputAt = 0

/**
 * wrangler dev compares worker-configuration.d.ts with types built from the local .dev.vars and
 * says they "might be out of date" whenever .dev.vars holds anything. The checked-in types are
 * built without .dev.vars on purpose (`npm run cf-typegen`, `-- --check` catches real drift).
 */
const noise = /Your types might be out of date/

/** Copy a child's output to ours, each line prefixed, so it reads apart from npm start's own. */
function relay(stream: Readable | null, prefix: string): void {
  if (stream === null) return
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    lastOutputAt = Date.now()
    const lines = (rest + chunk).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) if (!noise.test(line)) process.stdout.write(`${prefix}${line}\n`)
  })
  stream.on('end', () => {
    if (rest !== '') process.stdout.write(`${prefix}${rest}\n`)
  })
}

/** SIGTERM to the whole group, SIGKILL after a grace period; resolves when no member is left. */
async function stopGroup(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  const pgid = child.pid
  if (pgid === undefined) return
  signalGroup(pgid, 'SIGTERM')
  const deadline = Date.now() + stopTimeoutMs
  await Promise.race([exited, sleep(stopTimeoutMs)])
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50)
  if (groupAlive(pgid)) {
    signalGroup(pgid, 'SIGKILL')
    await exited
    for (let i = 0; i < 40 && groupAlive(pgid); i++) await sleep(50)
  }
}

function startWrangler(port: number, libsqlUrl: string, devVarsPath: string): ChildProcess {
  const args = ['--var', `LIBSQL_URL:${libsqlUrl}`]
  // wrangler reads .dev.vars next to wrangler.toml by itself; another file is passed explicitly.
  if (resolve(devVarsPath) !== defaultDevVarsPath) args.push('--env-file', devVarsPath)
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.CLOUDFLARE_ENV
  return spawnWranglerDev(port, args, env)
}

async function waitForWorker(url: string, gaveUp: Promise<unknown>): Promise<void> {
  const outcome = await waitForHealthz(url, gaveUp, readyTimeoutMs)
  if (outcome === 'gave up')
    throw new Fatal('wrangler dev exited before the worker was ready (see its output above)')
  if (outcome === 'timed out')
    throw new Fatal(
      `the worker did not answer ${url}/healthz within ${readyTimeoutMs / 1000} s (see wrangler's output above)`,
    )
}

async function main(): Promise<number> {
  const port = portFromEnv('PORT', 8787)
  const libsqlPort = portFromEnv('LIBSQL_PORT', 8080)
  if (port === libsqlPort) throw new Fatal(`PORT and LIBSQL_PORT are both ${port}: pick two ports`)
  const devVarsPath = resolve(process.env.TRIBUTARY_DEV_VARS?.trim() || defaultDevVarsPath)
  const dataDir = resolve(process.env.TRIBUTARY_DATA_DIR?.trim() || join(root, '.data', 'sqld'))

  // Both ports before anything starts.
  for (const [name, value] of [
    ['PORT', port],
    ['LIBSQL_PORT', libsqlPort],
  ] as const) {
    if (!(await isPortFree(value))) {
      throw new Fatal(
        `port ${value} is in use (${name}): stop what listens there, or start with ${name}=<another port>`,
      )
    }
  }

  const { vars, created } = await ensureDevVars(devVarsPath)
  const libsqlUrl = `http://${loopback}:${libsqlPort}`
  try {
    parseConfig({ ...vars, LIBSQL_URL: libsqlUrl })
  } catch (error) {
    if (error instanceof ApiError) {
      throw new Fatal(`CONFIG_INVALID in ${shownPath(devVarsPath)}: ${error.message}`)
    }
    throw error
  }
  say(
    created
      ? `created ${shownPath(devVarsPath)} with a new random JWT_SECRET`
      : `using ${shownPath(devVarsPath)}`,
  )
  if (vars.LIBSQL_URL !== undefined && vars.LIBSQL_URL.trim() !== '') {
    say(`note: LIBSQL_URL in ${shownPath(devVarsPath)} is ignored; the worker uses ${libsqlUrl}`)
  }

  let sqld: Promise<SqldServer> | undefined
  let wrangler: ChildProcess | undefined
  let wranglerExited: Promise<number> | undefined
  let stopping: Promise<void> | undefined
  // After a signal the handler owns the shutdown; the startup steps just stop here.
  const forever = () => new Promise<never>(() => {})

  // Wrangler first (it talks to sqld), then sqld, even if sqld is still starting.
  const stopAll = () => {
    stopping ??= (async () => {
      if (wrangler !== undefined && wranglerExited !== undefined) {
        await stopGroup(wrangler, wranglerExited)
      }
      const server = await sqld?.catch(() => undefined)
      await server?.stop()
    })()
    return stopping
  }

  let signalled = false
  let signalledAt = 0
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      // One Ctrl-C can arrive twice (from the terminal, and relayed by npm or tsx): only a
      // second press a moment later means "do not wait any longer".
      if (Date.now() - signalledAt < 1000) return
      if (wrangler?.pid !== undefined) signalGroup(wrangler.pid, 'SIGKILL')
      void sqld?.then((server) => server.kill('SIGKILL'))
      setTimeout(() => process.exit(130), 100)
      return
    }
    signalled = true
    signalledAt = Date.now()
    say(`\n${signal}: stopping wrangler and sqld…`)
    void stopAll().then(
      () => {
        say('stopped.')
        process.exit(0)
      },
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal)
  // Last resort if this process ends some other way (a crash): no child may outlive it.
  let started: SqldServer | undefined
  process.on('exit', () => {
    if (wrangler?.pid !== undefined && wrangler.exitCode === null && wrangler.signalCode === null) {
      signalGroup(wrangler.pid, 'SIGKILL')
    }
    started?.kill('SIGKILL')
  })

  try {
    mkdirSync(dataDir, { recursive: true })
    sqld = startSqld({ port: libsqlPort, dataDir, logFile: join(dataDir, 'sqld.log') })
    const server = await sqld
    started = server
    if (signalled) return await forever()
    const client = await openNodeDatabase(server.url)
    try {
      await applyMigrations(client)
    } finally {
      client.close()
    }
    // Checked in the same tick as the spawn: a signal either comes before (no wrangler) or
    // after (stopAll sees it).
    if (signalled) return await forever()
    wrangler = startWrangler(port, libsqlUrl, devVarsPath)
    relay(wrangler.stdout, 'wrangler │ ')
    relay(wrangler.stderr, 'wrangler │ ')
    const child = wrangler
    wranglerExited = new Promise<number>((resolveExit) => {
      child.once('exit', (code) => resolveExit(code ?? 1))
      child.once('error', () => resolveExit(1))
    })

    const url = `http://${loopback}:${port}`
    await waitForWorker(url, wranglerExited)
    // Let wrangler log the probe requests first, so the ready message comes last.
    const settleBy = Date.now() + 1500
    while (Date.now() < settleBy && Date.now() - lastOutputAt < 300) await sleep(50)
    if (signalled) return await forever()

    const token = vars.JWT_SECRET?.trim()
      ? await signFromDevVars(vars, 'dev', devTokenTtlSeconds)
      : undefined
    const curl = [
      'curl -sS -X POST',
      `${url}/v1/ingest`,
      token === undefined
        ? "-H 'Authorization: Bearer <token>'"
        : `-H 'Authorization: Bearer ${token}'`,
      "-H 'Content-Type: application/x-ndjson'",
      `--data-binary @${quote(shownPath(samplePath))}`,
    ].join(' ')
    say()
    say('tributary is running')
    say(`  worker  ${url}  (wrangler dev, src/index.ts)`)
    say(`  libSQL  ${server.url}  (sqld, data in ${shownPath(dataDir)})`)
    say()
    if (token === undefined) {
      say(
        `no JWT_SECRET in ${shownPath(devVarsPath)}: sign a token with your own key for owner "dev"`,
      )
    } else {
      say(
        `dev token, owner "dev", valid 24 h (another: npm run -s token -- --sub <owner> --ttl 1h):`,
      )
      say(`  ${token}`)
    }
    if (token !== undefined) {
      say()
      // The token rides in the fragment, which browsers never send to a server or a log.
      say('open the page (the token is taken from the link, then cleared from the address bar):')
      say(`  ${url}/#token=${token}`)
    }
    say()
    say('ingest the sample file:')
    say(`  ${curl}`)
    if (token !== undefined) {
      say()
      say('push your Claude Code and Codex sessions:')
      say(`  npx tributary push --url ${url} --token ${token}`)
    }
    say()
    say('Ctrl-C stops the worker and sqld.')

    // Either child dying on its own ends the session: stop the other one too.
    const sqldExit = server.exited.then(() => 'sqld' as const)
    const wranglerExit = wranglerExited.then(() => 'wrangler dev' as const)
    const which = await Promise.race([sqldExit, wranglerExit])
    if (signalled) return await forever()
    process.stderr.write(`${which} exited unexpectedly; stopping\n`)
    await stopAll()
    return 1
  } catch (error) {
    if (signalled) return await forever()
    await stopAll()
    throw error
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(
      error instanceof Fatal || message.startsWith('port ') || message.startsWith('sqld ')
        ? `npm start: ${message}\n`
        : `npm start: ${error instanceof Error ? (error.stack ?? message) : message}\n`,
    )
    process.exit(1)
  },
)
