/**
 * Tenants never meet (issue 4 item 3). Two owners writing the same (tool, host, session_id,
 * turn_id) keep two rows; a payload `owner` never reaches the database; no answer tells one
 * owner that another has the same keys; owners that look like SQL or wildcards are just strings.
 * The last test is a property: owners writing the same keys at the same time end up exactly as
 * if each had written alone.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { freshOwner, sessionsOf, turnsOf } from '../helpers/db'
import { testSuite } from '../helpers/suite'
import { ndjson, wireTurn } from '../helpers/turns'

const suite = testSuite({ limits: { chunkLines: 3 } })

/** Rows without the owner column: what one tenant stored, comparable with another's. */
const withoutOwner = (rows: Array<Record<string, unknown>>) =>
  rows.map(({ owner: _, ...rest }) => rest)

const sameKeys = (content: string, at: string) =>
  ndjson(
    ['t1', 't2', 't3', 't4'].map((turn_id, i) =>
      wireTurn({
        session_id: 'shared-session',
        turn_id,
        seq: i,
        content: `${content} ${i}`,
        timestamp: at,
      }),
    ),
  )

describe('tenants never meet', () => {
  it('keeps two rows for two owners with the same keys, each with its own values', async () => {
    const alice = freshOwner('alice')
    const bob = freshOwner('bob')
    expect((await suite.post(alice, sameKeys('from alice', '2026-01-01T10:00:00Z'))).status).toBe(
      200,
    )
    expect((await suite.post(bob, sameKeys('from bob', '2026-01-02T10:00:00Z'))).status).toBe(200)

    const aliceTurns = await turnsOf(suite.db.client, alice)
    const bobTurns = await turnsOf(suite.db.client, bob)
    expect(aliceTurns.map((r) => r.content)).toEqual([
      'from alice 0',
      'from alice 1',
      'from alice 2',
      'from alice 3',
    ])
    expect(bobTurns.map((r) => r.content)).toEqual([
      'from bob 0',
      'from bob 1',
      'from bob 2',
      'from bob 3',
    ])
    // Bob's later session did not move Alice's session end, nor the other way round.
    expect((await sessionsOf(suite.db.client, alice)).map((s) => s.ended_at)).toEqual([
      '2026-01-01T10:00:00.000Z',
    ])
    expect((await sessionsOf(suite.db.client, bob)).map((s) => s.started_at)).toEqual([
      '2026-01-02T10:00:00.000Z',
    ])
  })

  it('never stores a payload owner, at the top level or inside session_meta', async () => {
    const owner = freshOwner('real')
    const victim = freshOwner('victim')
    const body = ndjson([
      wireTurn({ owner: victim, turn_id: 'a' }),
      wireTurn({ owner: victim, turn_id: 'b', session_meta: { owner: victim } }),
    ])
    expect((await suite.post(owner, body)).status).toBe(200)
    expect((await turnsOf(suite.db.client, owner)).map((r) => r.turn_id)).toEqual(['a', 'b'])
    expect(await turnsOf(suite.db.client, victim)).toEqual([])
    expect(await sessionsOf(suite.db.client, victim)).toEqual([])
  })

  it('answers exactly the same whether or not another owner has the same keys', async () => {
    const first = freshOwner('first')
    const second = freshOwner('second')
    const alone = freshOwner('alone')
    // The same body, with a line the database accepts and lines it refuses on the wire.
    const body = `${sameKeys('same', '2026-01-01T10:00:00Z')}{"bad"\n`
    await suite.post(first, body)
    const afterOther = await suite.post(second, body) // `first` already has these keys
    const fresh = await suite.post(alone, body) // nobody has them
    expect(afterOther.status).toBe(fresh.status)
    expect(await afterOther.text()).toBe(await fresh.text())
    expect(withoutOwner(await turnsOf(suite.db.client, second))).toEqual(
      withoutOwner(await turnsOf(suite.db.client, alone)),
    )
  })

  it.each(["o'; drop table turns; --", '%', '_', 'owner-a%', 'Ω🙂', ' spaced '])(
    'treats the owner %j as an opaque string',
    async (tricky) => {
      const near = `${tricky}x`
      await suite.post(near, sameKeys('near', '2026-01-01T10:00:00Z'))
      expect((await suite.post(tricky, sameKeys('tricky', '2026-01-01T10:00:00Z'))).status).toBe(
        200,
      )
      expect((await turnsOf(suite.db.client, tricky)).map((r) => r.content)).toEqual([
        'tricky 0',
        'tricky 1',
        'tricky 2',
        'tricky 3',
      ])
      expect((await turnsOf(suite.db.client, near)).map((r) => r.content)).toEqual([
        'near 0',
        'near 1',
        'near 2',
        'near 3',
      ])
    },
  )

  it('leaves each owner, writing the same keys at the same time, as if it wrote alone', async () => {
    const line = fc.record({
      session: fc.constantFrom('s1', 's2'),
      turn: fc.constantFrom('t1', 't2', 't3'),
      seq: fc.nat(100),
      minute: fc.nat(59),
    })
    const bodyOf = (lines: Array<{ session: string; turn: string; seq: number; minute: number }>) =>
      ndjson(
        lines.map((l) =>
          wireTurn({
            session_id: l.session,
            turn_id: l.turn,
            seq: l.seq,
            content: `seq ${l.seq}`,
            timestamp: `2026-01-01T10:${String(l.minute).padStart(2, '0')}:00Z`,
          }),
        ),
      )
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(line, { minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 4 }),
        async (bodies) => {
          const owners = bodies.map(() => freshOwner('together'))
          const controls = bodies.map(() => freshOwner('alone'))
          // Every owner sends its body at the same time, twice (a retry): same keys for all.
          await Promise.all(
            bodies.flatMap((lines, i) => [
              suite.post(owners[i] as string, bodyOf(lines)),
              suite.post(owners[i] as string, bodyOf(lines)),
            ]),
          )
          for (const [i, lines] of bodies.entries()) {
            await suite.post(controls[i] as string, bodyOf(lines))
          }
          for (const [i] of bodies.entries()) {
            const owner = owners[i] as string
            const control = controls[i] as string
            expect(withoutOwner(await turnsOf(suite.db.client, owner))).toEqual(
              withoutOwner(await turnsOf(suite.db.client, control)),
            )
            expect(withoutOwner(await sessionsOf(suite.db.client, owner))).toEqual(
              withoutOwner(await sessionsOf(suite.db.client, control)),
            )
          }
        },
      ),
      { numRuns: 25 },
    )
  })
})
