/**
 * What the workerd suites share: a client on the worker's own sqld, owners no other file or run
 * uses, and tokens the suite's worker accepts.
 */
import { env } from 'cloudflare:test'
import { createClient } from '@libsql/client/web'
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
