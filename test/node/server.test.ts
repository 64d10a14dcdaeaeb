/**
 * The Node entry over real sockets: what app.request cannot show (a client that goes away, a
 * body that stalls, a problem sent while the client is still sending), and the Node server's own
 * reading of a request body (nodeBody), plain and compressed.
 */
import type { ClientRequest } from 'node:http'
import { PassThrough } from 'node:stream'
import { createGzip, deflateSync, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { nodeBody } from '../../src/node/body'
import { freshOwner, refuseContent, turnsOf } from '../helpers/db'
import { openIngest, serverForFile } from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

const file = serverForFile({
  INGEST_CHUNK_LINES: '2',
  INGEST_MAX_BODY_BYTES: '20000',
  INGEST_IDLE_TIMEOUT_MS: '300',
})

/** A streaming POST to this file's server. */
const open = (owner: string, headers: Record<string, string> = {}) =>
  openIngest(file.server.url, owner, headers)

const ENCODINGS = [
  ['plain', {}],
  ['gzip', { 'content-encoding': 'gzip' }],
] as const

/** Writes a body to `req`, plain or gzip; each `send` reaches the server whole (flushed). */
function sender(req: ClientRequest, headers: { 'content-encoding'?: string }) {
  if (headers['content-encoding'] === undefined) {
    return {
      send: async (text: string) => void req.write(text),
      end: async (text: string) => void req.end(text),
    }
  }
  const gzip = createGzip()
  gzip.on('data', (piece: Buffer) => req.write(piece))
  gzip.on('end', () => req.end())
  return {
    send: (text: string) =>
      new Promise<void>((resolve) => gzip.write(text, () => gzip.flush(() => resolve()))),
    end: async (text: string) => void gzip.end(text),
  }
}

const THREE = () =>
  ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' }), wireTurn({ turn_id: '3' })])

describe('Node server over real sockets', () => {
  it.each(ENCODINGS)(
    'commits the first chunk while the client is still sending (%s)',
    async (_, headers) => {
      const owner = freshOwner()
      const { req, answer } = await open(owner, headers)
      const body = sender(req, headers)
      await body.send(THREE())
      await expect
        .poll(async () => (await turnsOf(file.db.client, owner)).length, { timeout: 5000 })
        .toBe(2)
      await body.end(ndjson([wireTurn({ turn_id: '4' })]))
      const { status, body: summary } = await answer
      expect(status).toBe(200)
      expect(summary).toMatchObject({ accepted: 4, chunks: 2 })
    },
  )

  it.each(ENCODINGS)(
    'keeps committed chunks and drops the partial one when the client goes away (%s)',
    async (_, headers) => {
      const owner = freshOwner()
      const { req } = await open(owner, headers)
      await sender(req, headers).send(THREE())
      await expect
        .poll(async () => (await turnsOf(file.db.client, owner)).length, { timeout: 5000 })
        .toBe(2)
      const before = file.infos.length
      req.destroy()
      // The server is done with the request once it file.infos the client gone: nothing lands after.
      await expect
        .poll(() => file.infos.slice(before), { timeout: 5000 })
        .toContain('client gone POST /v1/ingest: 2 lines committed')
      expect((await turnsOf(file.db.client, owner)).map((r) => r.turn_id)).toEqual(['1', '2'])
      expect((await fetch(`${file.server.url}/healthz`)).status).toBe(200)
    },
  )

  it.each(ENCODINGS)(
    'answers 408 with what committed when the body stalls past the idle timeout (%s)',
    async (_, headers) => {
      const owner = freshOwner()
      const { req, answer } = await open(owner, headers)
      await sender(req, headers).send(THREE())
      const { status, body } = await answer
      expect(status).toBe(408)
      expect(body).toMatchObject({ code: 'BODY_TIMEOUT', committed: { accepted: 2, chunks: 1 } })
      expect(await turnsOf(file.db.client, owner)).toHaveLength(2)
      req.destroy()
    },
  )

  it('answers 413 mid-stream while the client is still sending, with what committed', async () => {
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    const line = (i: number) =>
      ndjson([wireTurn({ content: 'x'.repeat(1000) })]).replace('"turn_id":"', `"turn_id":"${i}-`)
    // A first chunk lands, then the body goes on past the cap.
    for (let i = 0; i < 3; i++) req.write(line(i))
    await expect
      .poll(async () => (await turnsOf(file.db.client, owner)).length, { timeout: 5000 })
      .toBe(2)
    for (let i = 3; i < 30; i++) req.write(line(i))
    const { status, body } = await answer
    expect(status).toBe(413)
    const stored = await turnsOf(file.db.client, owner)
    expect(body).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      committed: { accepted: stored.length },
    })
    expect(stored.length).toBeGreaterThan(0)
    req.destroy()
  })

  it('answers 401 to a client that sends a large body without a token', async () => {
    const res = await fetch(`${file.server.url}/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: 'x'.repeat(1_000_000),
    })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
  })
})

describe('the Node server reads request bodies itself (nodeBody)', () => {
  it('lets go of a body without destroying the request, so its answer can still be sent', async () => {
    for (const encoding of [undefined, 'gzip'] as const) {
      const request = new PassThrough()
      const line = ndjson([wireTurn()])
      request.write(encoding === undefined ? line : gzipSync(line))
      const body = nodeBody(request, encoding)
      expect(await body.read()).toMatchObject({ done: false })
      await body.cancel()
      await new Promise((resolve) => setImmediate(resolve))
      expect(request.destroyed).toBe(false)
      // Nothing still reads it: the server is free to drain what is left.
      expect(request.listenerCount('readable') + request.listenerCount('data')).toBe(0)
    }
  })

  it.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
  ] as const)('inflates a %s body sent in small pieces', async (encoding, compress) => {
    const owner = freshOwner()
    const text = ndjson(Array.from({ length: 5 }, (_, i) => wireTurn({ turn_id: `${i}` })))
    const bytes = compress(text)
    const { req, answer } = await open(owner, { 'content-encoding': encoding })
    for (let at = 0; at < bytes.length; at += 7) req.write(bytes.subarray(at, at + 7))
    req.end()
    const { status, body } = await answer
    expect(status).toBe(200)
    expect(body).toMatchObject({ accepted: 5, chunks: 3, bytes: Buffer.byteLength(text) })
    expect((await turnsOf(file.db.client, owner)).map((r) => r.turn_id)).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
    ])
  })

  it('answers 400 BAD_ENCODING with what committed for a truncated or corrupt gzip body', async () => {
    const whole = gzipSync(ndjson(Array.from({ length: 3 }, () => wireTurn())))
    const truncated = whole.subarray(0, whole.length - 12)
    for (const bytes of [truncated, Buffer.from('not gzip')]) {
      const owner = freshOwner()
      const { req, answer } = await open(owner, { 'content-encoding': 'gzip' })
      req.end(bytes)
      const { status, body } = await answer
      expect(status).toBe(400)
      expect(body).toMatchObject({ code: 'BAD_ENCODING' })
      const stored = await turnsOf(file.db.client, owner)
      expect(body.committed).toMatchObject({ accepted: stored.length })
      expect(stored.length).toBe(bytes === truncated ? 2 : 0)
    }
  })
})

describe('the embedded database writer', () => {
  it('rejects only the line the database refuses, as DB_CONSTRAINT, and commits the rest', async () => {
    await refuseContent(file.db.client)
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    req.end(
      ndjson([
        wireTurn({ turn_id: 'a' }),
        wireTurn({ turn_id: 'b', content: 'poison' }),
        wireTurn({ turn_id: 'c' }),
      ]),
    )
    const { status, body } = await answer
    expect(status).toBe(207)
    expect(body).toMatchObject({
      accepted: 2,
      rejected: 1,
      errors: [{ line: 2, code: 'DB_CONSTRAINT' }],
    })
    expect((await turnsOf(file.db.client, owner)).map((r) => r.turn_id)).toEqual(['a', 'c'])
  })

  it('keeps line order when a chunk is split while the next one is already on the thread', async () => {
    await refuseContent(file.db.client)
    const owner = freshOwner()
    const { req, answer } = await open(owner)
    // Chunk [1, 2] is refused and split in halves; chunk [3, 4] was made ready before that and
    // must still land after line 1, so the later value of turn x wins.
    req.end(
      ndjson([
        wireTurn({ turn_id: 'x', content: 'first' }),
        wireTurn({ turn_id: 'p', content: 'poison' }),
        wireTurn({ turn_id: 'x', content: 'second' }),
        wireTurn({ turn_id: 'y', content: 'last' }),
      ]),
    )
    const { status, body } = await answer
    expect(status).toBe(207)
    expect(body).toMatchObject({ accepted: 3, errors: [{ line: 2, code: 'DB_CONSTRAINT' }] })
    const rows = await turnsOf(file.db.client, owner)
    expect(rows.map((r) => [r.turn_id, r.content])).toEqual([
      ['x', 'second'],
      ['y', 'last'],
    ])
  })
})

describe('npm run serve fails closed', () => {
  it('exits non-zero printing CONFIG_INVALID and the variable, never its value', async () => {
    const { spawnSync } = await import('node:child_process')
    const value = 'too-short-a-secret'
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/node/serve.ts'], {
      env: { PATH: process.env.PATH, JWT_SECRET: value, PORT: '0', LIBSQL_URL: file.db.url },
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('CONFIG_INVALID')
    expect(run.stderr).toContain('JWT_SECRET')
    expect(run.stderr + run.stdout).not.toContain(value)
  })
})
