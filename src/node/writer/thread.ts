/**
 * The writer thread (a worker_threads entry): one connection to the embedded database with the
 * settings of openNodeDatabase, running each batch as one BEGIN IMMEDIATE … COMMIT. When a
 * multi-row statement is refused, the batch goes back to its savepoint and its lines are written
 * one by one, each under a savepoint of its own, so only the refused lines are left out.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { InValue } from '@libsql/client'
import Database from 'libsql'
import { toDatabaseError } from '../../db/errors'
import { SESSION_VALUES, TURN_VALUES, type Upsert, upsertSql } from '../../db/statements'
import type { Refusal } from '../../types'
import type { FromThread, ToThread, WriterData } from './messages'

type Batch = { sessions: Upsert[]; turns: Upsert[]; lineSessions: InValue[][]; sealed: boolean }

const port = parentPort
if (port === null) throw new Error('thread.ts runs as a worker thread')
const data = workerData as WriterData

const db = new Database(data.path, { timeout: data.busyTimeoutMs })
db.exec('PRAGMA journal_mode = WAL')
db.exec('PRAGMA synchronous = NORMAL')
db.exec(`PRAGMA busy_timeout = ${Number(data.busyTimeoutMs)}`)

/** The statements of the few SQL shapes there are stay prepared (an LRU of 32). */
const prepared = new Map<string, ReturnType<typeof db.prepare>>()
const statement = (sql: string) => {
  let stmt = prepared.get(sql)
  if (stmt === undefined) {
    stmt = db.prepare(sql)
    const oldest = prepared.keys().next()
    if (prepared.size >= 32 && oldest.done !== true) prepared.delete(oldest.value)
  } else {
    prepared.delete(sql)
  }
  prepared.set(sql, stmt)
  return stmt
}
const run = (sql: string, args: InValue[]) => statement(sql).run(args)
const exec = (sql: string) => statement(sql).run([])

const batches = new Map<number, Batch>()
const batchOf = (id: number): Batch => {
  let b = batches.get(id)
  if (b === undefined) {
    b = { sessions: [], turns: [], lineSessions: [], sealed: false }
    batches.set(id, b)
  }
  return b
}

/** A refusal of the values (a constraint), as opposed to a failure of the database. */
const refusalOf = (error: unknown) => {
  const failure = toDatabaseError(error)
  return failure.kind === 'data' ? failure.message : undefined
}

/** Write the batch's lines one by one, each under its own savepoint; the refused are named. */
function lineByLine(b: Batch): Refusal[] {
  const refused: Refusal[] = []
  const sessions = b.lineSessions.flat()
  let line = 0
  for (const group of b.turns) {
    for (let at = 0; at < group.args.length; at += TURN_VALUES, line++) {
      const s = line * SESSION_VALUES
      exec('SAVEPOINT line')
      try {
        run(upsertSql('sessions', 1), sessions.slice(s, s + SESSION_VALUES))
        run(upsertSql('turns', 1), group.args.slice(at, at + TURN_VALUES))
      } catch (error) {
        const message = refusalOf(error)
        if (message === undefined) throw error
        exec('ROLLBACK TO line')
        refused.push({ index: line, code: 'DB_CONSTRAINT', message })
      }
      exec('RELEASE line')
    }
  }
  return refused
}

function write(b: Batch): Refusal[] {
  exec('BEGIN IMMEDIATE')
  try {
    let refused: Refusal[] = []
    exec('SAVEPOINT chunk')
    try {
      for (const s of b.sessions) run(s.sql, s.args)
      for (const s of b.turns) run(s.sql, s.args)
    } catch (error) {
      if (refusalOf(error) === undefined) throw error
      exec('ROLLBACK TO chunk')
      refused = lineByLine(b)
    }
    exec('RELEASE chunk')
    exec('COMMIT')
    return refused
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK')
    throw error
  }
}

const reply = (message: FromThread) => port.postMessage(message)
reply({ ready: true })

port.on('message', (request: ToThread) => {
  switch (request.op) {
    case 'close':
      db.close()
      process.exit(0)
      break
    case 'append': {
      const b = batchOf(request.id)
      b.turns.push(request.statement)
      b.lineSessions.push(request.lineSessions)
      break
    }
    case 'seal': {
      const b = batchOf(request.id)
      b.sessions = request.sessions
      b.turns.push(...request.turns)
      b.lineSessions.push(request.lineSessions)
      b.sealed = true
      break
    }
    case 'drop':
      batches.delete(request.id)
      break
    case 'ping':
      try {
        db.prepare('select 1').get()
        reply({ id: request.id, ok: true, refused: [] })
      } catch (error) {
        reply({ id: request.id, ok: false, error: { message: String(error) } })
      }
      break
    case 'run': {
      const b = batches.get(request.id)
      batches.delete(request.id)
      try {
        if (b === undefined || !b.sealed)
          throw new Error('the batch was never sealed on this thread')
        reply({ id: request.id, ok: true, refused: write(b) })
      } catch (error) {
        const { message, code } = error as { message?: unknown; code?: unknown }
        reply({
          id: request.id,
          ok: false,
          error: {
            message: String(message ?? error),
            ...(typeof code === 'string' ? { code } : {}),
          },
        })
      }
      break
    }
  }
})
