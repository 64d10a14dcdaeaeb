import { describe, expect, it } from 'vitest'
import { jsonValueProblem, normalizeTimestamp, parseTurnLine } from '../../src/ingest/turn'
import { lineWith, minimalTurn, nestedArray, nestedObject, rawLine } from '../helpers/wire'

const SECRET = 'sk-live-SECRET123'

type Rejection = { code: string; field?: string; message: string }

function reject(line: string): Rejection {
  const result = parseTurnLine(line)
  if (result.ok) throw new Error(`accepted: ${line.slice(0, 200)}`)
  const { ok: _ok, ...rejection } = result
  return rejection
}

/** Rejected as INVALID_FIELD on `field`, with a message that starts with the field's path. */
function expectInvalidField(line: string, field: string): Rejection {
  const rejection = reject(line)
  expect(rejection).toMatchObject({ code: 'INVALID_FIELD', field })
  expect(rejection.message.startsWith(`${field} `)).toBe(true)
  return rejection
}

describe('parseTurnLine: not a JSON object', () => {
  const broken = [
    '{',
    `{"tool":"${SECRET}"`,
    `{"tool":${SECRET}}`,
    `{"tool":"claude-code",}`,
    `{'tool':'${SECRET}'}`,
    `${SECRET}`,
    `{"a":1}{"b":"${SECRET}"}`,
    `{"a":"${SECRET}\u0001"}`, // a raw control character inside a JSON string
    `{"a":NaN,"b":"${SECRET}"}`,
    `{"a":0x10,"b":"${SECRET}"}`,
    `{"a":01,"b":"${SECRET}"}`,
    `{"a":"\\x41 ${SECRET}"}`,
  ]

  for (const line of broken) {
    it(`rejects broken JSON as INVALID_JSON without echoing it: ${JSON.stringify(line)}`, () => {
      const rejection = reject(line)
      expect(rejection.code).toBe('INVALID_JSON')
      expect(rejection.field).toBeUndefined()
      expect(rejection.message).toMatch(/^line is not valid JSON( \(at character \d+\))?$/)
      expect(rejection.message).not.toContain(SECRET)
      expect(rejection.message).not.toContain('SECRET')
    })
  }

  const notObjects: Array<[string, string]> = [
    ['an array', `[{"tool":"${SECRET}"}]`],
    ['an empty array', '[]'],
    ['a string', `"${SECRET}"`],
    ['a number', '12345'],
    ['a negative number', '-1.5e3'],
    ['true', 'true'],
    ['false', 'false'],
    ['null', 'null'],
  ]

  for (const [name, line] of notObjects) {
    it(`rejects ${name} as NOT_AN_OBJECT without echoing it`, () => {
      expect(reject(line)).toEqual({ code: 'NOT_AN_OBJECT', message: 'line must be a JSON object' })
    })
  }

  it('rejects an empty object as INVALID_FIELD: the first required field is missing', () => {
    expect(reject('{}')).toMatchObject({ code: 'INVALID_FIELD', field: 'tool' })
  })
})

describe('parseTurnLine: required fields', () => {
  for (const field of Object.keys(minimalTurn)) {
    it(`rejects a line without ${field}: INVALID_FIELD "${field} is required"`, () => {
      expect(reject(lineWith({ [field]: undefined }))).toEqual({
        code: 'INVALID_FIELD',
        field,
        message: `${field} is required`,
      })
    })

    it(`rejects ${field}: null (null only means absent for optional fields)`, () => {
      expectInvalidField(lineWith({ [field]: null }), field)
    })
  }
})

describe('parseTurnLine: key strings (tool, host, session_id, turn_id)', () => {
  const keys: Array<[string, number]> = [
    ['tool', 64],
    ['host', 255],
    ['session_id', 255],
    ['turn_id', 255],
  ]

  for (const [field, max] of keys) {
    it(`rejects ${field} of ${max + 1} characters, ASCII or astral`, () => {
      expect(expectInvalidField(lineWith({ [field]: 'a'.repeat(max + 1) }), field).message).toBe(
        `${field} must be at most ${max} characters`,
      )
      // max + 1 code points, 2 * (max + 1) UTF-16 units.
      expectInvalidField(lineWith({ [field]: '😀'.repeat(max + 1) }), field)
      // max code points, but one of them split into a lone surrogate pair half: not well-formed.
      expectInvalidField(lineWith({ [field]: `${'😀'.repeat(max - 1)}\ud83d` }), field)
    })

    it(`rejects an empty ${field}`, () => {
      expect(expectInvalidField(lineWith({ [field]: '' }), field).message).toBe(
        `${field} must not be empty`,
      )
    })

    for (const control of ['\u0000', '\u0009', '\u000a', '\u001f', '\u007f', '\u0085', '\u009f']) {
      const name = `U+${control.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`
      it(`rejects a ${name} control character in ${field}`, () => {
        const rejection = expectInvalidField(lineWith({ [field]: `${SECRET}${control}x` }), field)
        expect(rejection.message).toBe(`${field} must not contain control characters`)
      })
    }

    it(`rejects a non-string ${field}`, () => {
      for (const value of [1, true, ['a'], { a: 1 }]) {
        expect(expectInvalidField(lineWith({ [field]: value }), field).message).toBe(
          `${field} must be a string`,
        )
      }
    })
  }
})

describe('parseTurnLine: seq, tokens_in, tokens_out', () => {
  for (const field of ['seq', 'tokens_in', 'tokens_out']) {
    it(`rejects ${field} -1, 1.5, 2^53 and the string "1"`, () => {
      expectInvalidField(lineWith({ [field]: -1 }), field)
      expectInvalidField(lineWith({ [field]: 1.5 }), field)
      expectInvalidField(lineWith({ [field]: 2 ** 53 }), field)
      expectInvalidField(lineWith({ [field]: Number.MAX_SAFE_INTEGER + 2 }), field)
      expectInvalidField(lineWith({ [field]: '1' }), field)
      expectInvalidField(lineWith({ [field]: true }), field)
      expectInvalidField(lineWith({ [field]: [1] }), field)
      expectInvalidField(rawLine(`"${field}":1e400`), field)
    })
  }

  it('says what is wrong without echoing the number', () => {
    expect(reject(lineWith({ seq: -7 })).message).toBe('seq must not be negative')
    expect(reject(lineWith({ seq: 7.25 })).message).toBe(
      'seq must be a whole number no larger than 2^53-1',
    )
    expect(reject(lineWith({ seq: '7' })).message).toBe('seq must be a number')
  })
})

describe('parseTurnLine: role', () => {
  for (const role of ['admin', 'User', 'ASSISTANT', '', ' user', 'user ', 'tools']) {
    it(`rejects role ${JSON.stringify(role)}`, () => {
      expect(expectInvalidField(lineWith({ role }), 'role').message).toBe(
        'role must be one of user, assistant, system, tool',
      )
    })
  }

  it('rejects a non-string role', () => {
    expectInvalidField(lineWith({ role: 1 }), 'role')
    expectInvalidField(lineWith({ role: ['user'] }), 'role')
  })
})

describe('parseTurnLine: timestamps', () => {
  const bad: Array<[string, string]> = [
    ['2023-02-29T00:00:00Z', 'Feb 29 in a common year'],
    ['1900-02-29T00:00:00Z', 'Feb 29 in a century year not divisible by 400'],
    ['2026-04-31T00:00:00Z', 'day 31 of a 30-day month'],
    ['2026-01-32T00:00:00Z', 'day 32'],
    ['2026-01-00T00:00:00Z', 'day 0'],
    ['2026-13-01T00:00:00Z', 'month 13'],
    ['2026-00-01T00:00:00Z', 'month 0'],
    ['2026-01-01T24:00:00Z', 'hour 24'],
    ['2026-01-01T00:60:00Z', 'minute 60'],
    ['2026-01-01T23:59:60Z', 'second 60 (leap second)'],
    ['2026-01-01T00:00:00', 'no offset'],
    ['2026-01-01T00:00:00.123', 'no offset, with a fraction'],
    ['2026-01-01 00:00:00Z', 'a space instead of T'],
    ['2026-01-01T00:00:00+0100', 'an offset without a colon'],
    ['2026-01-01T00:00:00+01', 'an offset without minutes'],
    ['2026-01-01T00:00:00+24:00', 'offset hour 24'],
    ['2026-01-01T00:00:00+01:60', 'offset minute 60'],
    ['2026-01-01T00:00:00.Z', 'a dot without digits'],
    ['2026-01-01T00:00:00,5Z', 'a comma as the decimal sign'],
    ['2026-01-01T00:00Z', 'no seconds'],
    ['2026-01-01', 'a date only'],
    ['26-01-01T00:00:00Z', 'a two-digit year'],
    ['+002026-01-01T00:00:00Z', 'an expanded year'],
    ['2026-1-01T00:00:00Z', 'a one-digit month'],
    [' 2026-01-01T00:00:00Z', 'leading space'],
    ['2026-01-01T00:00:00Z ', 'trailing space'],
    ['2026-01-01T00:00:00Z\n', 'trailing newline'],
    ['２０２６-01-01T00:00:00Z', 'non-ASCII digits'],
    ['2026-01-01T00:00:00UTC', 'a zone name'],
    ['1767225600', 'epoch seconds in a string'],
    ['0000-01-01T00:30:00+01:00', 'an instant before year 0000 in UTC'],
    ['9999-12-31T23:59:59-00:01', 'an instant after year 9999 in UTC'],
    [`${SECRET}`, 'a secret'],
    ['', 'an empty string'],
  ]

  for (const [value, name] of bad) {
    it(`rejects ${name}: ${JSON.stringify(value)}`, () => {
      expect(normalizeTimestamp(value)).toBeUndefined()
      expect(expectInvalidField(lineWith({ timestamp: value }), 'timestamp').message).toBe(
        'timestamp must be an RFC 3339 date-time with Z or an offset, on a real calendar date',
      )
      expect(
        expectInvalidField(
          lineWith({ session_meta: { started_at: value } }),
          'session_meta.started_at',
        ).message,
      ).not.toContain(value || '\u0000')
    })
  }

  it('rejects a timestamp that is not a string', () => {
    expect(expectInvalidField(lineWith({ timestamp: 1767225600000 }), 'timestamp').message).toBe(
      'timestamp must be an RFC 3339 date-time string',
    )
    expectInvalidField(lineWith({ session_meta: { started_at: 5 } }), 'session_meta.started_at')
  })
})

describe('parseTurnLine: optional fields', () => {
  it('rejects model of 256 characters, ASCII or astral', () => {
    expect(expectInvalidField(lineWith({ model: 'm'.repeat(256) }), 'model').message).toBe(
      'model must be at most 255 characters',
    )
    expectInvalidField(lineWith({ model: '😀'.repeat(256) }), 'model')
    expectInvalidField(lineWith({ model: 1 }), 'model')
  })

  it('rejects content that is not a string', () => {
    for (const content of [1, false, [], {}]) expectInvalidField(lineWith({ content }), 'content')
  })

  it('rejects cost_usd below zero, out of range (1e400 in the JSON text), or not a number', () => {
    expect(expectInvalidField(lineWith({ cost_usd: -0.01 }), 'cost_usd').message).toBe(
      'cost_usd must not be negative',
    )
    expect(expectInvalidField(rawLine('"cost_usd":1e400'), 'cost_usd').message).toBe(
      'cost_usd must be a finite number',
    )
    expectInvalidField(rawLine('"cost_usd":-1e400'), 'cost_usd')
    expectInvalidField(lineWith({ cost_usd: '0.5' }), 'cost_usd')
    expectInvalidField(lineWith({ cost_usd: [0.5] }), 'cost_usd')
  })

  it('rejects tool_calls that is a string, a number or a boolean', () => {
    for (const toolCalls of ['[]', 42, true]) {
      expect(expectInvalidField(lineWith({ tool_calls: toolCalls }), 'tool_calls').message).toBe(
        'tool_calls must be a JSON array or object',
      )
    }
  })

  it('rejects metadata that is an array, a string or a number', () => {
    for (const metadata of [[], [{ a: 1 }], '{}', 1, true]) {
      expect(expectInvalidField(lineWith({ metadata }), 'metadata').message).toBe(
        'metadata must be a JSON object',
      )
    }
  })

  it('rejects a number out of range anywhere inside tool_calls or metadata', () => {
    expect(
      expectInvalidField(rawLine('"tool_calls":[{"a":[1,2,1e400]}]'), 'tool_calls').message,
    ).toBe('tool_calls must not contain a number out of range')
    expectInvalidField(rawLine('"metadata":{"a":{"b":-1e999}}'), 'metadata')
    expectInvalidField(rawLine('"session_meta":{"metadata":{"n":1e400}}'), 'session_meta.metadata')
  })

  it('rejects tool_calls and metadata nested 65 levels deep', () => {
    expect(
      expectInvalidField(lineWith({ tool_calls: nestedArray(65) }), 'tool_calls').message,
    ).toBe('tool_calls must not nest deeper than 64 levels')
    expectInvalidField(lineWith({ tool_calls: nestedObject(65) }), 'tool_calls')
    expectInvalidField(lineWith({ metadata: nestedObject(65) }), 'metadata')
    expectInvalidField(lineWith({ metadata: { a: nestedArray(64) } }), 'metadata')
    expectInvalidField(
      lineWith({ session_meta: { metadata: nestedObject(65) } }),
      'session_meta.metadata',
    )
  })

  it('counts depth in containers only: jsonValueProblem at 64 and 65 levels', () => {
    expect(jsonValueProblem(nestedArray(64))).toBeUndefined()
    expect(jsonValueProblem(nestedArray(65))).toBe('must not nest deeper than 64 levels')
    expect(jsonValueProblem({ a: 'x'.repeat(10), b: null, c: [true, 1.5] })).toBeUndefined()
    expect(jsonValueProblem([Number.POSITIVE_INFINITY])).toBe(
      'must not contain a number out of range',
    )
  })
})

describe('parseTurnLine: session_meta', () => {
  it('rejects session_meta that is not an object', () => {
    for (const meta of ['x', 1, true, [], [{ started_at: '2026-01-01T00:00:00Z' }]]) {
      expect(expectInvalidField(lineWith({ session_meta: meta }), 'session_meta').message).toBe(
        'session_meta must be an object',
      )
    }
  })

  it('rejects working_dir and source_file of 4097 characters, or not strings', () => {
    for (const field of ['working_dir', 'source_file']) {
      const path = `session_meta.${field}`
      expect(
        expectInvalidField(lineWith({ session_meta: { [field]: 'd'.repeat(4097) } }), path).message,
      ).toBe(`${path} must be at most 4096 characters`)
      expectInvalidField(lineWith({ session_meta: { [field]: '𝄞'.repeat(4097) } }), path)
      expectInvalidField(lineWith({ session_meta: { [field]: 1 } }), path)
      expectInvalidField(lineWith({ session_meta: { [field]: ['/a'] } }), path)
    }
  })

  it('rejects session_meta.metadata that is not an object', () => {
    for (const metadata of [[], 'x', 1]) {
      expectInvalidField(lineWith({ session_meta: { metadata } }), 'session_meta.metadata')
    }
  })
})

describe('parseTurnLine: messages never echo the value that was sent', () => {
  const lines: Array<[string, string]> = [
    ['tool too long', lineWith({ tool: `${SECRET}${'x'.repeat(64)}` })],
    ['tool with a control character', lineWith({ tool: `${SECRET}\u0000` })],
    ['host not a string', lineWith({ host: { secret: SECRET } })],
    ['session_id too long', lineWith({ session_id: SECRET.repeat(20) })],
    ['turn_id lone surrogate', lineWith({ turn_id: `${SECRET}\ud800` })],
    ['seq as a string', lineWith({ seq: SECRET })],
    ['role', lineWith({ role: SECRET })],
    ['timestamp', lineWith({ timestamp: SECRET })],
    ['content not a string', lineWith({ content: [SECRET] })],
    ['content lone surrogate', lineWith({ content: `${SECRET}\udc00` })],
    ['model too long', lineWith({ model: SECRET.repeat(20) })],
    ['tokens_in as a string', lineWith({ tokens_in: SECRET })],
    ['tokens_out negative', lineWith({ tokens_out: -1, note: SECRET })],
    ['cost_usd as a string', lineWith({ cost_usd: SECRET })],
    ['tool_calls as a string', lineWith({ tool_calls: SECRET })],
    ['tool_calls too deep', lineWith({ tool_calls: [SECRET, nestedArray(70)] })],
    ['metadata as an array', lineWith({ metadata: [SECRET] })],
    ['metadata out of range', rawLine(`"metadata":{"${SECRET}":1e400}`)],
    ['session_meta as a string', lineWith({ session_meta: SECRET })],
    ['session_meta.started_at', lineWith({ session_meta: { started_at: SECRET } })],
    ['session_meta.working_dir', lineWith({ session_meta: { working_dir: SECRET.repeat(300) } })],
    ['missing tool', lineWith({ tool: undefined, content: SECRET })],
    ['broken JSON', `{"tool":"${SECRET}",`],
    ['not an object', `["${SECRET}"]`],
  ]

  for (const [name, line] of lines) {
    it(`${name}: the rejection does not contain the secret`, () => {
      expect(line).toContain(SECRET)
      const rejection = reject(line)
      expect(JSON.stringify(rejection)).not.toContain('SECRET')
      expect(rejection.message.length).toBeLessThan(120)
    })
  }
})
