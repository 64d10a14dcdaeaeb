/**
 * Local days in an IANA time zone, worked out with Intl (SQL has no time-zone database): a day
 * is the range of UTC instants from one local midnight to the next.
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
