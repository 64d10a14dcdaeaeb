/**
 * What the workerd suites share: a client on the worker's own sqld, owners no other file or run
 * uses, tokens the suite's worker accepts, and a POST to its ingest route.
 */
import { env, SELF } from 'cloudflare:test'
import { type Client, createClient } from '@libsql/client/web'
import { SignJWT } from 'jose'
import { afterAll } from 'vitest'
import { WORKERS_TEST_SECRET } from './secret'

export const bindings = env as unknown as Record<string, unknown> & { LIBSQL_URL: string }

/** A client on the sqld the worker writes to, closed after the file's tests. */
export function workerDatabase(options: { fetch?: typeof fetch } = {}) {
  const db = createClient({ url: bindings.LIBSQL_URL, ...options })
  afterAll(() => db.close())
  return db
}

/** Owner names unique to this run and file, so files sharing one sqld never meet. */
export function ownerFactory(prefix: string): () => string {
  let owners = 0
  return () => `${prefix}-${Date.now().toString(36)}-${++owners}`
}

/** An HS256 token for `sub`, valid ten minutes. */
export const tokenFor = (sub: string) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(WORKERS_TEST_SECRET))

/** POST `payload` to the worker's /v1/ingest, with a token for `owner` unless it is undefined. */
export async function postIngest(
  owner: string | undefined,
  payload: BodyInit | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return SELF.fetch('http://tributary.test/v1/ingest', {
    method: 'POST',
    headers: {
      'content-type': 'application/x-ndjson',
      ...(owner === undefined ? {} : { authorization: `Bearer ${await tokenFor(owner)}` }),
      ...headers,
    },
    body: payload,
    ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit)
}

/** How many turns `owner` has in the database. */
export const turnCount = async (db: Client, owner: string) =>
  Number(
    (await db.execute({ sql: 'select count(*) as n from turns where owner = ?', args: [owner] }))
      .rows[0]?.n,
  )

/** `data` gzip-compressed with the runtime's CompressionStream. */
export const gzipped = async (data: string | Uint8Array): Promise<Uint8Array> =>
  new Uint8Array(
    await new Response(
      new Blob([data]).stream().pipeThrough(new CompressionStream('gzip')),
    ).arrayBuffer(),
  )
