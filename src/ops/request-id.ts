/**
 * `X-Request-Id` on every answer: the client's own when it is a sane token (1–128 characters of
 * `[A-Za-z0-9._:-]`), otherwise a new UUID. Built on Hono's requestId middleware, whose own rule
 * (`[\w=-]`, 255 characters) differs from ours, so the choice is made in its generator.
 */
import type { MiddlewareHandler } from 'hono'
import { requestId as honoRequestId } from 'hono/request-id'
import type { AppEnv } from '../types'

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The client's id when it is sane, else a new UUID. */
export const chooseRequestId = (sent: string | null | undefined): string =>
  sent != null && SANE_REQUEST_ID.test(sent) ? sent : crypto.randomUUID()

/**
 * Sets `c.var.requestId` and the `X-Request-Id` answer header.
 *
 * @example
 * ```ts
 * app.use(requestId())
 * app.get('/', (c) => c.text(c.var.requestId))
 * ```
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  const choose = honoRequestId({
    headerName: '',
    generator: (c) => chooseRequestId(c.req.header('x-request-id')),
  })
  return async function requestId(c, next) {
    await choose(c, next)
    // Set after the answer is made: a problem response is a new Response without c's headers.
    c.header('X-Request-Id', c.var.requestId)
  }
}
