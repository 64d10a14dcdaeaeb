/** `POST /v1/ingest`: streamed NDJSON in, partial-accept summary out. */
import { type Context, Hono } from 'hono'
import { requireOwner } from '../auth/middleware'
import { ApiError } from '../errors'
import { openBody } from '../ingest/body'
import { ingest } from '../ingest/pipeline'
import { summaryStatus } from '../ingest/summary'
import type { AppDeps, AppEnv, ContentEncoding } from '../types'
import { admitIngest } from './admission'

export const NDJSON_MEDIA_TYPES = [
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/x-jsonlines',
]

const unsupported = (detail: string) => new ApiError('UNSUPPORTED_MEDIA_TYPE', detail)

/** A supported NDJSON media type, with no charset or charset utf-8; else a 415. */
export function checkContentType(header: string | undefined): void {
  const expected = `Send Content-Type: ${NDJSON_MEDIA_TYPES[0]} (or ${NDJSON_MEDIA_TYPES.slice(1).join(', ')}).`
  if (header === undefined || header.trim() === '') {
    throw unsupported(`Content-Type is required. ${expected}`)
  }
  const [type = '', ...params] = header.split(';')
  if (!NDJSON_MEDIA_TYPES.includes(type.trim().toLowerCase())) {
    throw unsupported(`Content-Type is not an NDJSON media type. ${expected}`)
  }
  for (const param of params) {
    const at = param.indexOf('=')
    if (at === -1 || param.slice(0, at).trim().toLowerCase() !== 'charset') continue
    const charset = param
      .slice(at + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase()
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw unsupported('Only charset=utf-8 is supported.')
    }
  }
}

/** gzip or deflate (zlib), or none; anything else is a 415. */
export function checkContentEncoding(header: string | undefined): ContentEncoding {
  const encoding = header?.trim().toLowerCase() ?? ''
  if (encoding === '' || encoding === 'identity') return undefined
  if (encoding === 'gzip' || encoding === 'x-gzip') return 'gzip'
  if (encoding === 'deflate') return 'deflate'
  throw unsupported('Content-Encoding must be gzip, deflate or absent.')
}

/** The web Request's body (the Worker's). */
const webBody = (c: Context<AppEnv>, encoding: ContentEncoding) => {
  const raw = c.req.raw.body
  return raw === null ? null : openBody(raw, encoding)
}

export function ingestRoutes(deps: AppDeps) {
  const { limits, readBody = webBody } = deps
  const admit = admitIngest(limits, deps.shutdown)
  return new Hono<AppEnv>().post('/', requireOwner(deps.verify), admit, async (c) => {
    checkContentType(c.req.header('content-type'))
    const encoding = checkContentEncoding(c.req.header('content-encoding'))
    const declared = c.req.header('content-length')
    if (
      declared !== undefined &&
      /^\d+$/.test(declared.trim()) &&
      Number(declared) > limits.maxBodyBytes
    ) {
      throw new ApiError(
        'PAYLOAD_TOO_LARGE',
        `Content-Length is above the ${limits.maxBodyBytes}-byte body cap; nothing was read.`,
      )
    }
    const summary = await ingest({
      owner: c.var.owner,
      body: readBody(c, encoding),
      store: deps.store,
      limits,
      ...(deps.afterCommit === undefined ? {} : { afterCommit: deps.afterCommit }),
      ...(deps.shutdown === undefined ? {} : { signal: deps.shutdown }),
    })
    return c.json(summary, summaryStatus(summary))
  })
}
