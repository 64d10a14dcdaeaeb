/**
 * The real app over a real test database and a real HS256 verifier, for HTTP-level tests. Bodies
 * inflate with the Worker's DecompressionStream unless `decompress` says otherwise.
 */
import { createApp } from '../../src/app'
import { createVerifier } from '../../src/auth/jwt'
import { defaultLimits, type IngestLimits } from '../../src/config'
import { TurnStore } from '../../src/db/turns'
import { type Decompressor, webDecompressor } from '../../src/ingest/body'
import { nodeDecompressor } from '../../src/node/inflate'
import type { TestDatabase } from './db'
import { SECRET, signToken } from './keys'

export function testApp(
  db: TestDatabase,
  limits: Partial<IngestLimits> = {},
  decompress?: Decompressor,
) {
  const store = new TurnStore(db.client)
  const app = createApp({
    ...(decompress === undefined ? {} : { decompress }),
    limits: { ...defaultLimits, ...limits },
    store,
    verify: createVerifier({
      keySource: { kind: 'secret', secret: SECRET },
      algorithms: undefined,
      issuer: undefined,
      audience: undefined,
      ownerClaim: 'sub',
      clockToleranceS: 30,
    }),
    log: () => {},
  })
  return { app, store }
}

/** A real HS256 token for `owner`, signed with the test secret. */
export const tokenFor = (owner: string) => signToken(SECRET, { claims: { sub: owner } })

/** POST a body (string or stream) to /v1/ingest as `owner`. */
export async function post(
  app: { request: (input: string, init?: RequestInit) => Response | Promise<Response> },
  owner: string,
  body: string | ReadableStream<Uint8Array> | Uint8Array | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return app.request('/v1/ingest', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor(owner)}`,
      'content-type': 'application/x-ndjson',
      ...headers,
    },
    body,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit)
}

/** Both ways a body is inflated: the Worker's DecompressionStream and the Node server's zlib. */
export const decompressors = [
  ['DecompressionStream', webDecompressor],
  ['node:zlib', nodeDecompressor],
] as const
