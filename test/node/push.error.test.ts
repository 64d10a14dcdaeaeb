/**
 * `tributary push` when things go wrong: a server that answers 503 with Retry-After and then
 * recovers, a connection cut mid-request, a server that never recovers, a failing igzip, a
 * refused token, and the token script's configuration. Nothing is lost and nothing is duplicated.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compressors } from '../../src/push/compressor'
import { SendError, Sender } from '../../src/push/sender'
import { tokenFor } from '../helpers/app'
import { type Stack, startStack } from '../helpers/node'
import { type Fault, pushAs, startFaultProxy, tempDir } from '../helpers/pushing'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('../../', import.meta.url))

let stack: Stack
let owners = 0
const owner = () => `push-error-${++owners}-${Date.now()}`

beforeAll(async () => {
  stack = await startStack()
})
afterAll(async () => {
  await stack?.close()
})

/**
 * A wire-format file of `count` turns with distinct ids, big enough to span requests, and its
 * lines; `content` gives the i-th turn's text.
 */
function wireFile(
  count: number,
  content = (i: number) => `line ${i} ${'x'.repeat(200 + (i % 50))}`,
): { path: string; ids: string[]; lines: string[] } {
  const dir = tempDir()
  const ids: string[] = []
  const lines: string[] = []
  for (let i = 1; i <= count; i++) {
    const id = `turn-${String(i).padStart(4, '0')}`
    ids.push(id)
    lines.push(
      JSON.stringify({
        tool: 'claude-code',
        host: 'h',
        session_id: 's-1',
        turn_id: id,
        seq: i,
        role: 'user',
        timestamp: '2026-11-22T14:00:00Z',
        content: content(i),
        tokens_in: i,
      }),
    )
  }
  const path = join(dir, 'turns.jsonl')
  writeFileSync(path, `${lines.join('\n')}\n`)
  return { path, ids, lines }
}

async function stored(who: string): Promise<{ ids: string[]; tokens: number; count: number }> {
  const rows = await stack.reader.execute({
    sql: 'select turn_id, tokens_in from turns where owner = ? order by turn_id',
    args: [who],
  })
  return {
    ids: rows.rows.map((r) => String(r.turn_id)),
    tokens: rows.rows.reduce((sum, r) => sum + Number(r.tokens_in), 0),
    count: rows.rows.length,
  }
}

const total = (n: number) => (n * (n + 1)) / 2

describe('tributary push under faults', () => {
  it('waits out 503 + Retry-After, then sends the rest: nothing lost, nothing twice', async () => {
    const { path, ids } = wireFile(60)
    const faults: Record<number, Fault> = {
      2: { kind: '503', retryAfter: 1 },
      3: { kind: '503', retryAfter: 1 },
    }
    const proxy = await startFaultProxy(stack.server.url, (n) => faults[n] ?? { kind: 'pass' })
    try {
      const who = owner()
      const started = Date.now()
      const summary = await pushAs(proxy.url, who, [path], { maxLines: 20 })
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000)
      expect(proxy.log).toEqual(['pass', '503', '503', 'pass', 'pass'])
      expect(summary.turnsSent).toBe(60)
      expect(summary.accepted).toBe(60)
      expect(summary.resent).toBe(40)
      expect(summary.rejected).toEqual([])
      expect(await stored(who)).toEqual({ ids, tokens: total(60), count: 60 })
    } finally {
      await proxy.close()
    }
  })

  it('resends a request whose connection was cut mid-body', async () => {
    const { path, ids } = wireFile(300)
    const proxy = await startFaultProxy(stack.server.url, (n) =>
      n === 2 ? { kind: 'kill', afterBytes: 200 } : { kind: 'pass' },
    )
    try {
      const who = owner()
      const summary = await pushAs(proxy.url, who, [path], { maxLines: 100 })
      expect(proxy.log[1]).toBe('kill')
      expect(proxy.log.length).toBe(4)
      expect(summary.accepted).toBe(300)
      expect(await stored(who)).toEqual({ ids, tokens: total(300), count: 300 })
    } finally {
      await proxy.close()
    }
  })

  it("starts the next request as soon as an answer covers the last, not after the caller's bookkeeping", async () => {
    // Lines gzip cannot shrink much, so each request's body reaches the wire before it ends.
    const { ids, lines } = wireFile(30, () => randomBytes(16 * 1024).toString('hex'))
    let secondArrived: () => void = () => {}
    const second = new Promise<void>((resolve) => {
      secondArrived = resolve
    })
    const proxy = await startFaultProxy(stack.server.url, (n) => {
      if (n === 2) secondArrived()
      return { kind: 'pass' }
    })
    try {
      const who = owner()
      const covered: number[] = []
      let waited = false
      const sender = new Sender<number>({
        url: proxy.url,
        token: await tokenFor(who),
        maxLines: 10,
        // The first answer's bookkeeping (a state save, say) waits for the second request to
        // reach the server: held back until it returned, that request would never start.
        onCovered: async (items) => {
          for (const item of items) if (item.kind === 'accepted') covered.push(item.tag)
          if (waited || items.length === 0) return
          waited = true
          let timer: NodeJS.Timeout | undefined
          try {
            await Promise.race([
              second,
              new Promise((_, reject) => {
                timer = setTimeout(
                  () => reject(new Error('the second request waited for onCovered')),
                  5000,
                )
              }),
            ])
          } finally {
            clearTimeout(timer)
          }
        },
      })
      try {
        for (const [i, text] of lines.entries()) await sender.add({ text, tag: i + 1 })
        await sender.flush()
      } finally {
        sender.close()
      }
      expect(covered).toEqual(lines.map((_, i) => i + 1))
      expect(proxy.log).toEqual(['pass', 'pass', 'pass'])
      expect(await stored(who)).toEqual({ ids, tokens: total(30), count: 30 })
    } finally {
      await proxy.close()
    }
  })

  it('never ends a request on the output of an igzip that failed: retried, then stopped, nothing stored', async () => {
    // A stand-in igzip (outside the project) that takes the whole body, writes nothing, exits 3.
    const bin = tempDir()
    writeFileSync(
      join(bin, 'igzip'),
      '#!/bin/sh\ncat > /dev/null\necho "igzip: out of memory" >&2\nexit 3\n',
    )
    chmodSync(join(bin, 'igzip'), 0o755)
    const { lines } = wireFile(25)
    const path = process.env.PATH
    process.env.PATH = `${bin}:${path}`
    const retries: string[] = []
    const who = owner()
    const sender = new Sender<number>({
      url: stack.server.url,
      token: await tokenFor(who),
      maxLines: 10,
      maxAttempts: 2,
      baseDelayMs: 1,
      compressor: compressors.igzip,
      onCovered: () => {},
      onRetry: ({ reason }) => retries.push(reason),
    })
    try {
      const pushed = (async () => {
        for (const [i, text] of lines.entries()) await sender.add({ text, tag: i + 1 })
        await sender.flush()
      })()
      const error = await pushed.catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SendError)
      expect((error as Error).message).toMatch(
        /gave up after 2 attempts: igzip exited with 3: igzip: out of memory/,
      )
    } finally {
      sender.close()
      process.env.PATH = path
    }
    expect(retries).toEqual(['igzip exited with 3: igzip: out of memory'])
    expect((await stored(who)).count).toBe(0)
  })

  it('gives up after the bounded attempts, keeping what landed in the state', async () => {
    const { path } = wireFile(30)
    let healthy = false
    const proxy = await startFaultProxy(stack.server.url, (n) =>
      n === 1 || healthy ? { kind: 'pass' } : { kind: '503', retryAfter: 0 },
    )
    try {
      const who = owner()
      const state = join(tempDir(), 'state.json')
      const failed = await pushAs(proxy.url, who, [path], {
        maxLines: 10,
        maxAttempts: 3,
        statePath: state,
      })
      expect(failed.stopped).toMatch(/gave up after 3 attempts: 503 DATABASE_UNAVAILABLE/)
      expect(failed.accepted).toBe(10)
      expect(proxy.log).toEqual(['pass', '503', '503', '503'])
      expect((await stored(who)).count).toBe(10)
      // The next run, once the server is healthy, sends only what did not land.
      healthy = true
      const again = await pushAs(proxy.url, who, [path], { statePath: state })
      expect(again.turnsSent).toBe(20)
      expect((await stored(who)).count).toBe(30)
    } finally {
      await proxy.close()
    }
  })
})

describe('the tributary command', () => {
  it('stops on a refused token with a clear message and exit code 3', async () => {
    const { path } = wireFile(3)
    const failure = await run(
      process.execPath,
      [
        'src/node/tributary.mjs',
        'push',
        path,
        '--url',
        stack.server.url,
        '--token',
        'not-a-token',
        '--state',
        join(tempDir(), 'state.json'),
      ],
      { cwd: repo },
    ).catch((error: { code: number; stderr: string }) => error)
    expect((failure as { code: number }).code).toBe(3)
    expect((failure as { stderr: string }).stderr).toContain('the server refused the token (401')
  })

  it('refuses to start without a token, exit code 2', async () => {
    const failure = await run(process.execPath, ['src/node/tributary.mjs', 'push', repo], {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '', HOME: tempDir() },
    }).catch((error: { code: number; stderr: string }) => error)
    expect((failure as { code: number }).code).toBe(2)
    expect((failure as { stderr: string }).stderr).toContain('no token')
  })

  it('npm run token signs with JWT_SECRET, JWT_ISSUER and JWT_AUDIENCE from the environment', async () => {
    const secret = 'an-environment-secret-of-32-bytes-or-more'
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/node/token.ts', '--sub', 'alice'],
      {
        cwd: repo,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: tempDir(),
          JWT_SECRET: secret,
          JWT_ISSUER: 'https://issuer.test',
          JWT_AUDIENCE: 'tributary-test',
          TRIBUTARY_DEV_VARS: join(tempDir(), 'absent.dev.vars'),
        },
      },
    )
    const { payload } = await jwtVerify(stdout.trim(), new TextEncoder().encode(secret), {
      issuer: 'https://issuer.test',
      audience: 'tributary-test',
    })
    expect(payload.sub).toBe('alice')
  })
})
