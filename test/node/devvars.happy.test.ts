/**
 * `.dev.vars` is read with wrangler's own dotenv rules, and what npm start writes into it reads
 * back unchanged: the secret npm run token signs with is the one the worker verifies with.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ensureDevVars,
  formatDevVars,
  generateSecret,
  parseDevVars,
  readDevVars,
} from '../../src/node/devvars'

const dir = mkdtempSync(join(tmpdir(), 'tributary-devvars-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('.dev.vars', () => {
  it('parses dotenv: export prefix, quotes, comments, CRLF, a later duplicate wins', () => {
    const text = [
      '# a comment',
      'export JWT_ISSUER=https://issuer.example # trailing comment',
      "JWT_AUDIENCE='ingest api'",
      'MULTI="one\\ntwo"',
      "SINGLE='no\\nexpansion'",
      'BACK=`tick`',
      'EMPTY=',
      'INGEST_MAX_ERRORS=5',
      'INGEST_MAX_ERRORS=7',
    ].join('\r\n')
    expect(parseDevVars(text)).toEqual({
      JWT_ISSUER: 'https://issuer.example',
      JWT_AUDIENCE: 'ingest api',
      MULTI: 'one\ntwo',
      SINGLE: 'no\\nexpansion',
      BACK: 'tick',
      EMPTY: '',
      INGEST_MAX_ERRORS: '7',
    })
  })

  it('writes values that read back unchanged, and refuses what it cannot quote', () => {
    const vars = { JWT_SECRET: generateSecret(), JWT_AUDIENCE: 'two words', JWT_ISSUER: 'a#b' }
    expect(parseDevVars(formatDevVars(vars, ['header']))).toEqual(vars)
    expect(() => formatDevVars({ BAD: "it's\nmulti" })).toThrow(/quoting/)
    expect(() => formatDevVars({ 'NO NAME': 'x' })).toThrow(/invalid name/)
  })

  it('is created once with a random secret, owner-only, and then used as it is', async () => {
    const path = join(dir, '.dev.vars')
    expect(await readDevVars(path)).toBeUndefined()
    const first = await ensureDevVars(path)
    expect(first.created).toBe(true)
    expect(first.vars.JWT_SECRET).toMatch(/^[\w-]{43}$/)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, 'utf8')).not.toMatch(/SPEC/)
    const second = await ensureDevVars(path)
    expect(second).toEqual({ vars: first.vars, created: false })
  })
})
