/** A view's loading, empty and error states, in its role=status paragraph. */
import { fill, h } from './dom'

export type State = 'loading' | 'empty' | 'error' | 'done'

export function setStatus(element: HTMLElement, state: State, text = '', retry?: () => void): void {
  element.dataset.state = state
  element.closest('.view')?.setAttribute('aria-busy', String(state === 'loading'))
  if (state === 'done' && text === '') {
    fill(element)
    element.hidden = true
    return
  }
  element.hidden = false
  fill(
    element,
    text,
    retry === undefined ? null : ' ',
    retry === undefined ? null : h('button', { type: 'button', class: 'retry' }, 'Try again'),
  )
  element.querySelector('button.retry')?.addEventListener('click', retry ?? (() => {}))
}

/** A plain data table: a header row and one row per item. */
export function table<T>(
  columns: { label: string; numeric?: boolean; cell: (row: T) => string | Node }[],
  rows: T[],
  footer?: (string | Node)[],
): HTMLTableElement {
  const cellAttrs = (numeric?: boolean) => (numeric === true ? { class: 'num' } : {})
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...columns.map((c) => h('th', { scope: 'col', ...cellAttrs(c.numeric) }, c.label)),
      ),
    ),
    h(
      'tbody',
      {},
      ...rows.map((row) =>
        h('tr', {}, ...columns.map((c) => h('td', cellAttrs(c.numeric), c.cell(row)))),
      ),
    ),
    footer === undefined
      ? null
      : h(
          'tfoot',
          {},
          h('tr', {}, ...footer.map((cell, i) => h('td', cellAttrs(columns[i]?.numeric), cell))),
        ),
  )
}
