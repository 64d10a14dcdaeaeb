/** What the read routes share: database failures as 503s, and ETags on detail answers. */
import type { Context } from 'hono'
import { ApiError } from '../errors'
import type { AppEnv } from '../types'

/**
 * A read that fails in the database is the same 503 problem ingest answers, with Retry-After
 * (`retryAfterS`: RETRY_AFTER_S, the one setting).
 */
export async function reading<T>(read: () => Promise<T>, retryAfterS: number): Promise<T> {
  try {
    return await read()
  } catch (cause) {
    if (cause instanceof ApiError) throw cause
    throw new ApiError('DATABASE_UNAVAILABLE', 'The database did not answer the read.', {
      headers: { 'Retry-After': String(retryAfterS) },
      cause,
    })
  }
}

const toBase64Url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')

/** Whether an If-None-Match header lists `etag` (weak comparison, as RFC 9110 asks for GET). */
const matches = (header: string | undefined, etag: string): boolean =>
  (header ?? '').split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t.replace(/^W\//, '') === etag
  })

/**
 * `body` as JSON with a strong ETag (a hash of its bytes), or a 304 with no body when the
 * request's If-None-Match already holds it.
 */
export async function withETag(c: Context<AppEnv>, body: unknown): Promise<Response> {
  const text = JSON.stringify(body)
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  const etag = `"${toBase64Url(new Uint8Array(digest).slice(0, 18))}"`
  const headers = { etag, 'cache-control': 'private, no-cache' }
  if (matches(c.req.header('if-none-match'), etag)) {
    return c.body(null, 304, headers)
  }
  return c.body(text, 200, { ...headers, 'content-type': 'application/json' })
}
