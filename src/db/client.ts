/**
 * The deadline of every request to a libSQL server. @libsql/client talks to sqld/Turso over
 * HTTP with `fetch` and sets no timeout of its own, so a server that accepts the connection and
 * then never answers (stopped, overloaded, a network black hole) would hold an ingest request,
 * and the commit it waits for, as long as the runtime's fetch waits (5 minutes on Node, for the
 * headers alone). Each request gets `timeoutMs` for its whole round trip,
 * response body included; past it the fetch is aborted, the client throws, and the failure is
 * classified `unavailable` (db/errors.ts) like any other: a 503 with what was committed.
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
