/**
 * The read API over real sockets, on the Node server with a file database (writer thread) and
 * with sqld: two owners' corpora paged with small limits while a third client keeps ingesting,
 * every page and total compared with the database read directly. And the read indexes' migration
 * applied to a database that already holds rows.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { drizzle } from 'drizzle-orm/libsql'
import { migrate } from 'drizzle-orm/libsql/migrator'
import { describe, expect, it } from 'vitest'
import journal from '../../drizzle/meta/_journal.json'
import { openNodeDatabase } from '../../src/node/database'
import { applyMigrations, migrationsFolder } from '../../src/node/migrations'
import { tokenFor } from '../helpers/app'
import { freshOwner } from '../helpers/db'
import { startStack } from '../helpers/node'
import { roundCosts, sessionsFromDb, usageByDayFromDb, walk } from '../helpers/read'
import { ndjson, type WireTurn, wireTurn } from '../helpers/turns'

const over = (base: string) => ({
  request: (path: string, init?: RequestInit) => fetch(`${base}${path}`, init),
})

const corpus = (prefix: string, sessions: number) =>
  Array.from({ length: sessions }, (_, s) =>
    Array.from({ length: 1 + (s % 4) }, (_, t) =>
      wireTurn({
        session_id: `${prefix}-${s}`,
        turn_id: `${prefix}-${s}:${t}`,
        seq: t,
        host: `h${s % 3}`,
        timestamp: new Date(Date.UTC(2026, 10, 1 + (s % 20), t, s % 60)).toISOString(),
        tokens_in: s + t,
      }),
    ),
  ).flat()

async function ingest(base: string, owner: string, lines: WireTurn[]) {
  const res = await fetch(`${base}/v1/ingest`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor(owner)}`,
      'content-type': 'application/x-ndjson',
    },
    body: ndjson(lines),
  })
  expect(res.status).toBe(200)
  await res.body?.cancel()
}

describe.each([
  ['file database', false],
  ['sqld', true],
])('the read API on the Node server, %s', (_, sqld) => {
  it('pages both owners to the end while a third client ingests, each session once', async () => {
    const stack = await startStack({ sqld })
    try {
      const base = stack.server.url
      const app = over(base)
      const owners = [freshOwner('one'), freshOwner('two')]
      for (const [i, owner] of owners.entries()) await ingest(base, owner, corpus(`c${i}`, 25))
      const expected = await Promise.all(
        owners.map(async (o) => roundCosts(await sessionsFromDb(stack.reader, o))),
      )

      // A third client ingests new sessions for both owners (and its own) the whole time.
      let stop = false
      let rounds = 0
      const third = (async () => {
        while (!stop) {
          rounds++
          for (const owner of [...owners, 'third-client']) {
            await ingest(base, owner, [
              wireTurn({ session_id: `new-${rounds}`, timestamp: new Date().toISOString() }),
              wireTurn({ session_id: `old-${rounds}`, timestamp: '2026-01-02T03:04:05.000Z' }),
            ])
          }
        }
      })()
      try {
        for (const [i, owner] of owners.entries()) {
          const { rows } = await walk<{ session_id: string }>(
            app,
            owner,
            '/v1/sessions?limit=3',
            'sessions',
          )
          const keys = rows.map((s) => s.session_id)
          expect(new Set(keys).size).toBe(keys.length)
          expect(roundCosts(rows.filter((s) => s.session_id.startsWith('c')))).toEqual(expected[i])
        }
      } finally {
        stop = true
        await third
      }
      expect(rounds).toBeGreaterThan(1)

      for (const owner of owners) {
        const still = await walk(app, owner, '/v1/sessions?limit=11', 'sessions')
        expect(roundCosts(still.rows)).toEqual(
          roundCosts(await sessionsFromDb(stack.reader, owner)),
        )
        const res = await fetch(`${base}/v1/usage?from=2026-11-01&to=2026-11-21`, {
          headers: { authorization: `Bearer ${await tokenFor(owner)}` },
        })
        const usage = (await res.json()) as { rows: object[] }
        expect(roundCosts(usage.rows)).toEqual(
          roundCosts(
            await usageByDayFromDb(
              stack.reader,
              owner,
              '2026-11-01T00:00:00.000Z',
              '2026-11-21T00:00:00.000Z',
            ),
          ),
        )
      }
    } finally {
      await stack.close()
    }
  })
})

describe('the read indexes migration', () => {
  it('applies to a database migrated before it, keeping every row readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-migrate-'))
    try {
      // A migrations folder as it was before this migration: the first entry only.
      const before = join(dir, 'drizzle-before')
      mkdirSync(join(before, 'meta'), { recursive: true })
      const first = journal.entries[0]
      if (first === undefined) throw new Error('no first migration')
      cpSync(join(migrationsFolder, `${first.tag}.sql`), join(before, `${first.tag}.sql`))
      writeFileSync(
        join(before, 'meta', '_journal.json'),
        JSON.stringify({ ...journal, entries: [first] }),
      )
      const client = await openNodeDatabase(`file:${join(dir, 'old.db')}`)
      await migrate(drizzle(client), { migrationsFolder: before })
      await client.execute(`insert into sessions (owner, tool, host, session_id, started_at, ended_at)
        values ('o', 't', 'h', 's', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')`)
      await client.execute(`insert into turns (owner, tool, host, session_id, turn_id, seq, role, timestamp, tokens_in)
        values ('o', 't', 'h', 's', 'x', 0, 'user', '2026-11-01T00:00:00.000Z', 5)`)
      await applyMigrations(client)
      const indexes = await client.execute(
        "select name from sqlite_master where type = 'index' and name like '%_idx' order by name",
      )
      expect(indexes.rows.map((r) => r.name)).toEqual([
        'sessions_owner_activity_idx',
        'turns_owner_time_idx',
        'turns_session_order_idx',
      ])
      const plan = await client.execute(
        "explain query plan select count(*), sum(tokens_in) from turns where owner = 'o' and tool = 't' and host = 'h' and session_id = 's'",
      )
      expect(plan.rows.map((r) => String(r.detail)).join(' ')).toContain(
        'COVERING INDEX turns_session_order_idx',
      )
      client.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
