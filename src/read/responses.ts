/**
 * The shapes the API answers with, as valibot schemas: the OpenAPI document is generated from
 * them, and the tests check real answers against them.
 */
import * as v from 'valibot'

const count = v.pipe(v.number(), v.safeInteger(), v.minValue(0))
const stamp = v.pipe(
  v.string(),
  v.isoTimestamp(),
  v.description('UTC with milliseconds: YYYY-MM-DDTHH:MM:SS.sssZ.'),
)
const jsonObject = v.record(v.string(), v.unknown())

export const sessionShape = v.strictObject({
  tool: v.string(),
  host: v.string(),
  session_id: v.string(),
  started_at: stamp,
  ended_at: stamp,
  working_dir: v.nullable(v.string()),
  source_file: v.nullable(v.string()),
  metadata: v.nullable(jsonObject),
  turns: count,
  tokens_in: count,
  tokens_out: count,
  cost_usd: v.pipe(v.number(), v.minValue(0)),
  models: v.pipe(v.array(v.string()), v.description('Distinct models of its turns, sorted.')),
})

export const turnShape = v.strictObject({
  turn_id: v.string(),
  seq: count,
  role: v.picklist(['user', 'assistant', 'system', 'tool']),
  timestamp: stamp,
  content: v.nullable(v.string()),
  model: v.nullable(v.string()),
  tokens_in: v.nullable(count),
  tokens_out: v.nullable(count),
  cost_usd: v.nullable(v.pipe(v.number(), v.minValue(0))),
  tool_calls: v.pipe(v.unknown(), v.description('The JSON array or object sent, or null.')),
  metadata: v.nullable(jsonObject),
})

const nextCursor = v.pipe(
  v.nullable(v.string()),
  v.description('Pass as `cursor` for the next page; null on the last page.'),
)

export const sessionPageShape = v.strictObject({
  sessions: v.array(sessionShape),
  next_cursor: nextCursor,
})

export const turnPageShape = v.strictObject({
  turns: v.array(turnShape),
  next_cursor: nextCursor,
})

const totals = {
  turns: count,
  tokens_in: count,
  tokens_out: count,
  cost_usd: v.pipe(v.number(), v.minValue(0)),
  sessions: v.pipe(count, v.description('Distinct sessions with a turn in the group.')),
}

export const usageShape = v.strictObject({
  group_by: v.array(v.picklist(['day', 'model', 'tool', 'host'])),
  from: v.nullable(stamp),
  to: v.nullable(stamp),
  tz: v.string(),
  rows: v.array(
    v.strictObject({
      day: v.optional(v.pipe(v.string(), v.isoDate())),
      model: v.optional(v.nullable(v.string())),
      tool: v.optional(v.string()),
      host: v.optional(v.string()),
      ...totals,
    }),
  ),
  totals: v.strictObject(totals),
})

const lineError = v.object({
  line: v.pipe(v.number(), v.integer(), v.minValue(1)),
  code: v.picklist([
    'INVALID_JSON',
    'NOT_AN_OBJECT',
    'INVALID_FIELD',
    'INVALID_UTF8',
    'LINE_TOO_LARGE',
    'DB_CONSTRAINT',
  ]),
  field: v.optional(v.string()),
  message: v.string(),
})

export const summaryShape = v.strictObject({
  accepted: count,
  rejected: count,
  lines: count,
  bytes: count,
  chunks: count,
  errors: v.array(lineError),
  errors_truncated: v.boolean(),
})

export const problemShape = v.object({
  type: v.string(),
  title: v.string(),
  status: v.pipe(v.number(), v.integer()),
  detail: v.string(),
  code: v.string(),
  committed: v.optional(summaryShape),
  parameter: v.optional(
    v.pipe(v.string(), v.description('The query parameter an INVALID_QUERY problem is about.')),
  ),
})

export const healthShape = v.object({ status: v.picklist(['ok', 'ready']) })
