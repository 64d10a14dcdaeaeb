import { describe, expect, it } from 'vitest'
import { defaultLimits } from '../../src/config'
import { TurnStore } from '../../src/db/store'
import { ApiError } from '../../src/errors'
import { ingest } from '../../src/ingest/pipeline'
import { openNodeDatabase } from '../../src/node/database'
import type { IngestLimits } from '../../src/types'
import { freshOwner, turnsOf } from '../helpers/db'
import { testSuite } from '../helpers/suite'
import { controlledStream, ndjson, streamOf, wireTurn } from '../helpers/turns'

const suite = testSuite({ refuse: 'poison' })

const limitsWith = (limits: Partial<IngestLimits>) => ({ ...defaultLimits, ...limits })

const failure = async (promise: Promise<unknown>): Promise<ApiError> => {
  try {
    await promise
  } catch (error) {
    if (error instanceof ApiError) return error
    throw error
  }
  throw new Error('expected the ingest to fail')
}

describe('pipeline: a line the database refuses', () => {
  it('is rejected alone as DB_CONSTRAINT and the rest of its chunk is committed', async () => {
    const owner = freshOwner()
    const lines = Array.from({ length: 9 }, (_, i) =>
      wireTurn({ turn_id: `t${i}`, content: i === 3 || i === 7 ? 'poison' : `ok ${i}` }),
    )
    const summary = await ingest({
      owner,
      body: streamOf([ndjson(lines)]).getReader(),
      store: suite.store,
      limits: limitsWith({ chunkLines: 100 }),
    })
    expect(summary.accepted).toBe(7)
    expect(summary.rejected).toBe(2)
    expect(summary.errors).toEqual([
      { line: 4, code: 'DB_CONSTRAINT', message: expect.stringContaining('database refused') },
      { line: 8, code: 'DB_CONSTRAINT', message: expect.stringContaining('database refused') },
    ])
    const stored = (await turnsOf(suite.db.client, owner)).map((r) => r.turn_id)
    expect(stored).toEqual(['t0', 't1', 't2', 't4', 't5', 't6', 't8'])
  })

  it('keeps errors in line order when a constraint error is found after later lines', async () => {
    const owner = freshOwner()
    // Chunk 1 (lines 1-2) commits while line 3 is validated: its error is known later.
    const body = ndjson([wireTurn(), wireTurn({ content: 'poison' }), '{bad', wireTurn(), '{bad'])
    const summary = await ingest({
      owner,
      body: streamOf([body]).getReader(),
      store: suite.store,
      limits: limitsWith({ chunkLines: 2, maxErrors: 2 }),
    })
    expect(summary.errors.map((e) => [e.line, e.code])).toEqual([
      [2, 'DB_CONSTRAINT'],
      [3, 'INVALID_JSON'],
    ])
    expect(summary).toMatchObject({ accepted: 2, rejected: 3, errors_truncated: true })
  })
})

describe('pipeline: a request cut short', () => {
  it('stops on a database failure with a committed summary that matches the database', async () => {
    const own = await openNodeDatabase(suite.db.url)
    const owner = freshOwner()
    const body = controlledStream()
    const running = ingest({
      owner,
      body: body.stream.getReader(),
      store: new TurnStore(own),
      limits: limitsWith({ chunkLines: 2 }),
    })
    body.push(ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' }), '{bad']))
    await expect.poll(async () => (await turnsOf(suite.db.client, owner)).length).toBe(2)
    own.close() // the database goes away between chunks
    body.push(ndjson([wireTurn({ turn_id: '3' }), wireTurn({ turn_id: '4' }), wireTurn()]))
    body.close()
    const error = await failure(running)
    expect(error.code).toBe('DATABASE_UNAVAILABLE')
    expect(error.status).toBe(503)
    expect(error.headers['Retry-After']).toBe('5')
    expect(error.committed).toMatchObject({ accepted: 2, rejected: 1, chunks: 1 })
    expect((await turnsOf(suite.db.client, owner)).map((r) => r.turn_id)).toEqual(['1', '2'])
  })

  it('drops the partial chunk when the client goes away', async () => {
    const owner = freshOwner()
    const body = controlledStream()
    const running = ingest({
      owner,
      body: body.stream.getReader(),
      store: suite.store,
      limits: limitsWith({ chunkLines: 2 }),
    })
    body.push(
      ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' }), wireTurn({ turn_id: '3' })]),
    )
    await expect.poll(async () => (await turnsOf(suite.db.client, owner)).length).toBe(2)
    body.error(new ApiError('BODY_INCOMPLETE', 'gone'))
    const error = await failure(running)
    expect(error.code).toBe('BODY_INCOMPLETE')
    expect(error.committed).toMatchObject({ accepted: 2, chunks: 1, lines: 3 })
    expect((await turnsOf(suite.db.client, owner)).map((r) => r.turn_id)).toEqual(['1', '2'])
  })

  it('stops a body that stalls past the idle timeout, keeping what committed', async () => {
    const owner = freshOwner()
    const body = controlledStream()
    const running = ingest({
      owner,
      body: body.stream.getReader(),
      store: suite.store,
      limits: limitsWith({ chunkLines: 1, idleTimeoutMs: 150 }),
    })
    body.push(ndjson([wireTurn({ turn_id: '1' })]))
    const error = await failure(running)
    expect(error.code).toBe('BODY_TIMEOUT')
    expect(error.committed).toMatchObject({ accepted: 1, chunks: 1 })
    expect(await turnsOf(suite.db.client, owner)).toHaveLength(1)
  })

  it('stops at the body cap with 413 and what landed before it', async () => {
    const owner = freshOwner()
    const line = ndjson([wireTurn()])
    const pieces = Array.from({ length: 10 }, (_, i) => ndjson([wireTurn({ turn_id: `t${i}` })]))
    const error = await failure(
      ingest({
        owner,
        body: streamOf(pieces).getReader(),
        store: suite.store,
        limits: limitsWith({ chunkLines: 2, maxBodyBytes: line.length * 5 }),
      }),
    )
    expect(error.code).toBe('PAYLOAD_TOO_LARGE')
    const stored = await turnsOf(suite.db.client, owner)
    expect(error.committed?.accepted).toBe(stored.length)
    expect(stored.length).toBe(4)
  })
})
