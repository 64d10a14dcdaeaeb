import { describe, expect, it } from 'vitest'
import { MAX_JSON_DEPTH, normalizeTimestamp, parseTurnLine } from '../../src/ingest/turn'
import type { TurnRecord } from '../../src/types'
import { lineWith, minimalTurn, nestedArray, nestedObject, rawLine } from '../helpers/wire'

/** Parses `minimalTurn` with `overrides` (an `undefined` override removes the field); must be accepted. */
function accept(overrides: Record<string, unknown> = {}): TurnRecord {
  return acceptLine(lineWith(overrides))
}

function acceptLine(line: string): TurnRecord {
  const result = parseTurnLine(line)
  if (!result.ok) throw new Error(`rejected: ${result.code} ${result.field} ${result.message}`)
  return result.turn
}

describe('parseTurnLine: a full line', () => {
  it('normalizes the example line of the contract: camelCase record, UTC timestamps, JSON values as text', () => {
    const line =
      '{"tool":"claude-code","host":"laptop-7","session_id":"4f1c","turn_id":"4f1c:12","seq":12,' +
      '"role":"assistant","timestamp":"2026-11-22T14:22:26.123+01:00","content":"hi","model":"claude-sonnet-4-5",' +
      '"tokens_in":1834,"tokens_out":412,"cost_usd":0.0117,"tool_calls":[{"name":"bash","input":{"cmd":"ls"}}],' +
      '"metadata":{"git_branch":"main"},' +
      '"session_meta":{"started_at":"2026-11-22T13:01:00Z","working_dir":"/home/a/proj","source_file":"~/.claude/projects/x.jsonl","metadata":{}}}'
    expect(acceptLine(line)).toEqual({
      tool: 'claude-code',
      host: 'laptop-7',
      sessionId: '4f1c',
      turnId: '4f1c:12',
      seq: 12,
      role: 'assistant',
      timestamp: '2026-11-22T13:22:26.123Z',
      content: 'hi',
      model: 'claude-sonnet-4-5',
      tokensIn: 1834,
      tokensOut: 412,
      costUsd: 0.0117,
      toolCalls: '[{"name":"bash","input":{"cmd":"ls"}}]',
      metadata: '{"git_branch":"main"}',
      session: {
        startedAt: '2026-11-22T13:01:00.000Z',
        workingDir: '/home/a/proj',
        sourceFile: '~/.claude/projects/x.jsonl',
        metadata: '{}',
      },
    })
  })

  it('accepts only the required fields; optional ones become null, started_at falls back to timestamp', () => {
    expect(accept()).toEqual({
      tool: 'claude-code',
      host: 'laptop-7',
      sessionId: 'session-1',
      turnId: 'session-1:1',
      seq: 1,
      role: 'user',
      timestamp: '2026-11-22T13:22:26.123Z',
      content: null,
      model: null,
      tokensIn: null,
      tokensOut: null,
      costUsd: null,
      toolCalls: null,
      metadata: null,
      session: {
        startedAt: '2026-11-22T13:22:26.123Z',
        workingDir: null,
        sourceFile: null,
        metadata: null,
      },
    })
  })

  it('treats null for every optional field exactly as if it were absent', () => {
    const absent = accept()
    const nulls = accept({
      content: null,
      model: null,
      tokens_in: null,
      tokens_out: null,
      cost_usd: null,
      tool_calls: null,
      metadata: null,
      session_meta: null,
    })
    expect(nulls).toEqual(absent)
    const metaNulls = accept({
      session_meta: { started_at: null, working_dir: null, source_file: null, metadata: null },
    })
    expect(metaNulls).toEqual(absent)
    expect(accept({ session_meta: {} })).toEqual(absent)
  })

  it('ignores unknown fields, at the top level and inside session_meta', () => {
    const turn = accept({
      future_field: { x: 1 },
      another: [1, 2],
      session_meta: { unknown: 'x', working_dir: '/w' },
    })
    expect(turn).toEqual({ ...accept(), session: { ...accept().session, workingDir: '/w' } })
    expect(JSON.stringify(turn)).not.toContain('future_field')
    expect(JSON.stringify(turn)).not.toContain('unknown')
  })

  it('ignores a field called owner: it never reaches the record', () => {
    const turn = accept({ owner: 'mallory' })
    expect(turn).toEqual(accept())
    expect(Object.keys(turn)).not.toContain('owner')
    expect(JSON.stringify(turn)).not.toContain('mallory')
  })
})

describe('parseTurnLine: string fields at their length limits', () => {
  const fields: Array<[string, keyof TurnRecord, number]> = [
    ['tool', 'tool', 64],
    ['host', 'host', 255],
    ['session_id', 'sessionId', 255],
    ['turn_id', 'turnId', 255],
    ['model', 'model', 255],
  ]

  for (const [field, prop, max] of fields) {
    it(`accepts ${field} of exactly ${max} characters, ASCII and astral (counted in code points)`, () => {
      expect(accept({ [field]: 'a'.repeat(max) })[prop]).toBe('a'.repeat(max))
      const emoji = '😀'.repeat(max) // 2 * max UTF-16 units, max code points
      expect(emoji.length).toBe(2 * max)
      expect(accept({ [field]: emoji })[prop]).toBe(emoji)
    })
  }

  it('accepts one-character keys', () => {
    expect(accept({ tool: 't', host: 'h', session_id: 's', turn_id: 'x' })).toMatchObject({
      tool: 't',
      host: 'h',
      sessionId: 's',
      turnId: 'x',
    })
  })

  it('accepts working_dir and source_file of exactly 4096 characters', () => {
    const long = 'd'.repeat(4096)
    const astral = '𝄞'.repeat(4096)
    expect(accept({ session_meta: { working_dir: long, source_file: astral } }).session).toEqual({
      startedAt: minimalTurn.timestamp,
      workingDir: long,
      sourceFile: astral,
      metadata: null,
    })
  })

  it('accepts content of any length and any characters, controls included', () => {
    const content = `${'c'.repeat(100_000)}\u0000\n\t\u007f\u0085😀`
    expect(accept({ content }).content).toBe(content)
    expect(accept({ content: '' }).content).toBe('')
  })

  it('accepts an empty model string (only a maximum is set)', () => {
    expect(accept({ model: '' }).model).toBe('')
  })
})

describe('parseTurnLine: numbers', () => {
  it('accepts seq 0 and the largest safe integer', () => {
    expect(accept({ seq: 0 }).seq).toBe(0)
    expect(accept({ seq: Number.MAX_SAFE_INTEGER }).seq).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('accepts seq written as -0 and stores it as 0, not -0', () => {
    const turn = acceptLine(rawLine('"seq":-0').replace('"seq":1,', ''))
    expect(Object.is(turn.seq, 0)).toBe(true)
  })

  it('accepts integral numbers written with an exponent or a fraction of zero', () => {
    expect(acceptLine(rawLine('"tokens_in":1e3,"tokens_out":2.0')).tokensIn).toBe(1000)
    expect(acceptLine(rawLine('"tokens_in":1e3,"tokens_out":2.0')).tokensOut).toBe(2)
  })

  it('accepts tokens_in and tokens_out from 0 to the largest safe integer', () => {
    expect(accept({ tokens_in: 0, tokens_out: Number.MAX_SAFE_INTEGER })).toMatchObject({
      tokensIn: 0,
      tokensOut: Number.MAX_SAFE_INTEGER,
    })
  })

  it('stores tokens and cost written as -0 as 0, not -0', () => {
    const turn = acceptLine(rawLine('"tokens_in":-0,"tokens_out":-0,"cost_usd":-0'))
    expect(Object.is(turn.tokensIn, 0)).toBe(true)
    expect(Object.is(turn.tokensOut, 0)).toBe(true)
    expect(Object.is(turn.costUsd, 0)).toBe(true)
  })

  it('accepts cost_usd 0, fractions, and the largest finite double', () => {
    expect(accept({ cost_usd: 0 }).costUsd).toBe(0)
    expect(accept({ cost_usd: 5e-324 }).costUsd).toBe(5e-324)
    expect(accept({ cost_usd: 1.5 }).costUsd).toBe(1.5)
    expect(acceptLine(rawLine('"cost_usd":1.7976931348623157e308')).costUsd).toBe(Number.MAX_VALUE)
  })
})

describe('parseTurnLine: role', () => {
  for (const role of ['user', 'assistant', 'system', 'tool']) {
    it(`accepts role ${role}`, () => {
      expect(accept({ role }).role).toBe(role)
    })
  }
})

describe('parseTurnLine: JSON values', () => {
  it('stores tool_calls given as an array or an object as JSON text', () => {
    expect(accept({ tool_calls: [] }).toolCalls).toBe('[]')
    expect(accept({ tool_calls: {} }).toolCalls).toBe('{}')
    const calls = [{ name: 'bash', input: { cmd: 'ls -la', n: null, ok: true, x: 1.5 } }]
    const turn = accept({ tool_calls: calls })
    expect(JSON.parse(turn.toolCalls ?? 'null')).toEqual(calls)
    expect(accept({ tool_calls: { name: 'bash' } }).toolCalls).toBe('{"name":"bash"}')
  })

  it('stores metadata and session_meta.metadata as JSON object text', () => {
    const metadata = { git_branch: 'main', nested: { list: [1, 'two', null] }, emoji: '😀' }
    const turn = accept({ metadata, session_meta: { metadata: { a: 1 } } })
    expect(turn.metadata).toBe(JSON.stringify(metadata))
    expect(turn.session.metadata).toBe('{"a":1}')
  })

  it(`accepts tool_calls and metadata nested exactly ${MAX_JSON_DEPTH} levels deep`, () => {
    expect(MAX_JSON_DEPTH).toBe(64)
    const deepObject = nestedObject(64)
    const deepArray = nestedArray(64)
    const turn = accept({
      tool_calls: deepArray,
      metadata: deepObject,
      session_meta: { metadata: deepObject },
    })
    expect(JSON.parse(turn.toolCalls ?? 'null')).toEqual(deepArray)
    expect(JSON.parse(turn.metadata ?? 'null')).toEqual(deepObject)
    expect(turn.session.metadata).toBe(turn.metadata)
    // A mix of arrays and objects counts every container: 32 of each is 64 levels.
    let mixed: unknown = 'leaf'
    for (let i = 0; i < 32; i++) mixed = { a: [mixed] }
    expect(accept({ tool_calls: mixed }).toolCalls).toBe(JSON.stringify(mixed))
  })
})

describe('parseTurnLine: timestamps', () => {
  const cases: Array<[string, string]> = [
    ['2026-11-22T13:22:26Z', '2026-11-22T13:22:26.000Z'],
    ['2026-11-22T13:22:26z', '2026-11-22T13:22:26.000Z'],
    ['2026-11-22t13:22:26Z', '2026-11-22T13:22:26.000Z'],
    ['2026-11-22T14:22:26+01:00', '2026-11-22T13:22:26.000Z'],
    ['2026-11-22T07:52:26-05:30', '2026-11-22T13:22:26.000Z'],
    ['2026-11-22T13:22:26-00:00', '2026-11-22T13:22:26.000Z'],
    ['2026-11-22T13:22:26+00:00', '2026-11-22T13:22:26.000Z'],
    ['2026-11-22T13:22:26.1Z', '2026-11-22T13:22:26.100Z'],
    ['2026-11-22T13:22:26.12Z', '2026-11-22T13:22:26.120Z'],
    ['2026-11-22T13:22:26.123Z', '2026-11-22T13:22:26.123Z'],
    ['2026-11-22T13:22:26.1239Z', '2026-11-22T13:22:26.123Z'],
    ['2026-11-22T13:22:26.99999Z', '2026-11-22T13:22:26.999Z'],
    ['2026-11-22T13:22:26.999999999Z', '2026-11-22T13:22:26.999Z'],
    ['2026-11-22T13:22:26.0Z', '2026-11-22T13:22:26.000Z'],
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
    ['2000-02-29T12:00:00Z', '2000-02-29T12:00:00.000Z'],
    ['2026-04-30T00:00:00Z', '2026-04-30T00:00:00.000Z'],
    ['2026-12-31T23:59:59.999Z', '2026-12-31T23:59:59.999Z'],
    // Across a day and a year boundary with an offset.
    ['2024-12-31T23:30:00-01:00', '2025-01-01T00:30:00.000Z'],
    ['2025-01-01T00:30:00.5+01:00', '2024-12-31T23:30:00.500Z'],
    ['2024-03-01T00:30:00+01:00', '2024-02-29T23:30:00.000Z'],
    ['2026-11-22T23:59:59+23:59', '2026-11-22T00:00:59.000Z'],
    // Four-digit years stay four digits, the early ones included.
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0099-06-15T00:00:00Z', '0099-06-15T00:00:00.000Z'],
    ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
  ]

  for (const [input, normalized] of cases) {
    it(`normalizes ${input} to ${normalized}`, () => {
      expect(normalizeTimestamp(input)).toBe(normalized)
      expect(accept({ timestamp: input }).timestamp).toBe(normalized)
      expect(accept({ session_meta: { started_at: input } }).session.startedAt).toBe(normalized)
    })
  }

  it('keeps normalized timestamps in text order = time order', () => {
    const sorted = cases.map(([input]) => normalizeTimestamp(input) ?? '')
    const byTime = [...sorted].sort((a, b) => Date.parse(a) - Date.parse(b))
    expect([...sorted].sort()).toEqual(byTime)
  })

  it('takes session started_at from session_meta when given, else from the timestamp', () => {
    const turn = accept({
      timestamp: '2026-11-22T14:00:00+01:00',
      session_meta: { started_at: '2026-11-22T12:00:00+01:00' },
    })
    expect(turn.timestamp).toBe('2026-11-22T13:00:00.000Z')
    expect(turn.session.startedAt).toBe('2026-11-22T11:00:00.000Z')
  })
})
