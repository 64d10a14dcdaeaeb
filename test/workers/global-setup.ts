/**
 * The workerd suite's real database: a sqld on a free 127.0.0.1 port in a temporary folder,
 * migrated from drizzle/, stopped when the suite ends. Its URL reaches the worker as the
 * LIBSQL_URL binding (test/vitest.config.ts); `hangUrl` is the same sqld behind a proxy that
 * never answers a request holding HANG_MARKER (test/helpers/hang.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import type { TestProject } from 'vitest/node'
import { applyMigrations } from '../../src/node/migrations'
import { startSqld } from '../../src/node/sqld'
import { startHangProxy } from '../helpers/hang'
import './provided'

export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-workerd-'))
  const sqld = await startSqld({ dataDir })
  try {
    const client = createClient({ url: sqld.url })
    await applyMigrations(client)
    client.close()
  } catch (error) {
    await sqld.stop()
    throw error
  }
  const proxy = await startHangProxy(sqld.url).catch(async (error: unknown) => {
    await sqld.stop()
    throw error
  })
  project.provide('sqldUrl', sqld.url)
  project.provide('hangUrl', proxy.url)
  return async () => {
    await proxy.close()
    await sqld.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
