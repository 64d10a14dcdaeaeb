/**
 * Page cursors: the keyset tuple of the last row of a page, as base64url JSON with a kind tag.
 * Opaque to clients and validated on the way back in; never an offset, so rows inserted before
 * the cursor's position cannot shift what the next page returns.
 */
import * as v from 'valibot'

const text = v.pipe(v.string(), v.minLength(1), v.maxLength(4096))
const stamp = v.pipe(v.string(), v.length(24))

/** Sessions: the last row's `ended_at` and key, in the list's order (newest activity first). */
const sessionsTuple = v.strictTuple([v.literal('s'), stamp, text, text, text])
/** Turns: the last row's `seq`, `timestamp` and `turn_id`, in page order. */
const turnsTuple = v.strictTuple([
  v.literal('t'),
  v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  stamp,
  text,
])

export type SessionsCursor = { endedAt: string; tool: string; host: string; sessionId: string }
export type TurnsCursor = { seq: number; timestamp: string; turnId: string }

const toBase64Url = (value: unknown): string => {
  let binary = ''
  for (const byte of new TextEncoder().encode(JSON.stringify(value))) {
    binary += String.fromCharCode(byte)
  }
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** The JSON a cursor string holds, or undefined when it is not base64url of JSON. */
const fromBase64Url = (cursor: string): unknown => {
  if (!/^[A-Za-z0-9_-]{1,8192}$/.test(cursor)) return undefined
  try {
    const binary = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'))
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes))
  } catch {
    return undefined
  }
}

export const encodeSessionsCursor = (c: SessionsCursor): string =>
  toBase64Url(['s', c.endedAt, c.tool, c.host, c.sessionId])

export const encodeTurnsCursor = (c: TurnsCursor): string =>
  toBase64Url(['t', c.seq, c.timestamp, c.turnId])

export function decodeSessionsCursor(cursor: string): SessionsCursor | undefined {
  const parsed = v.safeParse(sessionsTuple, fromBase64Url(cursor))
  if (!parsed.success) return undefined
  const [, endedAt, tool, host, sessionId] = parsed.output
  return { endedAt, tool, host, sessionId }
}

export function decodeTurnsCursor(cursor: string): TurnsCursor | undefined {
  const parsed = v.safeParse(turnsTuple, fromBase64Url(cursor))
  if (!parsed.success) return undefined
  const [, seq, timestamp, turnId] = parsed.output
  return { seq, timestamp, turnId }
}
