import type { MiddlewareHandler } from 'hono'
import type { AppEnv, Verifier } from '../types'

/**
 * Authenticate the request from its `Authorization` header alone, before a byte of the body is
 * read, and expose the verified owner as `c.var.owner`. A failure throws the verifier's ApiError
 * (401, or 503 when the key source is down) for the app's `onError` to render.
 *
 * @example
 * ```ts
 * const verify = createVerifier(config.auth)
 * app.use('/v1/*', requireOwner(verify))
 * app.post('/v1/ingest', (c) => c.text(c.var.owner))
 * ```
 */
export function requireOwner(verify: Verifier): MiddlewareHandler<AppEnv> {
  return async function requireOwner(c, next) {
    c.set('owner', await verify(c.req.header('Authorization')))
    await next()
  }
}
