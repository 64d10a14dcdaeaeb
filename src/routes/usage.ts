/** `GET /v1/usage`: the owner's totals grouped by day, model, tool or host over [from, to). */
import { Hono } from 'hono'
import { requireOwner } from '../auth/middleware'
import { roundUsd } from '../db/reads'
import { invalidQuery, parseQuery, type UsageKey, usageQuery } from '../read/query'
import { localMidnight } from '../read/zone'
import type { AppDeps, AppEnv, Totals, UsageBucket } from '../types'
import { reading } from './read'

/** Day buckets asked for at once, at most (about a century). */
const MAX_DAYS = 36_600
/** Sorts after every stored timestamp (they are fixed-width and begin with a digit). */
const END_OF_TIME = '9999-12-31T23:59:59.999Z~'

type Bound = { day: string } | { at: string } | undefined

const resolve = (bound: Bound, tz: string): number | undefined =>
  bound === undefined
    ? undefined
    : 'day' in bound
      ? localMidnight(bound.day, tz)
      : Date.parse(bound.at)

const stored = (ms: number | undefined) =>
  ms === undefined ? undefined : new Date(ms).toISOString()

/** The local date of the instant `ms` in `tz`, as YYYY-MM-DD. */
const localDay = (ms: number, tz: string) =>
  new Date(ms).toLocaleDateString('en-CA', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  })

const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString().slice(0, 10)

/** Local days from the one holding `first` to the one holding `last`, as [from, to) ranges. */
function dayBuckets(
  first: number,
  last: number,
  tz: string,
): { day: string; range: UsageBucket }[] {
  const days: { day: string; range: UsageBucket }[] = []
  let day = localDay(first, tz)
  const lastDay = localDay(last, tz)
  for (;;) {
    const after = nextDay(day)
    days.push({
      day,
      range: {
        from: new Date(localMidnight(day, tz)).toISOString(),
        to: new Date(localMidnight(after, tz)).toISOString(),
      },
    })
    if (day >= lastDay) return days
    if (days.length >= MAX_DAYS) {
      throw invalidQuery('from', `Day buckets span at most ${MAX_DAYS} days; narrow from and to.`)
    }
    day = after
  }
}

const zero = (): Totals => ({ turns: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0, sessions: 0 })

export function usageRoutes(deps: AppDeps) {
  const { reads } = deps
  return new Hono<AppEnv>().use(requireOwner(deps.verify)).get('/', async (c) => {
    const owner = c.var.owner
    const query = parseQuery(usageQuery, c.req.url)
    const tz = query.tz ?? 'UTC'
    const groupBy: UsageKey[] = query.group_by ?? ['day']
    const from = stored(resolve(query.from, tz))
    const to = stored(resolve(query.to, tz))
    if (from !== undefined && to !== undefined && from >= to) {
      throw invalidQuery('to', 'Query parameter to must be later than from.')
    }
    const others = groupBy.filter((k): k is Exclude<UsageKey, 'day'> => k !== 'day')
    const byDay = groupBy.includes('day')

    const result = await reading(async () => {
      const range = await reads.turnRange(owner, from, to)
      if (range === undefined) return { groups: [], sessions: 0, days: [] }
      const days = byDay
        ? dayBuckets(Date.parse(range.first), Date.parse(range.last), tz).map((d) => ({
            day: d.day,
            // The first and last days are cut to [from, to).
            range: {
              from: from !== undefined && from > d.range.from ? from : d.range.from,
              to: to !== undefined && to < d.range.to ? to : d.range.to,
            },
          }))
        : [{ day: '', range: { from: from ?? range.first, to: to ?? END_OF_TIME } }]
      const groups = await reads.usage(owner, {
        buckets: days.map((d) => d.range),
        keys: others,
      })
      const sessions = await reads.sessionsWithTurns(owner, from ?? range.first, to ?? END_OF_TIME)
      return { groups, sessions, days }
    }, deps.limits.retryAfterS)

    const totals = zero()
    const rows = result.groups.map((g) => {
      totals.turns += g.totals.turns
      totals.tokens_in += g.totals.tokens_in
      totals.tokens_out += g.totals.tokens_out
      totals.cost_usd += g.totals.cost_usd
      const keys: Record<string, string | null> = {}
      for (const k of groupBy) {
        keys[k] =
          k === 'day' ? (result.days[g.bucket]?.day ?? null) : (g.keys[others.indexOf(k)] ?? null)
      }
      return { ...keys, ...g.totals, cost_usd: roundUsd(g.totals.cost_usd) }
    })
    totals.sessions = result.sessions
    totals.cost_usd = roundUsd(totals.cost_usd)
    rows.sort((x, y) => {
      for (const k of groupBy) {
        const a = (x as Record<string, unknown>)[k] as string | null
        const b = (y as Record<string, unknown>)[k] as string | null
        if (a === b) continue
        if (a === null) return 1
        if (b === null) return -1
        return a < b ? -1 : 1
      }
      return 0
    })
    return c.json({ group_by: groupBy, from: from ?? null, to: to ?? null, tz, rows, totals })
  })
}
