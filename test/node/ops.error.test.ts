/**
 * Database failures in the log, black-box against the serve entry: one line per failure with
 * its classification (`data`: a value refused, the line rejected; `unavailable`: the database
 * failed), beside the request's own line with its problem code, and counted in /metrics.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openNodeDatabase } from '../../src/node/database'
import { type SqldServer, startSqld } from '../../src/node/sqld'
import { freshOwner, refuseContent } from '../helpers/db'
import { type ChildServer, postIngest, spawnServer } from '../helpers/node'
import { parsePrometheus, sampleValue } from '../helpers/prometheus'
import { ndjson, wireTurn } from '../helpers/turns'

const METRICS_TOKEN = 'metrics-token-for-errors-0123456789'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const jsonLines = (server: ChildServer) =>
  server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

async function linesOf(server: ChildServer, id: string, count: number) {
  await expect
    .poll(() => jsonLines(server).filter((l) => l.request_id === id).length, { timeout: 5000 })
    .toBeGreaterThanOrEqual(count)
  return jsonLines(server).filter((l) => l.request_id === id)
}

const scrape = async (server: ChildServer) => {
  const res = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  })
  return parsePrometheus(await res.text())
}

describe('database failures', () => {
  it('logs a refused value as a data failure and counts it', async () => {
    const server = await spawnServer({ METRICS_TOKEN })
    cleanups.push(() => server.stop())
    const db = await openNodeDatabase(server.databaseUrl)
    await refuseContent(db, 'poison')
    db.close()

    const id = 'refused-value-1'
    const res = await postIngest(
      server.url,
      freshOwner(),
      ndjson([wireTurn(), wireTurn({ content: 'poison' }), wireTurn()]),
      { 'x-request-id': id },
    )
    expect(res.status).toBe(207)
    const lines = await linesOf(server, id, 2)
    // One line per refused record: the store isolates it and commits the rest.
    const failures = lines.filter((l) => l.msg === 'database failure')
    expect(failures).toEqual([
      expect.objectContaining({ db_class: 'data', route: '/v1/ingest', request_id: id }),
    ])
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({
      status: 207,
      accepted: 2,
      rejected: 1,
      rejected_by_code: { DB_CONSTRAINT: 1 },
    })
    const metrics = await scrape(server)
    expect(sampleValue(metrics, 'tributary_database_errors_total', { class: 'data' })).toBe(1)
    expect(
      sampleValue(metrics, 'tributary_ingest_lines_rejected_total', { code: 'DB_CONSTRAINT' }),
    ).toBe(1)
  })

  it('logs a database that is gone as unavailable, for ingest and readiness', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-ops-sqld-'))
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }))
    const sqld: SqldServer = await startSqld({ dataDir })
    cleanups.push(() => sqld.stop())
    const server = await spawnServer({
      METRICS_TOKEN,
      LIBSQL_URL: sqld.url,
      LIBSQL_TIMEOUT_MS: '1000',
    })
    cleanups.push(() => server.stop())
    await sqld.stop()

    const res = await postIngest(server.url, freshOwner(), ndjson([wireTurn()]), {
      'x-request-id': 'gone-1',
    })
    expect(res.status).toBe(503)
    expect(res.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE', request_id: 'gone-1' })
    const lines = await linesOf(server, 'gone-1', 2)
    expect(lines.filter((l) => l.msg === 'database failure')).toEqual([
      expect.objectContaining({ db_class: 'unavailable', route: '/v1/ingest' }),
    ])
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({
      status: 503,
      error_code: 'DATABASE_UNAVAILABLE',
      accepted: 0,
    })

    const ready = await fetch(`${server.url}/readyz`, { headers: { 'x-request-id': 'gone-2' } })
    expect(ready.status).toBe(503)
    const readiness = await linesOf(server, 'gone-2', 2)
    expect(readiness.find((l) => l.msg === 'database failure')).toMatchObject({
      db_class: 'unavailable',
      route: '/readyz',
    })
    const metrics = await scrape(server)
    expect(sampleValue(metrics, 'tributary_database_errors_total', { class: 'unavailable' })).toBe(
      2,
    )
  })
})
