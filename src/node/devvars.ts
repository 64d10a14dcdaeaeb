/**
 * `.dev.vars`: the local secrets and settings `wrangler dev` hands the worker. Parsed with the
 * dotenv version wrangler 4 bundles (16.3.1), so `npm start` and `npm run token` see the same
 * values the worker sees.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parse } from 'dotenv'

/** `.dev.vars` at the repository root, next to wrangler.toml, where wrangler dev looks for it. */
export const defaultDevVarsPath = fileURLToPath(new URL('../../.dev.vars', import.meta.url))

export type DevVars = Record<string, string>

/** Parse dotenv text the way wrangler dev does. A later duplicate key wins. */
export function parseDevVars(text: string): DevVars {
  return parse(text)
}

/** Read and parse a `.dev.vars` file; `undefined` when it does not exist. */
export async function readDevVars(path: string = defaultDevVarsPath): Promise<DevVars | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  return parseDevVars(text)
}

/** A fresh HS256 secret: 32 random bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url')
}

const plain = /^[\w.:/+=,@-]*$/

/** Render values as dotenv lines that {@link parseDevVars} (and wrangler) read back unchanged. */
export function formatDevVars(vars: DevVars, header: string[] = []): string {
  const lines = header.map((text) => (text === '' ? '#' : `# ${text}`))
  for (const [key, value] of Object.entries(vars)) {
    if (!/^[\w.-]+$/.test(key)) throw new Error(`cannot write ${key} to .dev.vars: invalid name`)
    if (plain.test(value)) lines.push(`${key}=${value}`)
    else if (!value.includes("'") && !/[\r\n]/.test(value)) lines.push(`${key}='${value}'`)
    else throw new Error(`cannot write ${key} to .dev.vars: its value needs quoting dotenv lacks`)
  }
  return `${lines.join('\n')}\n`
}

/**
 * Create a `.dev.vars` file holding `vars`, readable by its owner only. Never overwrites: throws
 * EEXIST when the file is already there.
 */
export async function createDevVars(
  path: string,
  vars: DevVars,
  header: string[] = [],
): Promise<void> {
  await writeFile(path, formatDevVars(vars, header), { flag: 'wx', mode: 0o600 })
}

/**
 * The values of `.dev.vars`, creating the file with a random `JWT_SECRET` first when it does not
 * exist. An existing file is used as it is, whatever it holds.
 */
export async function ensureDevVars(
  path: string = defaultDevVarsPath,
): Promise<{ vars: DevVars; created: boolean }> {
  const existing = await readDevVars(path)
  if (existing !== undefined) return { vars: existing, created: false }
  const vars = { JWT_SECRET: generateSecret() }
  try {
    await createDevVars(path, vars, [
      'Local secrets and settings for `npm start` (wrangler dev) and `npm run token`.',
      'Git-ignored. Any variable of the configuration table in README.md may be set here,',
      'e.g. JWT_ISSUER, JWT_AUDIENCE, INGEST_CHUNK_LINES. npm start sets LIBSQL_URL to its sqld.',
    ])
  } catch (error) {
    // Someone created it between our read and our write: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return { vars: (await readDevVars(path)) ?? {}, created: false }
    }
    throw error
  }
  return { vars, created: true }
}
