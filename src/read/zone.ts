/**
 * Day buckets in an IANA time zone without a time-zone database in SQL: the zone's UTC offset
 * is constant between transitions, so a range splits into a few segments, each one a fixed
 * offset SQLite's date() can apply.
 */

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    formatters.set(zone, f)
  }
  return f
}

/** Whether `zone` is an IANA zone name this runtime knows. */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false
  try {
    formatter(zone)
    return true
  } catch {
    return false
  }
}

/** Minutes to add to UTC to get local time in `zone` at the instant `ms`. */
export function offsetMinutes(zone: string, ms: number): number {
  const parts: Record<string, number> = {}
  for (const part of formatter(zone).formatToParts(new Date(ms))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value)
  }
  const local = Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  )
  return Math.round((local - (ms - (ms % 1000))) / 60_000)
}

/** The UTC instant of local midnight starting `day` (YYYY-MM-DD) in `zone`. */
export function localMidnight(day: string, zone: string): number {
  const wall = Date.parse(`${day}T00:00:00.000Z`)
  let guess = wall - offsetMinutes(zone, wall) * 60_000
  // Twice: the first guess may sit on the other side of a transition.
  guess = wall - offsetMinutes(zone, guess) * 60_000
  return guess
}

export type OffsetSegment = { until: number; offset: number }

const DAY = 86_400_000

/**
 * The offsets of `zone` over [from, to): each segment holds `offset` until the instant
 * `until` (the last one until `to`). Probed a day apart, transitions found to the minute.
 */
export function offsetSegments(zone: string, from: number, to: number): OffsetSegment[] {
  const segments: OffsetSegment[] = []
  let at = from
  let offset = offsetMinutes(zone, at)
  while (at < to) {
    const next = Math.min(at + DAY, to)
    const nextOffset = offsetMinutes(zone, next)
    if (nextOffset !== offset) {
      // Transitions fall on whole minutes: search minute numbers.
      let lo = Math.floor(at / 60_000)
      let hi = Math.ceil(next / 60_000)
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2)
        if (offsetMinutes(zone, mid * 60_000) === offset) lo = mid
        else hi = mid
      }
      segments.push({ until: hi * 60_000, offset })
      offset = nextOffset
    }
    at = next
  }
  segments.push({ until: to, offset })
  return segments
}
