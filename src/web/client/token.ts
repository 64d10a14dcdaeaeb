/** The bearer token: in this tab's sessionStorage only, never in a cookie or localStorage. */
const key = 'tributary.token'

export const readToken = (): string | null => sessionStorage.getItem(key)
export const saveToken = (token: string): void => sessionStorage.setItem(key, token)
export const clearToken = (): void => sessionStorage.removeItem(key)

/**
 * Take a `#token=…` fragment (the link `npm start` prints) into sessionStorage and clear it from
 * the address bar and the history entry at once. Returns whether one was taken.
 */
export function takeTokenFromFragment(): boolean {
  const hash = location.hash
  if (!hash.startsWith('#token=')) return false
  const token = new URLSearchParams(hash.slice(1)).get('token')?.trim()
  history.replaceState(null, '', `${location.pathname}${location.search}#/usage`)
  if (token === undefined || token === '') return false
  saveToken(token)
  return true
}

export type Claims = { sub?: string; exp?: number }

/**
 * The token's claims, read without verifying (the server verifies): only to say who is signed in
 * and to notice an expiry before the server does. Null when it is not a readable JWT.
 */
export function peekClaims(token: string): Claims | null {
  const payload = token.split('.')[1]
  if (payload === undefined) return null
  try {
    const base64 = payload.replaceAll('-', '+').replaceAll('_', '/')
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as unknown
    if (claims === null || typeof claims !== 'object') return null
    const { sub, exp } = claims as Record<string, unknown>
    return {
      ...(typeof sub === 'string' ? { sub } : {}),
      ...(typeof exp === 'number' ? { exp } : {}),
    }
  } catch {
    return null
  }
}
