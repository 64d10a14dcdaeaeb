import { describe, expect, it } from 'vitest'
import { defaultLimits } from '../../src/config'
import { ingest } from '../../src/ingest/pipeline'
import type { IngestLimits } from '../../src/types'
import { freshOwner, sessionsOf, turnsOf } from '../helpers/db'
import { testSuite } from '../helpers/suite'
import { controlledStream, ndjson, streamOf, wireTurn } from '../helpers/turns'

const suite = testSuite()

const run = (
  owner: string,
  body: string | ReadableStream<Uint8Array>,
  limits: Partial<IngestLimits> = {},
) =>
  ingest({
    owner,
    body: (typeof body === 'string' ? streamOf([body]) : body).getReader(),
    store: suite.store,
    limits: { ...defaultLimits, ...limits },
  })

describe('pipeline: chunks and counts', () => {
  it('commits one transaction per chunk of chunkLines valid lines', async () => {
    const owner = freshOwner()
    const lines = Array.from({ length: 10 }, (_, i) => wireTurn({ turn_id: `t${i}` }))
    const summary = await run(owner, ndjson(lines), { chunkLines: 3 })
    expect(summary).toMatchObject({ accepted: 10, rejected: 0, lines: 10, chunks: 4 })
    expect(await turnsOf(suite.db.client, owner)).toHaveLength(10)
  })

  it('closes a chunk when its bytes reach chunkBytes', async () => {
    const owner = freshOwner()
    const content = 'x'.repeat(700)
    const lines = Array.from({ length: 6 }, (_, i) => wireTurn({ turn_id: `t${i}`, content }))
    const summary = await run(owner, ndjson(lines), { chunkLines: 100, chunkBytes: 1024 })
    // Each line is ~900 bytes: the second line of a chunk passes 1024, so chunks hold 2 lines.
    expect(summary.chunks).toBe(3)
    expect(summary.accepted).toBe(6)
  })

  it('counts every physical line and the decompressed bytes read', async () => {
    const owner = freshOwner()
    const body = `\n${JSON.stringify(wireTurn())}\r\n   \n${JSON.stringify(wireTurn())}`
    const summary = await run(owner, body)
    expect(summary).toEqual({
      accepted: 2,
      rejected: 0,
      lines: 4,
      bytes: new TextEncoder().encode(body).length,
      chunks: 1,
      errors: [],
      errors_truncated: false,
    })
  })

  it('reports rejected lines with their physical line numbers and keeps the rest', async () => {
    const owner = freshOwner()
    const body = ndjson([
      wireTurn({ turn_id: 'a' }),
      '',
      wireTurn({ turn_id: 'b', role: 'robot' }),
      '[1,2]',
      '{"tool":',
      wireTurn({ turn_id: 'c' }),
    ])
    const summary = await run(owner, body, { chunkLines: 1 })
    expect(summary.accepted).toBe(2)
    expect(summary.rejected).toBe(3)
    expect(summary.errors.map((e) => [e.line, e.code, e.field])).toEqual([
      [3, 'INVALID_FIELD', 'role'],
      [4, 'NOT_AN_OBJECT', undefined],
      [5, 'INVALID_JSON', undefined],
    ])
    expect((await turnsOf(suite.db.client, owner)).map((t) => t.turn_id)).toEqual(['a', 'c'])
  })

  it('lists at most maxErrors errors, the first in line order, and counts all of them', async () => {
    const owner = freshOwner()
    const body = ndjson(Array.from({ length: 7 }, () => '{oops'))
    const summary = await run(owner, body, { maxErrors: 3 })
    expect(summary.rejected).toBe(7)
    expect(summary.errors.map((e) => e.line)).toEqual([1, 2, 3])
    expect(summary.errors_truncated).toBe(true)
  })

  it('answers an empty body with zero counts', async () => {
    expect(await run(freshOwner(), '')).toEqual({
      accepted: 0,
      rejected: 0,
      lines: 0,
      bytes: 0,
      chunks: 0,
      errors: [],
      errors_truncated: false,
    })
  })
})

describe('pipeline: what lands in the database', () => {
  it('stores the normalized turn under the verified owner, never a payload owner', async () => {
    const owner = freshOwner()
    const line = wireTurn({
      owner: 'someone-else',
      turn_id: 'x:1',
      timestamp: '2026-11-22T14:22:26.123456+01:00',
      tool_calls: [{ name: 'bash', input: { cmd: 'ls' } }],
      metadata: { git_branch: 'main' },
    })
    await run(owner, ndjson([line]))
    const [row] = await turnsOf(suite.db.client, owner)
    expect(row).toMatchObject({
      owner,
      turn_id: 'x:1',
      timestamp: '2026-11-22T13:22:26.123Z',
      tool_calls: '[{"name":"bash","input":{"cmd":"ls"}}]',
      metadata: '{"git_branch":"main"}',
    })
    const leaked = await suite.db.client.execute(
      "select count(*) as n from turns where owner = 'someone-else'",
    )
    expect(leaked.rows[0]?.n).toBe(0)
  })

  it('merges a session: earliest start, latest end, first non-null, across chunks and requests', async () => {
    const owner = freshOwner()
    const first = ndjson([
      wireTurn({ turn_id: '1', timestamp: '2026-11-22T10:00:00Z' }),
      wireTurn({
        turn_id: '2',
        timestamp: '2026-11-22T11:00:00Z',
        session_meta: { working_dir: '/first', metadata: { a: 1 } },
      }),
      wireTurn({
        turn_id: '3',
        timestamp: '2026-11-22T09:30:00Z',
        session_meta: { working_dir: '/second', source_file: 'f.jsonl' },
      }),
    ])
    await run(owner, first, { chunkLines: 1 })
    await run(
      owner,
      ndjson([
        wireTurn({
          turn_id: '4',
          timestamp: '2026-11-22T10:30:00Z',
          session_meta: { started_at: '2026-11-22T08:00:00Z', metadata: { b: 2 } },
        }),
      ]),
    )
    expect(await sessionsOf(suite.db.client, owner)).toEqual([
      {
        owner,
        tool: 'claude-code',
        host: 'laptop-7',
        session_id: 'session-1',
        started_at: '2026-11-22T08:00:00.000Z',
        ended_at: '2026-11-22T11:00:00.000Z',
        working_dir: '/first',
        source_file: 'f.jsonl',
        metadata: '{"a":1}',
      },
    ])
  })

  it('merges the same way when all lines of a session share one chunk', async () => {
    const owner = freshOwner()
    await run(
      owner,
      ndjson([
        wireTurn({ turn_id: '1', timestamp: '2026-11-22T10:00:00Z' }),
        wireTurn({
          turn_id: '2',
          timestamp: '2026-11-22T12:00:00Z',
          session_meta: { source_file: 'a' },
        }),
        wireTurn({
          turn_id: '3',
          timestamp: '2026-11-22T09:00:00Z',
          session_meta: { source_file: 'b' },
        }),
      ]),
    )
    const [session] = await sessionsOf(suite.db.client, owner)
    expect(session).toMatchObject({
      started_at: '2026-11-22T09:00:00.000Z',
      ended_at: '2026-11-22T12:00:00.000Z',
      source_file: 'a',
    })
  })

  it('lets the last line win for a turn sent twice, within a chunk and across chunks', async () => {
    for (const chunkLines of [1, 100]) {
      const owner = freshOwner()
      await run(
        owner,
        ndjson([
          wireTurn({ turn_id: 'same', content: 'first', seq: 1 }),
          wireTurn({ turn_id: 'same', content: 'second', seq: 2, model: null }),
        ]),
        { chunkLines },
      )
      const rows = await turnsOf(suite.db.client, owner)
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ content: 'second', seq: 2, model: null })
    }
  })

  it('leaves the database unchanged when the same body is replayed', async () => {
    const owner = freshOwner()
    const body = ndjson([
      wireTurn({
        turn_id: 'a',
        timestamp: '2026-11-22T10:00:00Z',
        session_meta: { working_dir: '/w' },
      }),
      wireTurn({ turn_id: 'b', timestamp: '2026-11-22T11:00:00Z' }),
      '{broken',
      wireTurn({ session_id: 's2', turn_id: 'c', metadata: { k: [1, 2] } }),
    ])
    const first = await run(owner, body, { chunkLines: 2 })
    const snapshot = [
      await turnsOf(suite.db.client, owner),
      await sessionsOf(suite.db.client, owner),
    ]
    for (let i = 0; i < 3; i++) {
      const again = await run(owner, body, { chunkLines: 2 })
      expect(again).toEqual(first)
      expect([
        await turnsOf(suite.db.client, owner),
        await sessionsOf(suite.db.client, owner),
      ]).toEqual(snapshot)
    }
  })

  it('keeps two owners with the same keys apart', async () => {
    const alice = freshOwner('alice')
    const bob = freshOwner('bob')
    const key = { tool: 't', host: 'h', session_id: 's', turn_id: 'same' }
    await run(alice, ndjson([wireTurn({ ...key, content: 'alice says' })]))
    await run(bob, ndjson([wireTurn({ ...key, content: 'bob says' })]))
    expect((await turnsOf(suite.db.client, alice)).map((r) => r.content)).toEqual(['alice says'])
    expect((await turnsOf(suite.db.client, bob)).map((r) => r.content)).toEqual(['bob says'])
    expect(await sessionsOf(suite.db.client, alice)).toHaveLength(1)
    expect(await sessionsOf(suite.db.client, bob)).toHaveLength(1)
  })

  it('commits the first chunk before the body has ended', async () => {
    const owner = freshOwner()
    const body = controlledStream()
    const done = run(owner, body.stream, { chunkLines: 2 })
    body.push(
      ndjson([wireTurn({ turn_id: '1' }), wireTurn({ turn_id: '2' }), wireTurn({ turn_id: '3' })]),
    )
    await expect
      .poll(async () => (await turnsOf(suite.db.client, owner)).length, { timeout: 5000 })
      .toBe(2)
    body.push(ndjson([wireTurn({ turn_id: '4' })]))
    body.close()
    expect((await done).accepted).toBe(4)
    expect(await turnsOf(suite.db.client, owner)).toHaveLength(4)
  })
})
