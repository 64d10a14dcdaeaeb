/**
 * `npm start` end to end: the orchestrator as a child process on free ports with its own
 * .dev.vars and data folder, the worker under wrangler dev on a real sqld, then Ctrl-C and
 * nothing left behind. Linux only: it walks /proc to find every process npm start started.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jwtVerify } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { findFreePort, isPortFree } from '../../src/node/sqld'
import { signDevToken } from '../../src/node/token'

const root = fileURLToPath(new URL('../../', import.meta.url))
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs')
const secret = 'dev-test-secret-0123456789abcdef-0123456789'

const dirs: string[] = []
const children: ChildProcess[] = []

afterAll(() => {
  // Last resort if a test failed half way: nothing may outlive the suite.
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

type Proc = { pid: number; ppid: number; state: string; command: string }

function processes(): Proc[] {
  const list: Proc[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const command = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
      list.push({ pid: Number(name), ppid: Number(fields[1]), state: fields[0] ?? '?', command })
    } catch {
      // exited while we looked
    }
  }
  return list
}

function descendants(pid: number): Proc[] {
  const all = processes()
  const found: Proc[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const parent = queue.shift()
    for (const proc of all) {
      if (proc.ppid === parent) {
        found.push(proc)
        queue.push(proc.pid)
      }
    }
  }
  return found
}

/** Still running: present in /proc and not a zombie waiting to be reaped. */
const running = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

function startDev(env: Record<string, string>) {
  const child = spawn(process.execPath, [tsx, 'src/node/dev.ts'], {
    cwd: root,
    env: { ...process.env, ...env, INIT_CWD: root },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  const waitFor = async (pattern: RegExp, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline && child.exitCode === null) {
      const match = pattern.exec(output)
      if (match !== null) return match
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const match = pattern.exec(output)
    if (match !== null) return match
    throw new Error(`npm start never printed ${pattern}:\n${output}`)
  }
  return { child, exited, waitFor, output: () => output }
}

describe.skipIf(process.platform !== 'linux')('npm start (src/node/dev.ts)', () => {
  it('runs the worker on sqld with .dev.vars honoured, then stops everything on Ctrl-C', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-dev-'))
    dirs.push(dir)
    const devVars = join(dir, '.dev.vars')
    writeFileSync(
      devVars,
      [
        '# written before npm start: must be used as it is',
        `JWT_SECRET=${secret}`,
        'JWT_ISSUER=https://issuer.test',
        'JWT_AUDIENCE="tributary-dev"',
        'INGEST_CHUNK_LINES=3',
        '',
      ].join('\n'),
    )
    const port = await findFreePort()
    let libsqlPort = await findFreePort()
    while (libsqlPort === port) libsqlPort = await findFreePort()

    const dev = startDev({
      PORT: String(port),
      LIBSQL_PORT: String(libsqlPort),
      TRIBUTARY_DEV_VARS: devVars,
      TRIBUTARY_DATA_DIR: join(dir, 'sqld'),
    })
    const curl = await dev.waitFor(/^ {2}(curl .*)$/m, 45_000)
    const url = `http://127.0.0.1:${port}`
    expect(curl[1]).toContain(`-X POST ${url}/v1/ingest`)
    expect(curl[1]).toContain("-H 'Content-Type: application/x-ndjson'")
    expect(curl[1]).toContain('--data-binary @sample/turns.ndjson')
    expect(dev.output()).toContain(`using ${devVars}`)
    // Next to it, the push command with the same server and token.
    const pushLine = await dev.waitFor(/^ {2}(npx tributary push .*)$/m, 5_000)
    expect(pushLine[1]).toContain(`--url ${url} --token `)

    const health = await fetch(`${url}/healthz`)
    expect(health.status).toBe(200)

    // The printed token is signed with the .dev.vars secret, issuer and audience, for owner dev.
    const token = /Bearer ([\w-]+\.[\w-]+\.[\w-]+)/.exec(curl[1] ?? '')?.[1] ?? ''
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      issuer: 'https://issuer.test',
      audience: 'tributary-dev',
      algorithms: ['HS256'],
    })
    expect(payload.sub).toBe('dev')
    expect(pushLine[1]).toContain(`--token ${token}`)

    // The page's link carries the same token in its fragment, and the Worker serves the page
    // and its bundled script under the same strict policy as Node.
    expect(dev.output()).toContain(`  ${url}/#token=${token}\n`)
    const page = await fetch(`${url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    const script = /src="(\/assets\/app\.[0-9a-f]{16}\.js)"/.exec(await page.text())?.[1]
    const bundle = await fetch(`${url}${script}`)
    expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(await bundle.text()).toContain('tributary.token')

    // What the printed curl sends, with a fresh owner: 8 lines in chunks of INGEST_CHUNK_LINES=3.
    const owner = `dev-test-${Date.now()}`
    const ingest = await fetch(`${url}/v1/ingest`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await signDevToken({ secret, sub: owner, ttlSeconds: 60, issuer: 'https://issuer.test', audience: 'tributary-dev' })}`,
        'content-type': 'application/x-ndjson',
      },
      body: readFileSync(join(root, 'sample', 'turns.ndjson')),
    })
    expect(ingest.status).toBe(200)
    expect(await ingest.json()).toMatchObject({ accepted: 8, rejected: 0, lines: 8, chunks: 3 })

    const started = descendants(dev.child.pid ?? -1)
    const names = started.map((proc) => proc.command).join('\n')
    expect(names).toMatch(/sqld/)
    expect(names).toMatch(/wrangler/)
    expect(names).toMatch(/workerd/)

    process.kill(dev.child.pid ?? -1, 'SIGINT')
    expect(await dev.exited).toBe(0)
    expect(dev.output()).toContain('stopped.')

    const deadline = Date.now() + 5000
    while (started.some((proc) => running(proc.pid)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(started.filter((proc) => running(proc.pid)).map((proc) => proc.command)).toEqual([])
    expect(await isPortFree(port)).toBe(true)
    expect(await isPortFree(libsqlPort)).toBe(true)
  }, 60_000)

  it('refuses a taken port plainly, before it starts or creates anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-dev-'))
    dirs.push(dir)
    const port = await findFreePort()
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve))
    try {
      const libsqlPort = await findFreePort()
      const dev = startDev({
        PORT: String(libsqlPort === port ? port + 1 : libsqlPort),
        LIBSQL_PORT: String(port),
        TRIBUTARY_DEV_VARS: join(dir, '.dev.vars'),
        TRIBUTARY_DATA_DIR: join(dir, 'sqld'),
      })
      expect(await dev.exited).toBe(1)
      expect(dev.output()).toContain(`port ${port} is in use (LIBSQL_PORT)`)
      expect(existsSync(join(dir, '.dev.vars'))).toBe(false)
      expect(existsSync(join(dir, 'sqld'))).toBe(false)
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  }, 30_000)
})
