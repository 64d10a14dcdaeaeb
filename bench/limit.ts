/**
 * The limit: the corpus' rows written straight to libSQL, no HTTP, no parsing, no validation,
 * the statements built before the clock starts. Two plain ways, and the faster one is the limit:
 *
 * - `native`: the `libsql` driver @libsql/client itself runs on (better-sqlite3's API), each
 *   multi-row upsert prepared once per SQL text and reused, one `BEGIN IMMEDIATE … COMMIT` per
 *   chunk;
 * - `client`: `@libsql/client`'s `batch(statements, 'write')` per chunk, as TurnStore calls it.
 *
 * And over HTTP to sqld, what the worker is compared with: `@libsql/client` `batch` per chunk,
 * one batch in flight, as the worker sends them.
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { createClient, type InStatement } from '@libsql/client'
import { openNodeDatabase } from '../src/node/database'
import { applyMigrations } from '../src/node/migrations'
import { removeFolder, tempFolder } from './procs'

export type Timed = { ms: number }

/** The statements of each chunk (bench/rows.ts chunkStatements), built before the clock starts. */
export type Batches = InStatement[][]

type NativeStatement = { run(args: unknown[]): unknown }
type NativeDatabase = {
  prepare(sql: string): NativeStatement
  exec(sql: string): void
  close(): void
}

/** The native driver under @libsql/client, the one the Node writer thread uses. */
function nativeDriver(): new (path: string) => NativeDatabase {
  return createRequire(import.meta.url)('libsql') as new (
    path: string,
  ) => NativeDatabase
}

/** A fresh migrated file database in a temporary folder. */
export async function freshFileDatabase(): Promise<{ path: string; dir: string }> {
  const dir = tempFolder('limit')
  const path = join(dir, 'bench.db')
  const client = await openNodeDatabase(`file:${path}`)
  await applyMigrations(client)
  client.close()
  return { path, dir }
}

const argsOf = (statement: InStatement): unknown[] =>
  typeof statement === 'string' ? [] : ((statement.args as unknown[] | undefined) ?? [])

const sqlOf = (statement: InStatement): string =>
  typeof statement === 'string' ? statement : statement.sql

/** Prepared multi-row upserts, one transaction a chunk, on the native driver. */
export async function limitNative(batches: Batches): Promise<Timed> {
  const { path, dir } = await freshFileDatabase()
  const Database = nativeDriver()
  const db = new Database(path)
  try {
    db.exec('PRAGMA journal_mode = WAL')
    db.exec('PRAGMA busy_timeout = 5000')
    db.exec('PRAGMA synchronous = NORMAL')
    const prepared = new Map<string, NativeStatement>()
    const begin = db.prepare('BEGIN IMMEDIATE')
    const commit = db.prepare('COMMIT')
    const started = performance.now()
    for (const statements of batches) {
      begin.run([])
      for (const statement of statements) {
        const sql = sqlOf(statement)
        let stmt = prepared.get(sql)
        if (stmt === undefined) {
          stmt = db.prepare(sql)
          prepared.set(sql, stmt)
        }
        stmt.run(argsOf(statement))
      }
      commit.run([])
    }
    return { ms: performance.now() - started }
  } finally {
    db.close()
    removeFolder(dir)
  }
}

/** `client.batch(statements, 'write')` a chunk, as TurnStore does, on a file database. */
export async function limitClient(batches: Batches): Promise<Timed> {
  const { path, dir } = await freshFileDatabase()
  const client = await openNodeDatabase(`file:${path}`)
  try {
    const started = performance.now()
    for (const statements of batches) await client.batch(statements, 'write')
    return { ms: performance.now() - started }
  } finally {
    client.close()
    removeFolder(dir)
  }
}

/** `client.batch` a chunk over HTTP to sqld (a fresh, migrated database), one in flight. */
export async function limitHttp(url: string, batches: Batches): Promise<Timed> {
  const client = createClient({ url })
  try {
    await applyMigrations(client)
    const started = performance.now()
    for (const statements of batches) await client.batch(statements, 'write')
    return { ms: performance.now() - started }
  } finally {
    client.close()
  }
}
