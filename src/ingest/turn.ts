/**
 * The wire schema of one line (SPEC §2) in valibot, and its normalized form. Unknown fields,
 * `owner` among them, are dropped by `v.object`; `null` for an optional field means absent.
 * Messages say what is expected and never echo the value that was sent.
 */
import * as v from 'valibot'
import { roles } from '../db/schema'
import type { TurnRecord } from '../db/turns'

/** A validated line, ready for the database: timestamps normalized, JSON values as text. */
export type Turn = TurnRecord

export type LineRejection = {
  code: 'INVALID_JSON' | 'NOT_AN_OBJECT' | 'INVALID_FIELD'
  field?: string
  message: string
}

export type ParsedLine = { ok: true; turn: Turn } | ({ ok: false } & LineRejection)

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

/**
 * An RFC 3339 date-time with `Z` or an offset, on a real calendar date, as UTC with
 * milliseconds (`YYYY-MM-DDTHH:MM:SS.sssZ`); digits past the millisecond are truncated.
 * Returns undefined for anything else, including leap second 60 (it has no UTC instant that
 * JavaScript or SQLite can order) and instants that fall outside years 0000–9999 once in UTC.
 */
export function normalizeTimestamp(value: string): string | undefined {
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

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

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

const key = (max: number) =>
  v.pipe(
    v.string('must be a string'),
    v.minLength(1, 'must not be empty'),
    wellFormed,
    v.check((s) => codePointsAtMost(s, max), `must be at most ${max} characters`),
    v.check((s) => !CONTROL.test(s), 'must not contain control characters'),
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
  const stack: Array<[unknown, number]> = [[value, 1]]
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) return 'must not contain a number out of range'
    } else if (typeof node === 'object' && node !== null) {
      if (depth > MAX_JSON_DEPTH) return `must not nest deeper than ${MAX_JSON_DEPTH} levels`
      for (const child of Array.isArray(node) ? node : Object.values(node)) {
        if (typeof child === 'object' || typeof child === 'number') stack.push([child, depth + 1])
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

/** One line of text -> a Turn, or why it is rejected. Never throws. */
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
