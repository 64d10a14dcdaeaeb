/**
 * The setup most test files repeat: one migrated database for the file (deleted after it), the
 * real app and TurnStore over it, and requests signed with a real token for each owner.
 *
 * @example
 * const suite = testSuite({ limits: { chunkLines: 2 } })
 * it('…', async () => { const res = await suite.post(freshOwner(), ndjson([wireTurn()])) })
 */
import { afterAll, beforeAll } from 'vitest'
import type { TurnStore } from '../../src/db/store'
import type { IngestLimits } from '../../src/types'
import { post, testApp } from './app'
import { createTestDatabase, refuseContent, type TestDatabase } from './db'

export type SuiteOptions = {
  limits?: Partial<IngestLimits>
  /** A content value the database refuses (a trigger), so its line is a DB_CONSTRAINT. */
  refuse?: string
}

type App = ReturnType<typeof testApp>['app']

export type Suite = {
  readonly db: TestDatabase
  readonly app: App
  readonly store: TurnStore
  /** POST a body to /v1/ingest as `owner`, with a real token. */
  post(
    owner: string,
    body: Parameters<typeof post>[2],
    headers?: Record<string, string>,
  ): Promise<Response>
}

/** Registers the file's beforeAll/afterAll; its parts are there once the tests run. */
export function testSuite(options: SuiteOptions = {}): Suite {
  let parts: { db: TestDatabase; app: App; store: TurnStore } | undefined
  beforeAll(async () => {
    const db = await createTestDatabase()
    if (options.refuse !== undefined) await refuseContent(db.client, options.refuse)
    parts = { db, ...testApp(db, options.limits) }
  })
  afterAll(async () => {
    await parts?.db.close()
  })
  const ready = () => {
    if (parts === undefined) throw new Error('the suite is set up in beforeAll: use it in tests')
    return parts
  }
  return {
    get db() {
      return ready().db
    },
    get app() {
      return ready().app
    },
    get store() {
      return ready().store
    },
    post: (owner, body, headers) => post(ready().app, owner, body, headers),
  }
}
