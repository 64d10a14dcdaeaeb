import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import { createVerifier } from '../../src/auth/jwt'
import { defaultLimits } from '../../src/config'
import { fetchWithDeadline } from '../../src/db/client'
import { ReadStore } from '../../src/db/reads'
import { TurnStore } from '../../src/db/store'
import { ApiError } from '../../src/errors'
import { openBody } from '../../src/ingest/body'
import { ingest } from '../../src/ingest/pipeline'
import { summaryStatus } from '../../src/ingest/summary'
import type { IngestLimits, Summary } from '../../src/types'
import {
  type BodySpec,
  bodySpec,
  buildBody,
  type Expected,
  expectOutcome,
  fraction,
  POISON,
  pieceStream,
  piecesOf,
} from '../helpers/model'
import { gzipped as gzip, ownerFactory, tokenFor, workerDatabase } from './helpers'
import { WORKERS_TEST_SECRET } from './secret'

const db = workerDatabase({ fetch: fetchWithDeadline(10_000) })
const store = new TurnStore(db)

beforeAll(async () => {
  await db.execute(`create trigger if not exists prop_poison before insert on turns
    when new.content = '${POISON}' begin select raise(abort, 'poisoned row'); end`)
})

const freshOwner = ownerFactory('workerd-prop')

type Case = {
  spec: BodySpec
  limits: { chunkLines: number; chunkBytes: number; maxErrors: number; maxLineBytes: number }
  cuts: number[]
  via: 'ingest' | 'http'
  ending:
    | { kind: 'complete'; gzip: boolean }
    | { kind: 'clientGone'; after: number }
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
  cuts: fc.array(fraction, { maxLength: 20 }),
  via: fc.constantFrom('ingest', 'http'),
  ending: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('complete' as const), gzip: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('clientGone' as const), after: fraction }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('cap' as const), at: fraction }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('gzipTruncated' as const), at: fraction }),
    },
  ),
})

type Outcome = { summary: Summary; status: number; code?: string }

const verify = createVerifier({
  keySource: { kind: 'secret', secret: WORKERS_TEST_SECRET },
  algorithms: undefined,
  issuer: undefined,
  audience: undefined,
  ownerClaim: 'sub',
  clockToleranceS: 30,
})

async function runCase(
  owner: string,
  c: Case,
  pieces: Uint8Array[],
  limits: IngestLimits,
  gzipped: boolean,
  failAfter: number | undefined,
): Promise<Outcome> {
  if (c.via === 'ingest') {
    try {
      const summary = await ingest({
        owner,
        body: openBody(pieceStream(pieces, failAfter), gzipped ? 'gzip' : undefined),
        store,
        limits,
      })
      return { summary, status: summaryStatus(summary) }
    } catch (error) {
      if (!(error instanceof ApiError) || error.committed === undefined) throw error
      return { summary: error.committed, status: error.status, code: error.code }
    }
  }
  // The app as the Worker builds it, with a real signed token.
  const app = createApp({
    limits,
    store,
    reads: new ReadStore(db),
    verify,
    log: () => {},
    info: () => {},
  })
  const token = await tokenFor(owner)
  const res = await app.request('/v1/ingest', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-ndjson',
      ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
    },
    body: pieceStream(pieces, failAfter),
    duplex: 'half',
  } as RequestInit)
  const body = (await res.json()) as Summary & {
    code?: string
    committed?: Summary
    request_id?: string
  }
  // The answer names its request; the summary proper is the rest.
  expect(body.request_id).toBe(res.headers.get('x-request-id'))
  delete body.request_id
  if (body.committed !== undefined) {
    return {
      summary: body.committed,
      status: res.status,
      ...(body.code === undefined ? {} : { code: body.code }),
    }
  }
  return { summary: body, status: res.status }
}

async function stored(owner: string) {
  const turns = await db.execute({
    sql: `select session_id, turn_id, seq, role, timestamp, content, tokens_in, metadata
          from turns where owner = ? order by session_id, turn_id`,
    args: [owner],
  })
  const sessions = await db.execute({
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
  const owner = freshOwner()
  const built = buildBody(c.spec, c.limits.maxLineBytes)
  const limits: IngestLimits = { ...defaultLimits, ...c.limits }
  const cuts = c.cuts.map((f) => Math.floor(f * built.body.length))
  let expected: Expected
  let outcome: Outcome
  if (c.ending.kind === 'complete') {
    const sent = c.ending.gzip ? await gzip(built.body) : built.body
    outcome = await runCase(owner, c, piecesOf(sent, cuts), limits, c.ending.gzip, undefined)
    expected = expectOutcome(built, limits, built.body.length, true, built.body.length)
    expect(outcome.status).toBe(statusOf(expected))
  } else if (c.ending.kind === 'clientGone') {
    const pieces = piecesOf(built.body, cuts)
    const after = Math.min(pieces.length, Math.floor(c.ending.after * (pieces.length + 1)))
    outcome = await runCase(owner, c, pieces, limits, false, after)
    expect(outcome).toMatchObject({ status: 400, code: 'BODY_INCOMPLETE' })
    const delivered = pieces.slice(0, after).reduce((n, p) => n + p.length, 0)
    expected = expectOutcome(built, limits, delivered, false, delivered)
  } else if (c.ending.kind === 'gzipTruncated') {
    const whole = await gzip(built.body)
    const sent = whole.subarray(0, Math.floor(c.ending.at * whole.length))
    outcome = await runCase(owner, c, piecesOf(sent, cuts), limits, true, undefined)
    expect(outcome).toMatchObject({ status: 400, code: 'BAD_ENCODING' })
    const delivered = outcome.summary.bytes
    expect(delivered).toBeLessThanOrEqual(built.body.length)
    expected = expectOutcome(built, limits, delivered, false, delivered)
  } else {
    if (built.body.length === 0) return
    const pieces = piecesOf(built.body, cuts)
    const cap = Math.floor(c.ending.at * built.body.length)
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

describe('the summary is the truth inside workerd, against sqld (property-based)', () => {
  it('holds for random bodies, cuts, chunk sizes and endings, via ingest() and the app', async () => {
    await fc.assert(fc.asyncProperty(caseArbitrary, check), { numRuns: 200 })
  }, 120_000)
})
