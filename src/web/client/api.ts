/**
 * The read API, over fetch from this origin with the bearer token from sessionStorage. A 401
 * drops the token and throws SignedOut, which sends the user back to the sign-in view.
 */
// The shapes the read routes answer with are the server's own types (erased from the bundle).
import type { SessionOut as Session, TurnOut as Turn } from '../../types'
import { clearToken, readToken } from './token'

export type { Session, Turn }

export type UsageRow = {
  day?: string
  model?: string | null
  tool?: string
  host?: string
  turns: number
  tokens_in: number
  tokens_out: number
  cost_usd: number
  sessions: number
}

export type Usage = {
  group_by: string[]
  from: string | null
  to: string | null
  tz: string
  rows: UsageRow[]
  totals: Omit<UsageRow, 'day' | 'model' | 'tool' | 'host'>
}

export type SessionPage = { sessions: Session[]; next_cursor: string | null }
export type TurnPage = { turns: Turn[]; next_cursor: string | null }

/** The token is missing, or the server refused it (expired, revoked, another key). */
export class SignedOut extends Error {}

/** A problem+json answer (or a network failure) to show in the view's error state. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

type Query = Record<string, string | number | undefined>

function withQuery(path: string, query: Query): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value))
  }
  const text = params.toString()
  return text === '' ? path : `${path}?${text}`
}

export async function getJson<T>(path: string, query: Query, signal: AbortSignal): Promise<T> {
  const token = readToken()
  if (token === null) throw new SignedOut('Sign in to continue.')
  let response: Response
  try {
    response = await fetch(withQuery(path, query), {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store',
      signal,
    })
  } catch (error) {
    if (signal.aborted) throw error
    throw new ApiProblem(0, 'NETWORK', 'The server could not be reached.')
  }
  if (response.status === 401) {
    clearToken()
    throw new SignedOut('The server refused the token (expired or not valid). Sign in again.')
  }
  if (!response.ok) {
    let detail = `The server answered ${response.status}.`
    let code = 'HTTP_ERROR'
    try {
      const problem = (await response.json()) as { detail?: unknown; code?: unknown }
      if (typeof problem.detail === 'string') detail = problem.detail
      if (typeof problem.code === 'string') code = problem.code
    } catch {}
    throw new ApiProblem(response.status, code, detail)
  }
  return (await response.json()) as T
}

const part = encodeURIComponent

export const api = {
  sessions: (query: Query, signal: AbortSignal) =>
    getJson<SessionPage>('/v1/sessions', query, signal),
  session: (tool: string, host: string, id: string, signal: AbortSignal) =>
    getJson<Session>(`/v1/sessions/${part(tool)}/${part(host)}/${part(id)}`, {}, signal),
  turns: (tool: string, host: string, id: string, query: Query, signal: AbortSignal) =>
    getJson<TurnPage>(`/v1/sessions/${part(tool)}/${part(host)}/${part(id)}/turns`, query, signal),
  usage: (query: Query, signal: AbortSignal) => getJson<Usage>('/v1/usage', query, signal),
}
