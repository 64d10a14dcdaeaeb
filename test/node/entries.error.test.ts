/**
 * The Node entries read the environment only through the validated configuration, as child
 * processes: `npm run migrate` honours (and validates) LIBSQL_TIMEOUT_MS, and `npm run serve`
 * fails closed on a public-key source without an audience and an issuer.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { SECRET } from '../helpers/keys'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'tributary-entries-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Run an entry from source with exactly `env`; its exit code and output. */
function run(entry: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(root, entry)],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: dir, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null
        resolve({ code, output: `${stdout}${stderr}` })
      },
    )
  })
}

describe('npm run migrate', () => {
  it('refuses a LIBSQL_TIMEOUT_MS that is not plain decimal, naming it', async () => {
    const { code, output } = await run('src/node/migrate.ts', {
      LIBSQL_URL: `file:${join(dir, 'm.db')}`,
      LIBSQL_TIMEOUT_MS: '0x10',
    })
    expect(code).toBe(1)
    expect(output).toContain('CONFIG_INVALID')
    expect(output).toContain('LIBSQL_TIMEOUT_MS')
  })

  it('applies the migrations with a valid one, needing no key source', async () => {
    const { code, output } = await run('src/node/migrate.ts', {
      LIBSQL_URL: `file:${join(dir, 'm.db')}`,
      LIBSQL_TIMEOUT_MS: '5000',
    })
    expect(output).toContain('migrations applied')
    expect(code).toBe(0)
  })
})

describe('npm run serve', () => {
  it('exits CONFIG_INVALID naming JWT_AUDIENCE and JWT_ISSUER for a JWKS without them', async () => {
    const { code, output } = await run('src/node/serve.ts', {
      LIBSQL_URL: `file:${join(dir, 's.db')}`,
      JWT_JWKS_URL: 'https://id.example/.well-known/jwks.json',
      PORT: '0',
    })
    expect(code).toBe(1)
    expect(output).toContain('CONFIG_INVALID')
    expect(output).toContain('JWT_AUDIENCE')
    expect(output).toContain('JWT_ISSUER')
  })

  it('exits CONFIG_INVALID for LIBSQL_URL=file::memory:', async () => {
    const { code, output } = await run('src/node/serve.ts', {
      LIBSQL_URL: 'file::memory:',
      JWT_SECRET: SECRET,
      PORT: '0',
    })
    expect(code).toBe(1)
    expect(output).toContain('LIBSQL_URL')
  })
})
