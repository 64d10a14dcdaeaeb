/**
 * The real app over a real test database and a real HS256 verifier, for HTTP-level tests. Bodies
 * are read as the Worker reads them (openBody); the Node server's own reading is tested over real
 * sockets (server.test.ts) and in the summary properties.
 */
import { createApp } from '../../src/app'
import { createVerifier } from '../../src/auth/jwt'
import { defaultLimits } from '../../src/config'
import { ReadStore } from '../../src/db/reads'
import { TurnStore } from '../../src/db/store'
import type { IngestLimits } from '../../src/types'
import type { TestDatabase } from './db'
import { SECRET, signToken } from './keys'

/** The verifier of every test app: HS256 tokens signed with the test SECRET, as tokenFor makes. */
export const testVerifier = () =>
  createVerifier({
    keySource: { kind: 'secret', secret: SECRET },
    algorithms: undefined,
    issuer: undefined,
    audience: undefined,
    ownerClaim: 'sub',
    clockToleranceS: 30,
  })

/** The app over `db` with `limits` over the defaults, and the store it writes through. */
export function testApp(db: TestDatabase, limits: Partial<IngestLimits> = {}) {
  const store = new TurnStore(db.client)
  const app = createApp({
    limits: { ...defaultLimits, ...limits },
    store,
    reads: new ReadStore(db.client),
    verify: testVerifier(),
    log: () => {},
    info: () => {},
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
