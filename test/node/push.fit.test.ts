/**
 * A turn too long for one line of the server's default cap is cut to fit, its longest strings
 * first, each cut named in metadata.truncated; a turn that fits is left as it is.
 */
import { describe, expect, it } from 'vitest'
import { fitTurn, MAX_LINE_BYTES } from '../../src/push/fit'
import type { WireTurn } from '../../src/push/types'
import { wireProblem } from '../helpers/push'

const base: WireTurn = {
  tool: 'claude-code',
  host: 'laptop-7',
  session_id: 's-1',
  turn_id: 't-1',
  seq: 4,
  role: 'tool',
  timestamp: '2026-11-20T10:00:00.000Z',
}
const bytes = (turn: WireTurn) => Buffer.byteLength(JSON.stringify(turn))

describe('fitTurn', () => {
  it('leaves a turn that fits as it is', () => {
    const turn = { ...base, content: 'x'.repeat(10_000) }
    expect(fitTurn(turn)).toEqual({ turn, cut: [] })
  })

  it('cuts the longest strings first, multi-byte and escaped text included, to fit the cap', () => {
    const content = `${'€"\n'.repeat(600_000)}`
    const turn: WireTurn = {
      ...base,
      content,
      tool_calls: [
        { id: 'c1', name: 'Write', input: { file_path: '/a', content: 'y'.repeat(900_000) } },
      ],
      metadata: { thinking: 'short enough', extra: { note: 'z'.repeat(2_000) } },
    }
    expect(bytes(turn)).toBeGreaterThan(3 * MAX_LINE_BYTES)
    const fitted = fitTurn(turn)
    expect(fitted).toBeDefined()
    const out = fitted?.turn as WireTurn
    expect(bytes(out)).toBeLessThanOrEqual(MAX_LINE_BYTES)
    expect(bytes(out)).toBeGreaterThan(MAX_LINE_BYTES - 64 * 1024) // cut to fit, not to nothing
    expect(fitted?.cut).toEqual(['content', 'tool_calls.0.input.content'])
    expect(out.metadata?.truncated).toEqual([
      { field: 'content', chars: content.length },
      { field: 'tool_calls.0.input.content', chars: 900_000 },
    ])
    expect(content.startsWith(out.content ?? '-')).toBe(true)
    expect(out.metadata?.thinking).toBe('short enough')
    expect(out.metadata?.extra).toEqual({ note: 'z'.repeat(2_000) })
    expect(wireProblem(out)).toBeUndefined()
    // The turn given is not changed.
    expect(turn.content).toBe(content)
  })

  it('never cuts a lone surrogate into the head', () => {
    const turn = { ...base, content: '😀'.repeat(400_000) }
    const out = fitTurn(turn)?.turn as WireTurn
    expect(out.content?.isWellFormed()).toBe(true)
    expect(bytes(out)).toBeLessThanOrEqual(MAX_LINE_BYTES)
  })

  it('gives up when the fields it keeps are too long alone', () => {
    expect(
      fitTurn({ ...base, turn_id: 'x'.repeat(3_000), content: 'y'.repeat(5_000) }, 2_000),
    ).toBe(undefined)
  })
})
