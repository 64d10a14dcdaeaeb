/**
 * The read API's query parameters as valibot schemas: one source for validating requests and for
 * the OpenAPI document. A bad parameter is a 400 INVALID_QUERY problem that names it.
 */
import * as v from 'valibot'
import { ApiError } from '../errors'
import { normalizeTimestamp } from '../ingest/turn'
import { isTimeZone } from './zone'

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 500

const limit = v.pipe(
  v.string(),
  v.regex(/^[0-9]{1,3}$/, `must be a whole number from 1 to ${MAX_LIMIT}`),
  v.description(`Rows per page, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT}).`),
  v.transform(Number),
  v.check((n) => n >= 1 && n <= MAX_LIMIT, `must be a whole number from 1 to ${MAX_LIMIT}`),
)

const cursor = v.pipe(
  v.string(),
  v.minLength(1, 'must not be empty'),
  v.description('Opaque: the `next_cursor` of the previous page.'),
)

const keyFilter = (what: string) =>
  v.pipe(
    v.string(),
    v.minLength(1, 'must not be empty'),
    v.maxLength(255, 'must be at most 255 characters'),
    v.description(`Only sessions of this ${what}.`),
  )

/** An RFC 3339 date-time, normalized to the stored UTC form so it compares as text. */
const instant = (description: string) =>
  v.pipe(
    v.string(),
    v.regex(
      /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/,
      'must be an RFC 3339 date-time with Z or an offset',
    ),
    v.description(description),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const normalized = normalizeTimestamp(dataset.value)
      if (normalized === undefined) {
        addIssue({ message: 'must be an RFC 3339 date-time on a real calendar date' })
        return NEVER
      }
      return normalized
    }),
  )

/** A day (YYYY-MM-DD, local midnight in `tz`) or an RFC 3339 date-time; resolved by the route. */
const bound = (description: string) =>
  v.union(
    [
      v.pipe(
        v.string(),
        v.regex(/^\d{4}-\d{2}-\d{2}$/),
        v.check((day) => normalizeTimestamp(`${day}T00:00:00Z`) !== undefined),
        v.transform((day) => ({ day })),
      ),
      v.pipe(
        instant(description),
        v.transform((at) => ({ at })),
      ),
    ],
    'must be YYYY-MM-DD or an RFC 3339 date-time with Z or an offset',
  )

export const sessionsQuery = v.strictObject({
  tool: v.optional(keyFilter('tool')),
  host: v.optional(keyFilter('host')),
  since: v.optional(instant('Only sessions active at or after this instant (ended_at >= since).')),
  until: v.optional(
    instant('Only sessions that started before this instant (started_at < until).'),
  ),
  q: v.optional(
    v.pipe(
      v.string(),
      v.minLength(1, 'must not be empty'),
      v.maxLength(4096, 'must be at most 4096 characters'),
      v.description('Substring (case-sensitive) of working_dir or session_id.'),
    ),
  ),
  limit: v.optional(limit),
  cursor: v.optional(cursor),
})

export const turnsQuery = v.strictObject({
  limit: v.optional(limit),
  cursor: v.optional(cursor),
})

export const sessionDetailQuery = v.strictObject({})

export const USAGE_KEYS = ['day', 'model', 'tool', 'host'] as const
export type UsageKey = (typeof USAGE_KEYS)[number]

export const usageQuery = v.strictObject({
  group_by: v.optional(
    v.pipe(
      v.string(),
      v.regex(
        /^(day|model|tool|host)(,(day|model|tool|host))?$/,
        'must be one or two of day, model, tool, host, comma-separated',
      ),
      v.description('One or two of day, model, tool, host, comma-separated (default day).'),
      v.transform((list) => list.split(',') as UsageKey[]),
      v.check((keys) => keys[0] !== keys[1], 'must not name a key twice'),
    ),
  ),
  from: v.optional(bound('Start, inclusive: YYYY-MM-DD (midnight in tz) or RFC 3339.')),
  to: v.optional(bound('End, exclusive: YYYY-MM-DD (midnight in tz) or RFC 3339.')),
  tz: v.optional(
    v.pipe(
      v.string(),
      v.check(isTimeZone, 'must be an IANA time zone such as Europe/Berlin'),
      v.description('IANA time zone of the day buckets (default UTC).'),
    ),
  ),
})

/**
 * The query string of `url` checked against `schema`. A parameter given twice, an unknown one,
 * or a bad value is a 400 INVALID_QUERY naming the parameter.
 */
export function parseQuery<S extends v.GenericSchema>(schema: S, url: string): v.InferOutput<S> {
  const values: Record<string, string> = {}
  for (const [name, value] of new URL(url).searchParams) {
    if (Object.hasOwn(values, name)) {
      throw invalidQuery(name, `Query parameter ${name} is given more than once.`)
    }
    values[name] = value
  }
  const parsed = v.safeParse(schema, values)
  if (parsed.success) return parsed.output
  const issue = parsed.issues[0]
  const name = String(issue.path?.[0]?.key ?? 'query')
  if (issue.kind === 'schema' && issue.type === 'strict_object') {
    throw invalidQuery(name, `Query parameter ${name} is not known here.`)
  }
  throw invalidQuery(name, `Query parameter ${name} ${issue.message}.`)
}

export const invalidQuery = (parameter: string, detail: string) =>
  new ApiError('INVALID_QUERY', detail, { parameter })
