/**
 * A `file:` LIBSQL_URL names one database for every side that opens it: migrations, readiness
 * and the writer thread. Percent-escapes and `file://localhost/` are read as @libsql/client
 * reads them; `:memory:` and other hosts are refused at configuration; `/readyz` asks the
 * writer thread too.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fileDatabasePath, parseConfig } from '../../src/config'
import { openNodeDatabase } from '../../src/node/database'
import { startNodeServer } from '../../src/node/server'
import { WriterThread } from '../../src/node/writer/writer'
import { freshOwner } from '../helpers/db'
import { SECRET } from '../helpers/keys'
import { getStatus, postIngest } from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

const root = mkdtempSync(join(tmpdir(), 'tributary-url-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Serve over `url`, ingest three lines, and read back what landed in the file at `path`. */
async function ingestThrough(url: string, path: string) {
  const server = await startNodeServer(parseConfig({ LIBSQL_URL: url, JWT_SECRET: SECRET }), {
    port: 0,
    log: () => {},
  })
  try {
    const owner = freshOwner('url')
    const answer = await postIngest(server.url, owner, ndjson([wireTurn(), wireTurn(), wireTurn()]))
    const ready = await getStatus(`${server.url}/readyz`)
    const reader = await openNodeDatabase(`file:${path}`)
    try {
      const rows = await reader.execute({
        sql: 'select count(*) as n from turns where owner = ?',
        args: [owner],
      })
      return { answer, ready: ready.status, stored: Number(rows.rows[0]?.n) }
    } finally {
      reader.close()
    }
  } finally {
    await server.close()
  }
}

describe('LIBSQL_URL=file: names one database', () => {
  it('decodes percent-escapes the same way on every side (file:/dir/my%20db.db)', async () => {
    const dir = join(root, 'with space')
    mkdirSync(dir, { recursive: true })
    const path = join(dir, 'my db.db')
    const url = `file:${dir.replaceAll(' ', '%20')}/my%20db.db`
    const { answer, ready, stored } = await ingestThrough(url, path)
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ accepted: 3, rejected: 0 })
    expect(ready).toBe(200)
    expect(stored).toBe(3)
    expect(existsSync(join(dir, 'my%20db.db'))).toBe(false)
  })

  it('reads file://localhost/ as the local path', async () => {
    const path = join(root, 'localhost.db')
    const { answer, stored } = await ingestThrough(`file://localhost${path}`, path)
    expect(answer.status).toBe(200)
    expect(stored).toBe(3)
  })

  it('refuses :memory: and a remote host at configuration, naming LIBSQL_URL', () => {
    for (const url of ['file::memory:', 'file::memory:?cache=shared', 'file://server/x.db']) {
      expect(() => parseConfig({ LIBSQL_URL: url, JWT_SECRET: SECRET }), url).toThrow(/LIBSQL_URL/)
    }
  })

  it('parses a path once: escapes, localhost, query, relative', () => {
    expect(fileDatabasePath('file:/a/my%20db.db?mode=rwc')).toBe('/a/my db.db')
    expect(fileDatabasePath('file:///a/b.db')).toBe('/a/b.db')
    expect(fileDatabasePath('file://LOCALHOST/a/b.db')).toBe('/a/b.db')
    expect(fileDatabasePath('file:.data/t.db')).toBe('.data/t.db')
    expect(() => fileDatabasePath('file:')).toThrow()
  })
})

describe('/readyz asks the writer thread', () => {
  it('fails the writer ping when the thread cannot open its database', async () => {
    const logged: string[] = []
    const writer = new WriterThread(`file:${join(root, 'missing', 'dir', 'x.db')}`, {
      log: (message) => logged.push(message),
    })
    try {
      await expect(writer.ping()).rejects.toThrow()
      expect(logged).toEqual(['the writer thread could not start; the next start in 100 ms'])
    } finally {
      await writer.close()
    }
  })

  it('passes the writer ping on a database it can open', async () => {
    const writer = new WriterThread(`file:${join(root, 'ping.db')}`)
    try {
      await expect(writer.ping()).resolves.toBeUndefined()
    } finally {
      await writer.close()
    }
  })
})
