/**
 * The transcript view: a session's facts and totals, then every turn in order (pages of the
 * turns route loaded one after another), role-styled. Long contents, tool calls and metadata sit
 * in closed <details> and are put into the page only when opened. All of it is text.
 */
import { api, type Session, type Turn } from './api'
import { byId, type Child, fill, h } from './dom'
import { clock, count, usd, when } from './format'
import { setStatus } from './status'
import { displayText, lineCount, preview } from './text'

/** Contents above either limit start collapsed. */
const collapseChars = 2000
const collapseLines = 24
const pageSize = 500

function fact(label: string, value: Child): HTMLElement {
  return h('div', {}, h('dt', {}, label), h('dd', {}, value))
}

/** A closed <details> whose body is built the first time it opens. */
function lazyDetails(summary: Child[], className: string, body: () => Node): HTMLDetailsElement {
  const details = h('details', { class: className }, h('summary', {}, ...summary))
  details.addEventListener('toggle', function once() {
    if (!details.open) return
    details.removeEventListener('toggle', once)
    details.append(body())
  })
  return details
}

const json = (value: unknown) => {
  try {
    return JSON.stringify(value, null, 2) ?? String(value)
  } catch {
    return String(value)
  }
}

function toolNames(calls: unknown): string[] {
  const list = Array.isArray(calls) ? calls : [calls]
  return list.map((call) =>
    call !== null &&
    typeof call === 'object' &&
    typeof (call as { name?: unknown }).name === 'string'
      ? (call as { name: string }).name
      : 'call',
  )
}

function contentBlock(raw: string): HTMLElement {
  const text = displayText(raw)
  const lines = lineCount(text)
  if (text.length <= collapseChars && lines <= collapseLines) {
    return h('div', { class: 'content' }, text)
  }
  return lazyDetails(
    [
      h('span', { class: 'preview' }, preview(text)),
      h('span', { class: 'size' }, ` ${count(text.length)} characters, ${count(lines)} lines`),
    ],
    'long',
    () => h('div', { class: 'content' }, text),
  )
}

function turnItem(turn: Turn): HTMLLIElement {
  const figures = [
    turn.model === null ? null : h('span', { class: 'model' }, turn.model),
    turn.tokens_in === null ? null : h('span', {}, `${count(turn.tokens_in)} in`),
    turn.tokens_out === null ? null : h('span', {}, `${count(turn.tokens_out)} out`),
    turn.cost_usd === null ? null : h('span', {}, usd(turn.cost_usd)),
  ]
  const role = ['user', 'assistant', 'system', 'tool'].includes(turn.role) ? turn.role : 'other'
  const names = turn.tool_calls === null ? [] : toolNames(turn.tool_calls)
  return h(
    'li',
    { class: `turn role-${role}`, 'data-turn-id': turn.turn_id, 'data-seq': turn.seq },
    h(
      'header',
      {},
      h('span', { class: 'role' }, turn.role),
      h('span', { class: 'seq' }, `#${turn.seq}`),
      h('time', { datetime: turn.timestamp, title: turn.timestamp }, clock(turn.timestamp)),
      h('span', { class: 'figures' }, ...figures),
    ),
    turn.content === null ? null : contentBlock(turn.content),
    turn.tool_calls === null
      ? null
      : lazyDetails(
          [`Tool calls (${names.length}): `, h('code', {}, names.join(', '))],
          'calls',
          () => h('pre', {}, displayText(json(turn.tool_calls))),
        ),
    turn.metadata === null
      ? null
      : lazyDetails(['Metadata'], 'meta', () => h('pre', {}, displayText(json(turn.metadata)))),
  )
}

function showFacts(session: Session): void {
  const title = byId('session-title')
  title.textContent = session.working_dir ?? session.session_id
  document.title = `${title.textContent} · tributary`
  fill(
    byId('session-facts'),
    fact('Tool', session.tool),
    fact('Host', session.host),
    fact('Session id', h('code', {}, session.session_id)),
    fact('Started', h('time', { datetime: session.started_at }, when(session.started_at))),
    fact('Last activity', h('time', { datetime: session.ended_at }, when(session.ended_at))),
    fact('Turns', count(session.turns)),
    fact('Tokens in', count(session.tokens_in)),
    fact('Tokens out', count(session.tokens_out)),
    fact('Cost', usd(session.cost_usd)),
    fact('Models', session.models.length === 0 ? '–' : session.models.join(', ')),
    session.source_file === null ? null : fact('Source file', h('code', {}, session.source_file)),
    session.metadata === null
      ? null
      : fact(
          'Metadata',
          lazyDetails(['show'], 'meta', () => h('pre', {}, displayText(json(session.metadata)))),
        ),
  )
}

export type SessionKey = { tool: string; host: string; id: string }

export async function renderTranscript(key: SessionKey, signal: AbortSignal): Promise<void> {
  const status = byId('session-status')
  const list = byId('session-turns')
  const footer = byId('session-footer')
  byId('session-title').textContent = 'Session'
  fill(byId('session-facts'))
  fill(list)
  footer.hidden = true
  setStatus(status, 'loading', 'Loading the session…')
  const session = await api.session(key.tool, key.host, key.id, signal)
  showFacts(session)

  const sums = { turns: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0 }
  let cursor: string | null = null
  do {
    setStatus(status, 'loading', `Loading turns… ${count(sums.turns)} of ${count(session.turns)}`)
    const page = await api.turns(
      key.tool,
      key.host,
      key.id,
      { limit: pageSize, ...(cursor === null ? {} : { cursor }) },
      signal,
    )
    for (const turn of page.turns) {
      sums.turns++
      sums.tokens_in += turn.tokens_in ?? 0
      sums.tokens_out += turn.tokens_out ?? 0
      sums.cost_usd += turn.cost_usd ?? 0
    }
    list.append(...page.turns.map(turnItem))
    cursor = page.next_cursor
  } while (cursor !== null && !signal.aborted)

  if (sums.turns === 0) {
    setStatus(status, 'empty', 'This session has no turns.')
    return
  }
  setStatus(status, 'done')
  fill(
    footer,
    fact('Session total', `${count(sums.turns)} turns`),
    fact('Tokens in', count(sums.tokens_in)),
    fact('Tokens out', count(sums.tokens_out)),
    fact('Cost', usd(sums.cost_usd)),
  )
  footer.hidden = false
}
