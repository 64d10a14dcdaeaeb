/** The usage view: tokens in/out and cost per day as charts, totals by model and by tool. */
import { api, type Usage, type UsageRow } from './api'
import { barChart } from './chart'
import { byId, fill, h } from './dom'
import { count, isDay, isoDay, nextDay, timeZone, usd } from './format'
import { setStatus, table } from './status'

const defaultDays = 30

/** The range shown: `from` and `to` are local calendar days, both included. */
export function usageRange(params: URLSearchParams): { from: string; to: string } {
  const to = isDay(params.get('to')) ? (params.get('to') as string) : isoDay(new Date())
  const from = params.get('from')
  if (isDay(from) && from <= to) return { from, to }
  const [y, m, d] = to.split('-').map(Number)
  return { from: isoDay(new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) - defaultDays + 1)), to }
}

/** Every day of the range, so days without turns show as gaps rather than vanish. */
function daysOf(from: string, to: string): string[] {
  const days: string[] = []
  for (let day = from; day <= to && days.length < 3660; day = nextDay(day)) days.push(day)
  return days
}

const totalsRow = (usage: Usage) => [
  'Total',
  count(usage.totals.turns),
  count(usage.totals.sessions),
  count(usage.totals.tokens_in),
  count(usage.totals.tokens_out),
  usd(usage.totals.cost_usd),
]

function breakdown(rows: UsageRow[], key: 'model' | 'tool', usage: Usage): HTMLTableElement {
  const sorted = [...rows].sort((a, b) => b.cost_usd - a.cost_usd || b.turns - a.turns)
  return table(
    [
      {
        label: key === 'model' ? 'Model' : 'Tool',
        cell: (r) => (r[key] === null || r[key] === undefined ? '(none)' : String(r[key])),
      },
      { label: 'Turns', numeric: true, cell: (r) => count(r.turns) },
      { label: 'Sessions', numeric: true, cell: (r) => count(r.sessions) },
      { label: 'Tokens in', numeric: true, cell: (r) => count(r.tokens_in) },
      { label: 'Tokens out', numeric: true, cell: (r) => count(r.tokens_out) },
      { label: 'Cost', numeric: true, cell: (r) => usd(r.cost_usd) },
    ],
    sorted,
    totalsRow(usage),
  )
}

export async function renderUsage(params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const { from, to } = usageRange(params)
  const form = byId<HTMLFormElement>('usage-form')
  ;(form.elements.namedItem('from') as HTMLInputElement).value = from
  ;(form.elements.namedItem('to') as HTMLInputElement).value = to
  const status = byId('usage-status')
  const body = byId('usage-body')
  setStatus(status, 'loading', 'Loading usage…')
  body.hidden = true

  const query = { from, to: nextDay(from > to ? from : to), tz: timeZone() }
  const [byDay, byModel, byTool] = await Promise.all([
    api.usage({ ...query, group_by: 'day' }, signal),
    api.usage({ ...query, group_by: 'model' }, signal),
    api.usage({ ...query, group_by: 'tool' }, signal),
  ])
  if (byDay.totals.turns === 0) {
    setStatus(status, 'empty', `No usage between ${from} and ${to}. Pick another range.`)
    return
  }
  setStatus(status, 'done', `${from} to ${to}, days in ${byDay.tz}.`)

  const days = daysOf(from, to)
  const rows = new Map(byDay.rows.map((row) => [row.day ?? '', row]))
  const values = (field: 'tokens_in' | 'tokens_out' | 'cost_usd') =>
    days.map((day) => rows.get(day)?.[field] ?? 0)

  const t = byDay.totals
  fill(
    byId('usage-totals'),
    ...(
      [
        ['Turns', count(t.turns)],
        ['Sessions', count(t.sessions)],
        ['Tokens in', count(t.tokens_in)],
        ['Tokens out', count(t.tokens_out)],
        ['Cost', usd(t.cost_usd)],
      ] as const
    ).map(([label, value]) => h('div', {}, h('dt', {}, label), h('dd', {}, value))),
  )
  fill(
    byId('usage-tokens-chart'),
    barChart({
      days,
      label: `Tokens in and out per day, ${from} to ${to}`,
      format: count,
      series: [
        { key: 'tokens-in', label: 'Tokens in', className: 'in', values: values('tokens_in') },
        { key: 'tokens-out', label: 'Tokens out', className: 'out', values: values('tokens_out') },
      ],
    }),
  )
  fill(
    byId('usage-cost-chart'),
    barChart({
      days,
      label: `Cost per day in US dollars, ${from} to ${to}`,
      format: usd,
      series: [{ key: 'cost', label: 'Cost (USD)', className: 'cost', values: values('cost_usd') }],
    }),
  )
  fill(
    byId('usage-days'),
    table(
      [
        { label: 'Day', cell: (r: UsageRow) => r.day ?? '' },
        { label: 'Turns', numeric: true, cell: (r) => count(r.turns) },
        { label: 'Sessions', numeric: true, cell: (r) => count(r.sessions) },
        { label: 'Tokens in', numeric: true, cell: (r) => count(r.tokens_in) },
        { label: 'Tokens out', numeric: true, cell: (r) => count(r.tokens_out) },
        { label: 'Cost', numeric: true, cell: (r) => usd(r.cost_usd) },
      ],
      byDay.rows,
      totalsRow(byDay),
    ),
  )
  fill(byId('usage-models'), breakdown(byModel.rows, 'model', byModel))
  fill(byId('usage-tools'), breakdown(byTool.rows, 'tool', byTool))
  body.hidden = false
}
