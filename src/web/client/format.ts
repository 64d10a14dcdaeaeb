/** Numbers, money and times as the page shows them (the user's locale and time zone). */
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 })

export const count = (value: number | null | undefined): string =>
  value === null || value === undefined ? '–' : integer.format(value)

export const short = (value: number): string => compact.format(value)

/** US dollars: cents for sums of a dollar or more, four decimals below (one turn costs little). */
export function usd(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–'
  const digits = value !== 0 && Math.abs(value) < 1 ? 4 : 2
  return `$${value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits })}`
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })

export function when(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date)
}

export function clock(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : timeOnly.format(date)
}

/** The browser's IANA time zone, for the usage view's day buckets. */
export const timeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'

/** YYYY-MM-DD of a local date. */
export function isoDay(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
}

/** The local calendar day after YYYY-MM-DD (for an inclusive "to" made exclusive). */
export function nextDay(day: string): string {
  const [y, m, d] = day.split('-').map(Number)
  return isoDay(new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + 1))
}

/** Local midnight of YYYY-MM-DD as an RFC 3339 instant. */
export function localMidnight(day: string): string {
  const [y, m, d] = day.split('-').map(Number)
  return new Date(y ?? 1970, (m ?? 1) - 1, d ?? 1).toISOString()
}

export const isDay = (text: string | null | undefined): text is string =>
  text !== null && text !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(text)
