/**
 * The web page: GET / (the server-rendered shell) and its content-hashed assets under /assets/,
 * with a strict Content-Security-Policy. The page reads data only through the public read API,
 * from the browser, with the user's bearer token.
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { html } from 'hono/html'
import { ApiError } from '../errors'
import type { AppEnv } from '../types'
import { script, stylesheet } from '../web/assets.gen.js'
import { Page } from '../web/page'

export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ')

/**
 * The page's security headers, set on its answers (errors included).
 *
 * @example
 * ```ts
 * app.use('/', pageHeaders())
 * ```
 */
export function pageHeaders(): MiddlewareHandler<AppEnv> {
  return async function pageHeaders(c, next) {
    await next()
    c.header('Content-Security-Policy', contentSecurityPolicy)
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    c.header('X-Frame-Options', 'DENY')
    c.header('Cross-Origin-Opener-Policy', 'same-origin')
    c.header('Cross-Origin-Resource-Policy', 'same-origin')
  }
}

const byName = new Map([script, stylesheet].map((asset) => [asset.name, asset]))
const shell = html`<!doctype html>${<Page assets={{ script, stylesheet }} />}`

export function webRoutes() {
  const app = new Hono<AppEnv>()
  app.use('/', pageHeaders())
  app.use('/assets/*', pageHeaders())
  app.get('/', async (c) => {
    // The shell holds no data; revalidate so a new deployment's asset names are picked up.
    c.header('Cache-Control', 'no-cache')
    return c.html(await shell)
  })
  app.get('/assets/:name', (c) => {
    const asset = byName.get(c.req.param('name'))
    if (asset === undefined) throw new ApiError('NOT_FOUND', `No asset ${c.req.path}.`)
    const headers = {
      'Content-Type': asset.type,
      // The name changes with the content, so a copy never goes stale.
      'Cache-Control': 'public, max-age=31536000, immutable',
      ETag: asset.etag,
    }
    if (c.req.header('If-None-Match') === asset.etag) return c.body(null, 304, headers)
    return c.body(asset.body, 200, headers)
  })
  return app
}
