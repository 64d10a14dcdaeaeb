/**
 * The deadline of every request to a libSQL server: @libsql/client's `fetch` has none, so a
 * server that never answers would hold a request for minutes. Past `timeoutMs` the fetch is
 * aborted and the failure is `unavailable` (db/errors.ts): a 503 with what was committed.
 */

/**
 * A `fetch` for `createClient({ fetch })` that aborts each request after `timeoutMs`.
 *
 * @example
 * createClient({ url, fetch: fetchWithDeadline(config.libsqlTimeoutMs) })
 */
export function fetchWithDeadline(timeoutMs: number) {
  return function fetchWithDeadline(
    input: Request | string | URL,
    init?: RequestInit,
  ): Promise<Response> {
    const deadline = AbortSignal.timeout(timeoutMs)
    // The client passes a Request and no init; a caller's own signal is kept if there is one.
    const signal = init?.signal == null ? deadline : AbortSignal.any([init.signal, deadline])
    return fetch(input, { ...init, signal })
  }
}
