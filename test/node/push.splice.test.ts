import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { openConverter } from '../../src/push/importer'
import { canonicalStringEnd, sourceJsonOf, splicedLine } from '../../src/push/splice'
import type { WireTurn } from '../../src/push/types'

/** Strings rich in what JSON escapes: quotes, backslashes, control characters, surrogates. */
const tricky = fc.string({
  unit: fc.oneof(
    {
      weight: 10,
      arbitrary: fc.constantFrom('"', '\\', '/', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u001f'),
    },
    {
      weight: 10,
      arbitrary: fc.constantFrom('\u007f', '\u2028', 'é', '😀', '"content":"', '\\"text\\":\\"'),
    },
    { weight: 10, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }) },
    // Lone surrogates, rarer: a value with one is never spliced (the wire gets it replaced).
    { weight: 1, arbitrary: fc.constantFrom('\ud800', '\udfff') },
  ),
  maxLength: 60,
})

/** Valid JSON rewrites of a line that JSON.stringify would not write. */
const rewrites: Array<(line: string) => string> = [
  (line) => line.replace(/\//g, '\\/'),
  (line) => line.replace(/é/g, '\\u00e9'),
  (line) => line.replace(/\\u001f/g, '\\u001F'),
  (line) => line.replace(/\\n/g, '\\u000a'),
  (line) => line.replace(/😀/g, '\\ud83d\\ude00'),
  (line) => line.replace(/"content":"/g, '"content": "'),
]

describe('sourceJsonOf: a string as JSON.stringify writes it, found in its source line', () => {
  it('finds it when the line was written by JSON.stringify', () => {
    let wellFormed = 0
    fc.assert(
      fc.property(tricky, tricky, (value, other) => {
        const line = JSON.stringify({ a: other, message: { content: [{ text: value }] } })
        wellFormed += value.isWellFormed() ? 1 : 0
        const found = sourceJsonOf(line, value)
        if (value.isWellFormed()) expect(found).toBe(JSON.stringify(value))
        else expect(found).toBeUndefined()
      }),
      { numRuns: 500 },
    )
    expect(wellFormed).toBeGreaterThan(100)
  })

  it('never answers other than JSON.stringify, whatever the line', () => {
    fc.assert(
      fc.property(tricky, tricky, fc.nat(rewrites.length - 1), (value, other, k) => {
        const rewrite = rewrites[k] as (line: string) => string
        const line = rewrite(JSON.stringify({ content: other, x: { content: value, text: other } }))
        const parsed = JSON.parse(line) as { x: { content: string } }
        const wanted = parsed.x.content.toWellFormed()
        const found = sourceJsonOf(line, wanted)
        if (found !== undefined) expect(found).toBe(JSON.stringify(wanted))
      }),
      { numRuns: 500 },
    )
  })

  it('takes no key inside a string, nor a value of another length or text', () => {
    const value = 'x'.repeat(20)
    const inner = JSON.stringify({ note: `"content":"${value}"`, content: `${value}y` })
    expect(sourceJsonOf(inner, value)).toBeUndefined()
    expect(canonicalStringEnd('"abc"', 1, 'ab')).toBe(-1)
    expect(canonicalStringEnd('"abc"', 1, 'abcd')).toBe(-1)
    expect(canonicalStringEnd('"a\\nc"', 1, 'a\nc')).toBe(5)
    expect(canonicalStringEnd('"a\\u000ac"', 1, 'a\nc')).toBe(-1)
    expect(canonicalStringEnd('"a\\u001fc"', 1, 'a\u001fc')).toBe(9)
  })
})

describe('splicedLine: the line in pieces', () => {
  it('joins to JSON.stringify of the turn', () => {
    fc.assert(
      fc.property(tricky, tricky, (content, other) => {
        const turn: WireTurn = {
          tool: 'claude-code',
          host: other,
          session_id: 's',
          turn_id: 't',
          seq: 1,
          role: 'tool',
          timestamp: '2026-01-01T00:00:00Z',
          content: content.toWellFormed(),
          metadata: { content: other, note: '"content":""' },
        }
        const pieces = splicedLine(turn, JSON.stringify(turn.content))
        expect(pieces?.join('')).toBe(JSON.stringify(turn))
      }),
    )
  })

  it('declines a turn whose content comes first or is absent', () => {
    expect(splicedLine({ content: 'x' } as WireTurn, '"x"')).toBeUndefined()
    expect(splicedLine({ tool: 'a' } as WireTurn, '"x"')).toBeUndefined()
  })
})

describe('the Claude Code converter marks long contents it can splice', () => {
  it('a tool result written by JSON.stringify, and not one with other escapes', () => {
    const content = 'line "one"\n\tline two \\ é 😀\u0001 '.repeat(40)
    const record = {
      type: 'user',
      uuid: 'u1',
      sessionId: 's1',
      timestamp: '2026-01-01T00:00:00.000Z',
      message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content }] },
      toolUseResult: { stdout: content },
    }
    const text = JSON.stringify(record)
    for (const [line, spliced] of [
      [text, true],
      [text.replace(/é/g, '\\u00e9'), false],
    ] as const) {
      const converter = openConverter('claude-code', { path: '/f.jsonl', host: 'h' })
      const [event] = converter.feed({ line: 1, text: line })
      if (event?.kind !== 'turn') throw new Error('no turn')
      expect(event.turn.content).toBe(content)
      expect(event.contentJson).toBe(spliced ? JSON.stringify(content) : undefined)
    }
  })
})
