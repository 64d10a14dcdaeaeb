/**
 * The database fails, the data does not (issue 4 item 5). Each test starts its own real sqld and
 * a tributary Node server over it, breaks sqld (SIGKILL mid-body, stopped before a request,
 * SIGSTOP to make it hang or slow), and checks the answer against what is really stored. Every
 * sqld is stopped after its test, whatever state the test left it in.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { freshOwner, refuseContent } from '../helpers/db'
import {
  getStatus,
  openIngest,
  postIngest,
  type Stack,
  sleep,
  startStack,
  turnIdsOf,
} from '../helpers/node'
import { ndjson, wireTurn } from '../helpers/turns'

/** The libSQL deadline these tests run with (LIBSQL_TIMEOUT_MS). */
const DEADLINE_MS = 1000

const stacks: Stack[] = []
afterEach(async () => {
  // SIGCONT first: a stopped process ignores SIGTERM until it runs again.
  for (const stack of stacks) stack.sqld?.kill('SIGCONT')
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})

async function sqldStack() {
  const stack = await startStack({
    sqld: true,
    env: { INGEST_CHUNK_LINES: '2', LIBSQL_TIMEOUT_MS: String(DEADLINE_MS) },
  })
  stacks.push(stack)
  return stack
}

const lines = (...ids: string[]) => ndjson(ids.map((id) => wireTurn({ turn_id: id })))

describe('sqld killed mid-body', () => {
  it('answers 503 with Retry-After and a committed summary equal to what landed', async () => {
    const stack = await sqldStack()
    const owner = freshOwner()
    const { req, answer } = await openIngest(stack.server.url, owner)
    req.write(lines('1', '2', '3')) // chunk [1, 2] commits; 3 waits in the partial chunk
    await expect.poll(() => turnIdsOf(stack.reader, owner), { timeout: 5000 }).toHaveLength(2)

    stack.sqld?.kill('SIGKILL')
    await stack.sqld?.exited
    req.end(lines('4', '5', '6')) // chunk [3, 4] cannot commit
    const { status, headers, body } = await answer
    expect(status).toBe(503)
    expect(headers['content-type']).toBe('application/problem+json')
    expect(headers['retry-after']).toBe('5')
    expect(body).toMatchObject({
      code: 'DATABASE_UNAVAILABLE',
      committed: { accepted: 2, rejected: 0, chunks: 1 },
    })

    // Bring the same database back: exactly the committed lines are there, nothing of the
    // partial chunk, and tributary serves again without a restart.
    await stack.restartSqld()
    expect(await turnIdsOf(stack.reader, owner)).toEqual(['1', '2'])
    const again = await postIngest(stack.server.url, owner, lines('3', '4', '5', '6'))
    expect(again.status).toBe(200)
    expect(await turnIdsOf(stack.reader, owner)).toEqual(['1', '2', '3', '4', '5', '6'])
  })
})

describe('sqld stopped before a request', () => {
  it('answers 503 fast, /readyz 503, and serves again once sqld is back', async () => {
    const stack = await sqldStack()
    const owner = freshOwner()
    expect((await postIngest(stack.server.url, owner, lines('a'))).status).toBe(200)

    await stack.sqld?.stop()
    const down = await postIngest(stack.server.url, owner, lines('b', 'c', 'd'))
    expect(down.status).toBe(503)
    expect(down.ms).toBeLessThan(DEADLINE_MS) // refused at once, not a wait for the deadline
    expect(down.headers['retry-after']).toBe('5')
    expect(down.body).toMatchObject({
      code: 'DATABASE_UNAVAILABLE',
      committed: { accepted: 0, chunks: 0 },
    })
    expect((await getStatus(`${stack.server.url}/readyz`)).status).toBe(503)
    expect((await getStatus(`${stack.server.url}/healthz`)).status).toBe(200)

    await stack.restartSqld()
    expect((await getStatus(`${stack.server.url}/readyz`)).status).toBe(200)
    const back = await postIngest(stack.server.url, owner, lines('b', 'c', 'd'))
    expect(back.status).toBe(200)
    expect(back.body).toMatchObject({ accepted: 3 })
    expect(await turnIdsOf(stack.reader, owner)).toEqual(['a', 'b', 'c', 'd'])
  })
})

describe('sqld hangs or is slow', () => {
  it('fails a request within the LIBSQL_TIMEOUT_MS deadline when sqld stops answering', async () => {
    const stack = await sqldStack()
    const owner = freshOwner()
    const { req, answer } = await openIngest(stack.server.url, owner)
    req.write(lines('1', '2', '3'))
    await expect.poll(() => turnIdsOf(stack.reader, owner), { timeout: 5000 }).toHaveLength(2)

    stack.sqld?.kill('SIGSTOP') // sqld keeps its sockets open and answers nothing
    const stopped = Date.now()
    req.end(lines('4', '5'))
    const { status, headers, body } = await answer
    const waited = Date.now() - stopped
    expect(status).toBe(503)
    expect(headers['retry-after']).toBe('5')
    expect(body).toMatchObject({ code: 'DATABASE_UNAVAILABLE', committed: { accepted: 2 } })
    expect(waited).toBeGreaterThanOrEqual(DEADLINE_MS - 50)
    expect(waited).toBeLessThan(DEADLINE_MS + 1500)

    const ready = await getStatus(`${stack.server.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(ready.ms).toBeLessThan(DEADLINE_MS + 1500)

    // The chunk that timed out is in doubt: sqld may still run it once it wakes up. The
    // committed lines are there in any case, and nothing that was never sent.
    stack.sqld?.kill('SIGCONT')
    const after = await postIngest(stack.server.url, owner, lines('6'))
    expect(after.status).toBe(200)
    const stored = await turnIdsOf(stack.reader, owner)
    expect(stored).toEqual(expect.arrayContaining(['1', '2', '6']))
    expect(['1', '2', '3', '4', '5', '6']).toEqual(expect.arrayContaining(stored))
  })

  it('finishes a request normally when sqld is slow but answers within the deadline', async () => {
    const stack = await sqldStack()
    const owner = freshOwner()
    const { req, answer } = await openIngest(stack.server.url, owner)
    req.write(lines('1'))
    stack.sqld?.kill('SIGSTOP')
    const resume = sleep(DEADLINE_MS / 3).then(() => stack.sqld?.kill('SIGCONT'))
    req.end(lines('2', '3', '4', '5'))
    const { status, body } = await answer
    await resume
    expect(status).toBe(200)
    expect(body).toMatchObject({ accepted: 5, chunks: 3 })
    expect(await turnIdsOf(stack.reader, owner)).toEqual(['1', '2', '3', '4', '5'])
  })
})

describe('a line sqld refuses', () => {
  it('is a DB_CONSTRAINT line error over HTTP too, never a 503', async () => {
    const stack = await sqldStack()
    await refuseContent(stack.reader)
    const owner = freshOwner()
    const body = ndjson([
      wireTurn({ turn_id: '1' }),
      wireTurn({ turn_id: '2', content: 'poison' }),
      wireTurn({ turn_id: '3' }),
    ])
    const { status, body: summary } = await postIngest(stack.server.url, owner, body)
    expect(status).toBe(207)
    expect(summary).toMatchObject({
      accepted: 2,
      rejected: 1,
      errors: [{ line: 2, code: 'DB_CONSTRAINT' }],
    })
    expect(await turnIdsOf(stack.reader, owner)).toEqual(['1', '3'])
  })
})
