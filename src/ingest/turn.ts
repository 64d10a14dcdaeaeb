/**
 * The wire schema of one line in valibot, and its normalized form. Unknown fields,
 * `owner` among them, are dropped by `v.object`; `null` for an optional field means absent.
 * Messages say what is expected and never echo the value that was sent.
 */
import * as v from 'valibot'
import { roles, type TurnRecord } from '../types'

export type LineRejection = {
  code: 'INVALID_JSON' | 'NOT_AN_OBJECT' | 'INVALID_FIELD'
  field?: string
  message: string
}

export type ParsedLine = { ok: true; turn: TurnRecord } | ({ ok: false } & LineRejection)

// ---------------------------------------------------------------------------------------------
// Timestamps

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

const pad = (n: number, width: number) => String(n).padStart(width, '0')

const daysInMonth = (year: number, month: number): number =>
  month === 2
    ? (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31

/** Where `YYYY-MM-DDTHH:MM:SS.sssZ` has its digits. */
const STORED_FORM_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22]

/**
 * Whether `value` has the shape of the stored form, the one most clients send: checked without
 * the regex, the Date and the padding, which cost ten times more.
 */
const isStoredForm = (value: string): boolean => {
  if (value.length !== 24) return false
  if (value.charCodeAt(4) !== 0x2d || value.charCodeAt(7) !== 0x2d) return false // -
  if (value.charCodeAt(10) !== 0x54 || value.charCodeAt(23) !== 0x5a) return false // T, Z
  if (value.charCodeAt(13) !== 0x3a || value.charCodeAt(16) !== 0x3a) return false // :
  if (value.charCodeAt(19) !== 0x2e) return false // .
  for (const i of STORED_FORM_DIGITS) {
    const c = value.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

/** The number written by the ASCII digits of `value` at `at`, `width` of them. */
const digitsAt = (value: string, at: number, width: number): number => {
  let n = 0
  for (let i = at; i < at + width; i++) n = n * 10 + value.charCodeAt(i) - 0x30
  return n
}

/** A value of the stored form's shape is its own normalization when its fields are in range. */
const storedFormInRange = (value: string): boolean => {
  const year = digitsAt(value, 0, 4)
  const month = digitsAt(value, 5, 2)
  const day = digitsAt(value, 8, 2)
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    digitsAt(value, 11, 2) <= 23 &&
    digitsAt(value, 14, 2) <= 59 &&
    digitsAt(value, 17, 2) <= 59
  )
}

/**
 * An RFC 3339 date-time with `Z` or an offset, on a real calendar date, as UTC with
 * milliseconds (`YYYY-MM-DDTHH:MM:SS.sssZ`); digits past the millisecond are truncated.
 * Returns undefined for anything else, including leap second 60 (it has no UTC instant that
 * JavaScript or SQLite can order) and instants that fall outside years 0000–9999 once in UTC.
 */
export function normalizeTimestamp(value: string): string | undefined {
  if (isStoredForm(value)) return storedFormInRange(value) ? value : undefined
  const m = RFC3339.exec(value)
  if (m === null) return undefined
  const [, ys, mos, ds, hs, mis, ss, fraction, sign, ohs, oms] = m
  const year = Number(ys)
  const month = Number(mos)
  const day = Number(ds)
  const hour = Number(hs)
  const minute = Number(mis)
  const second = Number(ss)
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  let offsetMinutes = 0
  if (sign !== undefined) {
    const oh = Number(ohs)
    const om = Number(oms)
    if (oh > 23 || om > 59) return undefined
    offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om)
  }
  const ms = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'))
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute - offsetMinutes, second, ms)
  const utcYear = date.getUTCFullYear()
  if (utcYear < 0 || utcYear > 9999) return undefined
  return `${pad(utcYear, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}T${pad(
    date.getUTCHours(),
    2,
  )}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}.${pad(
    date.getUTCMilliseconds(),
    3,
  )}Z`
}

// ---------------------------------------------------------------------------------------------
// Field rules

/** Length in Unicode code points, counting no further than needed to compare with `max`. */
const codePointsAtMost = (text: string, max: number): boolean => {
  if (text.length <= max) return true
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    if (++count > max) return false
  }
  return true
}

/** Strings must be well-formed Unicode: a lone surrogate (`"\ud800"`) has no UTF-8 form. */
const wellFormed = v.check<string, string>(
  (text) => text.isWellFormed(),
  'must be well-formed Unicode (no lone surrogates)',
)

const text = (max: number | undefined) =>
  max === undefined
    ? v.pipe(v.string('must be a string'), wellFormed)
    : v.pipe(
        v.string('must be a string'),
        wellFormed,
        v.check((s) => codePointsAtMost(s, max), `must be at most ${max} characters`),
      )

/**
 * What a key breaks, in one pass over its characters, checked in this order: empty, a lone
 * surrogate, more than `max` code points, a control character. Four valibot actions over the
 * same string cost twice as much.
 */
const keyProblem = (text: string, max: number): string | undefined => {
  if (text.length === 0) return 'must not be empty'
  let lone = false
  let control = false
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    count++
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) control = true
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1)
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++
      else lone = true
    }
  }
  if (lone) return 'must be well-formed Unicode (no lone surrogates)'
  if (count > max) return `must be at most ${max} characters`
  if (control) return 'must not contain control characters'
  return undefined
}

/** The message is worked out again only for a key that fails: a valid one allocates nothing. */
const key = (max: number) =>
  v.pipe(
    v.string('must be a string'),
    v.check(
      (text: string) => keyProblem(text, max) === undefined,
      (issue) => keyProblem(String(issue.input), max) ?? 'is invalid',
    ),
  )

const count = v.pipe(
  v.number('must be a number'),
  v.safeInteger('must be a whole number no larger than 2^53-1'),
  v.minValue(0, 'must not be negative'),
)

const timestamp = v.pipe(
  v.string('must be an RFC 3339 date-time string'),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const normalized = normalizeTimestamp(dataset.value)
    if (normalized === undefined) {
      addIssue({
        message: 'must be an RFC 3339 date-time with Z or an offset, on a real calendar date',
      })
      return NEVER
    }
    return normalized
  }),
)

export const MAX_JSON_DEPTH = 64

/**
 * Walks a parsed JSON value without recursion: it may nest at most MAX_JSON_DEPTH levels (an
 * object or array is one level), and every number must be finite (`1e400` parses to Infinity,
 * which JSON cannot store). Returns the problem, or undefined when the value is fine.
 */
export function jsonValueProblem(value: unknown): string | undefined {
  // Two stacks rather than one of [node, depth] pairs: no allocation per node.
  const nodes: unknown[] = [value]
  const depths: number[] = [1]
  while (nodes.length > 0) {
    const node = nodes.pop()
    const depth = depths.pop() ?? 1
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) return 'must not contain a number out of range'
    } else if (typeof node === 'object' && node !== null) {
      if (depth > MAX_JSON_DEPTH) return `must not nest deeper than ${MAX_JSON_DEPTH} levels`
      for (const child of Array.isArray(node) ? node : Object.values(node)) {
        if (typeof child === 'object' || typeof child === 'number') {
          nodes.push(child)
          depths.push(depth + 1)
        }
      }
    }
  }
  return undefined
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A JSON value kept as text. The parsed value is never copied key by key into a new object. */
const jsonText = (accept: (value: unknown) => boolean, expected: string) =>
  v.pipe(
    v.custom<object>(accept, expected),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const problem = jsonValueProblem(dataset.value)
      if (problem !== undefined) {
        addIssue({ message: problem })
        return NEVER
      }
      return JSON.stringify(dataset.value)
    }),
  )

const jsonObject = jsonText(isPlainObject, 'must be a JSON object')
const jsonArrayOrObject = jsonText(
  (value) => typeof value === 'object' && value !== null,
  'must be a JSON array or object',
)

const optional = <T extends v.GenericSchema>(schema: T) => v.nullish(schema)

/**
 * valibot gives a missing key the message of its object schema, and `v.object` takes an array
 * for an object: both are handled here.
 */
const objectMessage = (issue: v.ObjectIssue): string =>
  issue.input === undefined ? 'is required' : 'must be an object'

const sessionMeta = v.pipe(
  v.custom<Record<string, unknown>>(isPlainObject, 'must be an object'),
  v.object(
    {
      started_at: optional(timestamp),
      working_dir: optional(text(4096)),
      source_file: optional(text(4096)),
      metadata: optional(jsonObject),
    },
    objectMessage,
  ),
)

export const turnSchema = v.object(
  {
    tool: key(64),
    host: key(255),
    session_id: key(255),
    turn_id: key(255),
    seq: count,
    role: v.picklist(roles, `must be one of ${roles.join(', ')}`),
    timestamp,
    content: optional(text(undefined)),
    model: optional(text(255)),
    tokens_in: optional(count),
    tokens_out: optional(count),
    cost_usd: optional(
      v.pipe(
        v.number('must be a number'),
        v.finite('must be a finite number'),
        v.minValue(0, 'must not be negative'),
      ),
    ),
    tool_calls: optional(jsonArrayOrObject),
    metadata: optional(jsonObject),
    session_meta: optional(sessionMeta),
  },
  objectMessage,
)

/** Fallback message for issues without one of their own: a missing required field. */
const parseConfig: v.Config<v.BaseIssue<unknown>> = {
  abortEarly: true,
  message: (issue) => (issue.input === undefined ? 'is required' : 'is invalid'),
}

const positionOf = (error: unknown): string => {
  const match = error instanceof Error ? /position (\d+)/.exec(error.message) : null
  return match === null ? '' : ` (at character ${match[1]})`
}

/** One line of text -> a TurnRecord, or why it is rejected. Never throws. */
export function parseTurnLine(line: string): ParsedLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    // V8's message quotes the input; only the position is passed on.
    return {
      ok: false,
      code: 'INVALID_JSON',
      message: `line is not valid JSON${positionOf(error)}`,
    }
  }
  if (!isPlainObject(value)) {
    return { ok: false, code: 'NOT_AN_OBJECT', message: 'line must be a JSON object' }
  }
  const result = v.safeParse(turnSchema, value, parseConfig)
  if (!result.success) {
    const issue = result.issues[0]
    const field = issue === undefined ? undefined : v.getDotPath(issue)
    return {
      ok: false,
      code: 'INVALID_FIELD',
      ...(field === null || field === undefined ? {} : { field }),
      message: `${field ?? 'line'} ${issue?.message ?? 'is invalid'}`,
    }
  }
  const t = result.output
  const meta = t.session_meta
  return {
    ok: true,
    turn: {
      tool: t.tool,
      host: t.host,
      sessionId: t.session_id,
      turnId: t.turn_id,
      seq: t.seq + 0, // -0 -> 0
      role: t.role,
      timestamp: t.timestamp,
      content: t.content ?? null,
      model: t.model ?? null,
      tokensIn: t.tokens_in == null ? null : t.tokens_in + 0,
      tokensOut: t.tokens_out == null ? null : t.tokens_out + 0,
      costUsd: t.cost_usd == null ? null : t.cost_usd + 0,
      toolCalls: t.tool_calls ?? null,
      metadata: t.metadata ?? null,
      session: {
        startedAt: meta?.started_at ?? t.timestamp,
        workingDir: meta?.working_dir ?? null,
        sourceFile: meta?.source_file ?? null,
        metadata: meta?.metadata ?? null,
      },
    },
  }
}
