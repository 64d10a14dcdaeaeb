/**
 * Clients that misbehave (issue 4 item 6), over real sockets: clients that go away mid-body
 * leave only whole chunks behind and the server keeps serving; a client that trickles bytes
 * is cut off by the idle timeout with a 408 that says what was committed, while a client that
 * streams slowly but steadily is not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MIN_BYTES_PER_IDLE_WINDOW } from '../../src/ingest/pipeline'
import { freshOwner } from '../helpers/db'
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

const IDLE_MS = 500
const CHUNK = 3

let stack: Stack
beforeAll(async () => {
  stack = await startStack({
    env: { INGEST_IDLE_TIMEOUT_MS: String(IDLE_MS), INGEST_CHUNK_LINES: String(CHUNK) },
  })
})
afterAll(() => stack.close())

const line = (id: string) => ndjson([wireTurn({ turn_id: id })])

describe('clients that go away', () => {
  it('leave whole chunks only, while other clients are served', async () => {
    const leavers = Array.from({ length: 10 }, (_, i) => ({ owner: freshOwner('leaver'), i }))
    const steady = freshOwner('steady')
    const steadyBody = ndjson(Array.from({ length: 200 }, (_, i) => wireTurn({ turn_id: `s${i}` })))
    const [served] = await Promise.all([
      postIngest(stack.server.url, steady, steadyBody),
      ...leavers.map(async ({ owner, i }) => {
        const { req } = await openIngest(stack.server.url, owner)
        // i + 2 whole lines, then half of the next one, then the connection drops.
        for (let n = 0; n < i + 2; n++) req.write(line(`${owner}-${String(n).padStart(2, '0')}`))
        req.write(line('half').slice(0, 40))
        await sleep(50 + i * 10)
        req.destroy()
      }),
    ])
    expect(served.status).toBe(200)
    expect(served.body).toMatchObject({ accepted: 200 })
    await sleep(200) // let the server finish with the dropped requests
    for (const { owner, i } of leavers) {
      const ids = await turnIdsOf(stack.reader, owner)
      // Only whole chunks, in order: a multiple of the chunk size, a prefix of what was sent.
      expect(ids.length % CHUNK).toBe(0)
      expect(ids.length).toBeLessThanOrEqual(i + 2)
      expect(ids).toEqual(
        Array.from({ length: ids.length }, (_, n) => `${owner}-${String(n).padStart(2, '0')}`),
      )
    }
    expect((await getStatus(`${stack.server.url}/healthz`)).status).toBe(200)
  })
})

describe('slow clients', () => {
  it('cuts off a client that sends a byte at a time, answering 408 with what committed', async () => {
    const owner = freshOwner('trickle')
    const { req, answer } = await openIngest(stack.server.url, owner)
    req.write(ndjson(Array.from({ length: CHUNK }, (_, i) => wireTurn({ turn_id: `t${i}` }))))
    const started = Date.now()
    let answered = false
    answer.then(
      () => {
        answered = true
      },
      () => {
        answered = true
      },
    )
    const text = line('slow')
    // One byte every IDLE_MS / 5: never silent for the idle timeout, never making progress.
    // Bounded: if the server has not answered within 8 idle windows, the test fails below.
    for (let i = 0; !answered && i < 40 && !req.destroyed; i++) {
      req.write(text.charAt(i % text.length))
      await sleep(IDLE_MS / 5)
    }
    expect(answered).toBe(true)
    const { status, body } = await answer
    expect(status).toBe(408)
    expect(body).toMatchObject({ code: 'BODY_TIMEOUT', committed: { accepted: CHUNK, chunks: 1 } })
    expect(Date.now() - started).toBeLessThan(IDLE_MS * 4)
    expect(await turnIdsOf(stack.reader, owner)).toEqual(['t0', 't1', 't2'])
    req.destroy()
  })

  it('keeps a client that streams slowly but steadily', async () => {
    const owner = freshOwner('steady')
    const { req, answer } = await openIngest(stack.server.url, owner)
    const per = Math.ceil(MIN_BYTES_PER_IDLE_WINDOW / line('x').length)
    // `per` lines every half idle window: always enough progress, for 4 windows in all.
    for (let i = 0; i < 8; i++) {
      req.write(ndjson(Array.from({ length: per }, (_, n) => wireTurn({ turn_id: `${i}-${n}` }))))
      await sleep(IDLE_MS / 2)
    }
    req.end()
    const { status, body } = await answer
    expect(status).toBe(200)
    expect(body).toMatchObject({ accepted: per * 8 })
  })
})
