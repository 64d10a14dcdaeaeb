/**
 * The page's script: takes a `#token=` link, routes on the fragment (#/usage, #/sessions,
 * #/session/<tool>/<host>/<id>), shows one view at a time, and sends the user to sign-in when
 * there is no token or the server refuses it.
 */
import { ApiProblem, SignedOut } from './api'
import { byId } from './dom'
import { when } from './format'
import {
  fillSuggestions,
  filtersFrom,
  loadMore,
  renderSessions,
  type SortKey,
  sortBy,
} from './sessions'
import { setStatus } from './status'
import { clearToken, peekClaims, readToken, saveToken, takeTokenFromFragment } from './token'
import { renderTranscript } from './transcript'
import { renderUsage } from './usage'

type Route =
  | { view: 'usage'; params: URLSearchParams }
  | { view: 'sessions'; params: URLSearchParams }
  | { view: 'session'; tool: string; host: string; id: string }

const views = ['signin', 'usage', 'sessions', 'session'] as const

function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?', 2)
  const parts = path.split('/').filter((part) => part !== '')
  if (parts[0] === 'session' && parts.length === 4) {
    try {
      const [tool, host, id] = parts.slice(1).map(decodeURIComponent) as [string, string, string]
      return { view: 'session', tool, host, id }
    } catch {}
  }
  const params = new URLSearchParams(search)
  return parts[0] === 'sessions' ? { view: 'sessions', params } : { view: 'usage', params }
}

function show(view: (typeof views)[number], focus: boolean): void {
  byId('boot').hidden = true
  for (const name of views) byId(`view-${name}`).hidden = name !== view
  const signedIn = view !== 'signin'
  byId('nav').hidden = !signedIn
  byId('signout').hidden = !signedIn
  for (const link of byId('nav').querySelectorAll<HTMLAnchorElement>('a')) {
    const current =
      link.dataset.view === view || (view === 'session' && link.dataset.view === 'sessions')
    if (current) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  if (view !== 'session') document.title = `${byId(`${view}-title`).textContent} · tributary`
  if (focus) byId(`${view}-title`).focus()
}

function signIn(message?: string): void {
  byId('who').textContent = ''
  const notice = byId('signin-message')
  notice.hidden = message === undefined
  notice.textContent = message ?? ''
  show('signin', false)
  byId('signin-token').focus()
}

/**
 * Show the signed-in owner and the token's expiry; or, with no usable token, say why (an empty
 * string when there simply is none yet).
 */
function checkToken(): string | null {
  const token = readToken()
  if (token === null) return ''
  const claims = peekClaims(token)
  if (claims?.exp !== undefined && claims.exp * 1000 <= Date.now()) {
    clearToken()
    return `Your token expired at ${when(new Date(claims.exp * 1000).toISOString())}. Sign in again.`
  }
  const who = byId('who')
  who.textContent = claims?.sub === undefined ? 'signed in' : `signed in as ${claims.sub}`
  if (claims?.exp !== undefined)
    who.title = `token valid until ${when(new Date(claims.exp * 1000).toISOString())}`
  return null
}

let current: AbortController | undefined
let firstRoute = true
let suggested = false

/** Failures of a view: sign-in for a refused token, the view's error state for the rest. */
function failed(view: Route['view'], error: unknown, retry: () => void): void {
  if (error instanceof DOMException && error.name === 'AbortError') return
  if (error instanceof SignedOut) {
    signIn(error.message)
    return
  }
  const status = byId(`${view}-status`)
  if (error instanceof ApiProblem && error.status === 404 && view === 'session') {
    setStatus(status, 'error', 'No such session (or not one of yours).')
    return
  }
  const message =
    error instanceof ApiProblem ? error.message : 'Something went wrong showing this view.'
  if (!(error instanceof ApiProblem)) console.warn(error)
  setStatus(status, 'error', message, retry)
}

async function route(): Promise<void> {
  current?.abort()
  const controller = new AbortController()
  current = controller
  const reason = checkToken()
  if (reason !== null) return signIn(reason === '' ? undefined : reason)
  const target = parseRoute(location.hash)
  show(target.view, !firstRoute)
  firstRoute = false
  const retry = () => void route()
  try {
    if (target.view === 'usage') await renderUsage(target.params, controller.signal)
    else if (target.view === 'sessions') {
      if (!suggested) {
        suggested = true
        fillSuggestions(controller.signal).catch(() => {
          suggested = false
        })
      }
      await renderSessions(target.params, controller.signal)
    } else await renderTranscript(target, controller.signal)
  } catch (error) {
    failed(target.view, error, retry)
  }
}

function wire(): void {
  byId<HTMLFormElement>('signin-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const input = byId<HTMLInputElement>('signin-token')
    const token = input.value.trim().replace(/^Bearer\s+/i, '')
    input.value = ''
    if (token === '') return signIn('Paste a token to sign in.')
    saveToken(token)
    firstRoute = true
    void route()
  })
  byId('signout').addEventListener('click', () => {
    current?.abort()
    clearToken()
    signIn('Signed out.')
  })

  const usageForm = byId<HTMLFormElement>('usage-form')
  usageForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const data = new FormData(usageForm)
    location.hash = `#/usage?${new URLSearchParams({ from: String(data.get('from')), to: String(data.get('to')) })}`
  })
  for (const button of usageForm.querySelectorAll<HTMLButtonElement>('button[data-days]')) {
    button.addEventListener('click', () => {
      const to = new Date()
      const from = new Date(
        to.getFullYear(),
        to.getMonth(),
        to.getDate() - Number(button.dataset.days) + 1,
      )
      const day = (d: Date) => d.toLocaleDateString('sv-SE')
      location.hash = `#/usage?${new URLSearchParams({ from: day(from), to: day(to) })}`
    })
  }

  const sessionsForm = byId<HTMLFormElement>('sessions-form')
  sessionsForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const params = filtersFrom(sessionsForm).toString()
    const hash = `#/sessions${params === '' ? '' : `?${params}`}`
    if (location.hash === hash) void route()
    else location.hash = hash
  })
  sessionsForm.addEventListener('reset', () => {
    location.hash = '#/sessions'
  })
  byId('sessions-more').addEventListener('click', () => {
    void loadMore((error) => failed('sessions', error, () => void route()))
  })
  for (const th of byId('sessions-table').querySelectorAll<HTMLTableCellElement>('th[data-key]')) {
    th.querySelector('button')?.addEventListener('click', () => sortBy(th.dataset.key as SortKey))
  }

  window.addEventListener('hashchange', () => {
    if (takeTokenFromFragment()) firstRoute = true
    void route()
  })
}

takeTokenFromFragment()
wire()
void route()
