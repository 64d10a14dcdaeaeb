/** `GET /v1/usage`: the owner's totals grouped by day, model, tool or host over [from, to). */
import { Hono } from 'hono'
import type { AppDeps } from '../app'
import { requireOwner } from '../auth/middleware'
import { invalidQuery, parseQuery, usageQuery } from '../read/query'
import { localMidnight, offsetSegments } from '../read/zone'
import type { AppEnv } from '../types'
import { reading } from './read'

/** Day buckets are worked out over at most this span (about a century). */
const MAX_ZONED_SPAN_MS = 36_600 * 86_400_000

type Bound = { day: string } | { at: string } | undefined

const resolve = (bound: Bound, tz: string): number | undefined =>
  bound === undefined
    ? undefined
    : 'day' in bound
      ? localMidnight(bound.day, tz)
      : Date.parse(bound.at)

const stored = (ms: number | undefined) =>
  ms === undefined ? undefined : new Date(ms).toISOString()

export function usageRoutes(deps: AppDeps) {
  const { reads } = deps
  return new Hono<AppEnv>().use(requireOwner(deps.verify)).get('/', async (c) => {
    const query = parseQuery(usageQuery, c.req.url)
    const tz = query.tz ?? 'UTC'
    const groupBy = query.group_by ?? ['day']
    const from = resolve(query.from, tz)
    const to = resolve(query.to, tz)
    if (from !== undefined && to !== undefined && from >= to) {
      throw invalidQuery('to', 'Query parameter to must be later than from.')
    }
    let offsets = [{ until: stored(to) ?? '9999-12-31T23:59:59.999Z', offset: 0 }]
    if (tz !== 'UTC' && groupBy.includes('day')) {
      const range = await reading(() => reads.activityRange(c.var.owner))
      const lo = from ?? (range === undefined ? Date.now() : Date.parse(range.first))
      const hi = to ?? (range === undefined ? Date.now() : Date.parse(range.last) + 1)
      if (hi - lo > MAX_ZONED_SPAN_MS) {
        throw invalidQuery('from', 'Day buckets in a time zone span at most 36600 days.')
      }
      offsets = offsetSegments(tz, lo, Math.max(lo, hi)).map((s) => ({
        until: new Date(s.until).toISOString(),
        offset: s.offset,
      }))
    }
    const fromAt = stored(from)
    const toAt = stored(to)
    const usage = await reading(() =>
      reads.usage(c.var.owner, {
        groupBy,
        offsets,
        ...(fromAt === undefined ? {} : { from: fromAt }),
        ...(toAt === undefined ? {} : { to: toAt }),
      }),
    )
    return c.json({
      group_by: groupBy,
      from: fromAt ?? null,
      to: toAt ?? null,
      tz,
      rows: usage.rows,
      totals: usage.totals,
    })
  })
}
