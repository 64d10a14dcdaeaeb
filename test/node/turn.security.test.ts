import { afterEach, describe, expect, it } from 'vitest'
import { parseTurnLine } from '../../src/ingest/turn'
import type { TurnRecord } from '../../src/types'
import { minimalTurn, rawLine } from '../helpers/wire'

function acceptLine(line: string): TurnRecord {
  const result = parseTurnLine(line)
  if (!result.ok) throw new Error(`rejected: ${result.code} ${result.field} ${result.message}`)
  return result.turn
}

const polluted = (): unknown => (({}) as Record<string, unknown>).polluted

afterEach(() => {
  // Belt and braces: a failing test must not leave the prototype polluted for the next one.
  delete (Object.prototype as Record<string, unknown>).polluted
})

describe('parseTurnLine: prototype pollution', () => {
  it('ignores __proto__ at the top level: no pollution, not in the record', () => {
    const turn = acceptLine(rawLine('"__proto__":{"polluted":"yes","tool":"evil"}'))
    expect(polluted()).toBeUndefined()
    expect(turn.tool).toBe('claude-code')
    expect(Object.getPrototypeOf(turn)).toBe(Object.prototype)
    expect(JSON.stringify(turn)).not.toContain('polluted')
  })

  it('ignores constructor.prototype at the top level', () => {
    acceptLine(rawLine('"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":1}'))
    expect(polluted()).toBeUndefined()
  })

  it('does not take a required field from a __proto__ object', () => {
    const line = JSON.stringify({ ...minimalTurn, tool: undefined }).replace(
      '{',
      '{"__proto__":{"tool":"from-proto"},',
    )
    expect(parseTurnLine(line)).toMatchObject({
      ok: false,
      code: 'INVALID_FIELD',
      field: 'tool',
    })
    expect(polluted()).toBeUndefined()
  })

  it('keeps __proto__, constructor and prototype keys inside metadata as data', () => {
    const metadata =
      '{"__proto__":{"polluted":"m"},"constructor":{"prototype":{"polluted":"c"}},"prototype":{"polluted":"p"}}'
    const turn = acceptLine(rawLine(`"metadata":${metadata}`))
    expect(polluted()).toBeUndefined()
    expect(turn.metadata).toBe(metadata)
    const parsed = JSON.parse(turn.metadata ?? 'null') as Record<string, unknown>
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true)
    expect(polluted()).toBeUndefined()
  })

  it('keeps __proto__ keys inside tool_calls and session_meta.metadata as data', () => {
    const toolCalls = '[{"__proto__":{"polluted":"t"},"name":"bash"}]'
    const sessionMetadata = '{"a":{"__proto__":{"polluted":"s"}}}'
    const turn = acceptLine(
      rawLine(`"tool_calls":${toolCalls},"session_meta":{"metadata":${sessionMetadata}}`),
    )
    expect(turn.toolCalls).toBe(toolCalls)
    expect(turn.session.metadata).toBe(sessionMetadata)
    expect(polluted()).toBeUndefined()
  })

  it('ignores __proto__ inside session_meta', () => {
    const turn = acceptLine(
      rawLine('"session_meta":{"__proto__":{"working_dir":"/evil","polluted":1}}'),
    )
    expect(turn.session.workingDir).toBeNull()
    expect(polluted()).toBeUndefined()
  })
})

describe('parseTurnLine: duplicate keys', () => {
  it('takes the last value of a duplicate key (JSON.parse semantics), at the top level', () => {
    const turn = acceptLine(rawLine('"tool":"second","seq":2,"owner":"x","owner":"y"'))
    expect(turn.tool).toBe('second')
    expect(turn.seq).toBe(2)
  })

  it('validates the last value of a duplicate key: a valid first value does not save an invalid last one', () => {
    expect(parseTurnLine(rawLine('"seq":-1'))).toMatchObject({
      ok: false,
      code: 'INVALID_FIELD',
      field: 'seq',
    })
    // ...and an invalid first value is forgotten when the last one is valid.
    const line = `{"seq":"bad",${JSON.stringify(minimalTurn).slice(1)}`
    expect(acceptLine(line).seq).toBe(1)
  })

  it('keeps only the last value of a duplicate key inside metadata', () => {
    expect(acceptLine(rawLine('"metadata":{"a":1,"a":2}')).metadata).toBe('{"a":2}')
  })
})

describe('parseTurnLine: lone surrogates', () => {
  const fields = ['tool', 'host', 'session_id', 'turn_id', 'content', 'model']

  for (const field of fields) {
    for (const lone of ['\\ud800', '\\udfff', 'a\\udc00b', '\\ud83d\\ud83d']) {
      it(`rejects ${field} containing the lone surrogate escape "${lone}" as INVALID_FIELD`, () => {
        expect(parseTurnLine(rawLine(`"${field}":"${lone}"`))).toEqual({
          ok: false,
          code: 'INVALID_FIELD',
          field,
          message: `${field} must be well-formed Unicode (no lone surrogates)`,
        })
      })
    }
  }

  it('rejects lone surrogates in session_meta.working_dir and source_file', () => {
    for (const field of ['working_dir', 'source_file']) {
      expect(parseTurnLine(rawLine(`"session_meta":{"${field}":"x\\ud800"}`))).toMatchObject({
        ok: false,
        code: 'INVALID_FIELD',
        field: `session_meta.${field}`,
      })
    }
  })

  it('accepts a surrogate pair written as escapes (one astral code point)', () => {
    expect(acceptLine(rawLine('"content":"\\ud83d\\ude00"')).content).toBe('😀')
  })

  it('stores a lone surrogate inside metadata as a JSON escape that round-trips', () => {
    const turn = acceptLine(rawLine('"metadata":{"k\\ud800":"v\\udfff"},"tool_calls":["\\udc00"]'))
    expect(turn.metadata).toBe('{"k\\ud800":"v\\udfff"}')
    expect(turn.toolCalls).toBe('["\\udc00"]')
    // The stored text is plain ASCII here, so it survives UTF-8 and parses back to the same value.
    expect(turn.metadata?.isWellFormed()).toBe(true)
    expect(JSON.parse(turn.metadata ?? 'null')).toEqual({ 'k\ud800': 'v\udfff' })
    expect(JSON.parse(turn.toolCalls ?? 'null')).toEqual(['\udc00'])
    const bytes = new TextEncoder().encode(turn.metadata ?? '')
    expect(new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toBe(turn.metadata)
  })
})

describe('parseTurnLine: hostile nesting', () => {
  const depth = 100_000
  const deepArray = `${'['.repeat(depth)}${']'.repeat(depth)}`
  const deepObject = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

  it('rejects a 100k-deep array in tool_calls as INVALID_FIELD without crashing', () => {
    expect(parseTurnLine(rawLine(`"tool_calls":${deepArray}`))).toEqual({
      ok: false,
      code: 'INVALID_FIELD',
      field: 'tool_calls',
      message: 'tool_calls must not nest deeper than 64 levels',
    })
  })

  it('rejects a 100k-deep object in metadata and session_meta.metadata as INVALID_FIELD', () => {
    expect(parseTurnLine(rawLine(`"metadata":${deepObject}`))).toMatchObject({
      ok: false,
      code: 'INVALID_FIELD',
      field: 'metadata',
    })
    expect(parseTurnLine(rawLine(`"session_meta":{"metadata":${deepObject}}`))).toMatchObject({
      ok: false,
      code: 'INVALID_FIELD',
      field: 'session_meta.metadata',
    })
  })

  it('rejects a 100k-deep array as a whole line as NOT_AN_OBJECT, in a field that must be a string as INVALID_FIELD', () => {
    expect(parseTurnLine(deepArray)).toMatchObject({ ok: false, code: 'NOT_AN_OBJECT' })
    expect(parseTurnLine(rawLine(`"content":${deepArray}`))).toMatchObject({
      ok: false,
      code: 'INVALID_FIELD',
      field: 'content',
    })
  })

  it('ignores a 100k-deep value in an unknown field (it is never walked nor stored)', () => {
    expect(acceptLine(rawLine(`"future":${deepArray}`)).toolCalls).toBeNull()
  })

  it('rejects an unterminated 100k-deep array as INVALID_JSON without crashing', () => {
    expect(parseTurnLine(rawLine(`"tool_calls":${'['.repeat(depth)}`))).toMatchObject({
      ok: false,
      code: 'INVALID_JSON',
    })
  })
})
