/**
 * The short version of `npm run load` (issue 4 item 7): a few seconds of concurrent mixed
 * bodies against tributary as a child process: no 5xx, every answer matches its body, no line
 * lost or added in the database, memory bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatReport, runLoad } from '../helpers/load'
import { type ChildServer, spawnServer } from '../helpers/node'

const STREAMS = 8

let server: ChildServer
beforeAll(async () => {
  server = await spawnServer()
}, 60_000)
afterAll(() => server?.stop())

describe('load (short)', () => {
  it(`serves ${STREAMS} concurrent streams for 3 s without a 5xx or a lost line`, async () => {
    const report = await runLoad({
      server,
      streams: STREAMS,
      durationMs: 3000,
      maxRequestsPerStream: 200,
    })
    expect(report.failures, formatReport(report, STREAMS)).toEqual([])
    expect(report.requests).toBeGreaterThan(STREAMS)
    expect(report.accepted).toBeGreaterThan(0)
    expect(Object.keys(report.byStatus).every((s) => Number(s) < 500)).toBe(true)
    // Too short to show a slow leak (npm run load does that); the server stays far from the
    // bodies' total size.
    expect(Math.max(...report.rssMiB)).toBeLessThan(400)
  }, 30_000)
})
