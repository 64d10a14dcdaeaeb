/**
 * The sessions view: the filters of /v1/sessions, keyset paging with "More sessions", and
 * columns that sort the rows loaded so far (the API itself orders by last activity).
 */
import { api, type Session } from './api'
import { byId, fill, h } from './dom'
import { count, isDay, localMidnight, nextDay, usd, when } from './format'
import { setStatus } from './status'

type SortKey =
  | 'ended_at'
  | 'title'
  | 'tool'
  | 'host'
  | 'turns'
  | 'tokens_in'
  | 'tokens_out'
  | 'cost_usd'

const filterNames = ['tool', 'host', 'since', 'until', 'q'] as const

export const sessionTitle = (s: Session): string => s.working_dir ?? s.session_id

export const sessionHref = (s: Pick<Session, 'tool' | 'host' | 'session_id'>): string =>
  `#/session/${[s.tool, s.host, s.session_id].map(encodeURIComponent).join('/')}`

const state = {
  rows: [] as Session[],
  cursor: null as string | null,
  query: {} as Record<string, string | undefined>,
  sort: { key: 'ended_at' as SortKey, descending: true },
  signal: undefined as AbortSignal | undefined,
}

function compare(a: Session, b: Session, key: SortKey): number {
  if (key === 'title') return sessionTitle(a).localeCompare(sessionTitle(b))
  const x = a[key]
  const y = b[key]
  if (typeof x === 'number' && typeof y === 'number') return x - y
  return String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0
}

function row(session: Session): HTMLTableRowElement {
  return h(
    'tr',
    {},
    h('td', { title: session.ended_at }, when(session.ended_at)),
    h(
      'td',
      { class: 'title' },
      h('a', { href: sessionHref(session) }, sessionTitle(session)),
      session.working_dir === null ? null : h('small', {}, session.session_id),
    ),
    h('td', {}, session.tool),
    h('td', {}, session.host),
    h('td', { class: 'num' }, count(session.turns)),
    h('td', { class: 'num' }, count(session.tokens_in)),
    h('td', { class: 'num' }, count(session.tokens_out)),
    h('td', { class: 'num' }, usd(session.cost_usd)),
  )
}

function draw(): void {
  const table = byId<HTMLTableElement>('sessions-table')
  const { key, descending } = state.sort
  const rows = [...state.rows].sort((a, b) => (descending ? -1 : 1) * compare(a, b, key))
  fill(table.tBodies[0] as HTMLTableSectionElement, ...rows.map(row))
  for (const th of table.tHead?.querySelectorAll('th') ?? []) {
    if (th.dataset.key === key)
      th.setAttribute('aria-sort', descending ? 'descending' : 'ascending')
    else th.removeAttribute('aria-sort')
  }
  const more = byId<HTMLButtonElement>('sessions-more')
  more.hidden = state.cursor === null
  const status = byId('sessions-status')
  const n = state.rows.length
  setStatus(
    status,
    'done',
    state.cursor === null
      ? `${count(n)} session${n === 1 ? '' : 's'}, all shown.`
      : `${count(n)} sessions loaded; more are available.`,
  )
}

async function loadPage(signal: AbortSignal): Promise<void> {
  const page = await api.sessions(
    { ...state.query, limit: 50, ...(state.cursor === null ? {} : { cursor: state.cursor }) },
    signal,
  )
  state.rows.push(...page.sessions)
  state.cursor = page.next_cursor
}

/** Turn the form's fields (local dates, "until" inclusive) into the API's query. */
function apiQuery(params: URLSearchParams): Record<string, string | undefined> {
  const since = params.get('since')
  const until = params.get('until')
  return {
    tool: params.get('tool') ?? undefined,
    host: params.get('host') ?? undefined,
    q: params.get('q') ?? undefined,
    since: isDay(since) ? localMidnight(since) : undefined,
    until: isDay(until) ? localMidnight(nextDay(until)) : undefined,
  }
}

export async function renderSessions(params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const form = byId<HTMLFormElement>('sessions-form')
  for (const name of filterNames) {
    ;(form.elements.namedItem(name) as HTMLInputElement).value = params.get(name) ?? ''
  }
  state.rows = []
  state.cursor = null
  state.query = apiQuery(params)
  state.signal = signal
  const table = byId<HTMLTableElement>('sessions-table')
  byId('sessions-more').hidden = true
  setStatus(byId('sessions-status'), 'loading', 'Loading sessions…')
  await loadPage(signal)
  if (state.rows.length === 0) {
    table.hidden = true
    const filtered = filterNames.some((name) => (params.get(name) ?? '') !== '')
    setStatus(
      byId('sessions-status'),
      'empty',
      filtered ? 'No session matches these filters.' : 'No sessions yet: ingest some turns first.',
    )
    return
  }
  table.hidden = false
  draw()
}

/** The "More sessions" button; errors go to `fail` like the view's own. */
export async function loadMore(fail: (error: unknown) => void): Promise<void> {
  const signal = state.signal
  if (signal === undefined || state.cursor === null || signal.aborted) return
  const more = byId<HTMLButtonElement>('sessions-more')
  more.disabled = true
  setStatus(byId('sessions-status'), 'loading', 'Loading more sessions…')
  try {
    await loadPage(signal)
    draw()
    // Keep the keyboard where it was: on the button, or on the last row when none is left.
    if (state.cursor !== null) more.focus()
    else byId('sessions-table').querySelector<HTMLAnchorElement>('tbody tr:last-child a')?.focus()
  } catch (error) {
    fail(error)
  } finally {
    more.disabled = false
  }
}

export function sortBy(key: SortKey): void {
  state.sort =
    state.sort.key === key
      ? { key, descending: !state.sort.descending }
      : {
          key,
          descending:
            key === 'ended_at' || ['turns', 'tokens_in', 'tokens_out', 'cost_usd'].includes(key),
        }
  draw()
}

/** The form's filters as hash parameters (empty ones left out). */
export function filtersFrom(form: HTMLFormElement): URLSearchParams {
  const params = new URLSearchParams()
  for (const name of filterNames) {
    const value = (form.elements.namedItem(name) as HTMLInputElement).value.trim()
    if (value !== '') params.set(name, value)
  }
  return params
}

/** Tools and hosts seen, for the filters' suggestions; best effort. */
export async function fillSuggestions(signal: AbortSignal): Promise<void> {
  const [tools, hosts] = await Promise.all([
    api.usage({ group_by: 'tool' }, signal),
    api.usage({ group_by: 'host' }, signal),
  ])
  const options = (values: (string | undefined)[]) =>
    [...new Set(values.filter((v): v is string => typeof v === 'string'))]
      .sort()
      .map((value) => h('option', { value }))
  fill(byId('known-tools'), ...options(tools.rows.map((r) => r.tool)))
  fill(byId('known-hosts'), ...options(hosts.rows.map((r) => r.host)))
}

export type { SortKey }
