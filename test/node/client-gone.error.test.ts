/**
 * A client that hangs up mid-body is an ordinary client mistake: over a real socket to the Node
 * server, it ends handled (nothing uncaught), noted once at info level as a client gone, never
 * reported as a server failure, and what it committed is in the database.
 */
import { gzipSync } from 'node:zlib'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freshOwner, turnsOf } from '../helpers/db'
import { openIngest, serverForFile, sleep } from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

const file = serverForFile({ INGEST_CHUNK_LINES: '2' })
const uncaught: unknown[] = []
const onUncaught = (error: unknown) => uncaught.push(error)

beforeAll(() => {
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)
})
afterAll(() => {
  process.off('uncaughtException', onUncaught)
  process.off('unhandledRejection', onUncaught)
})
afterEach(() => {
  file.infos.length = 0
  file.errors.length = 0
})

async function until(check: () => boolean | Promise<boolean>) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return
    await sleep(30)
  }
  throw new Error('never happened')
}

describe('a client that hangs up mid-body', () => {
  for (const gzip of [false, true]) {
    it(`is noted once at info level, never as a server failure (${gzip ? 'gzip' : 'plain'})`, async () => {
      const owner = freshOwner('gone')
      const { req } = await openIngest(
        file.server.url,
        owner,
        gzip ? { 'content-encoding': 'gzip' } : {},
      )
      const text = ndjson([wireTurn(), wireTurn(), wireTurn(), wireTurn(), wireTurn()])
      const bytes = gzip ? gzipSync(text) : Buffer.from(text)
      // All but the end: the first chunks commit, the last line stays open.
      req.write(bytes.subarray(0, bytes.length - (gzip ? 8 : 3)))
      await until(async () => (await turnsOf(file.db.client, owner)).length >= 4)
      req.destroy()

      await until(() => file.infos.length > 0)
      await sleep(100)
      expect(file.infos).toHaveLength(1)
      expect(file.infos[0]).toMatch(/^client gone POST \/v1\/ingest: 4 lines committed$/)
      expect(file.errors).toEqual([])
      expect(uncaught).toEqual([])
      expect(await turnsOf(file.db.client, owner)).toHaveLength(4)
    })
  }
})
