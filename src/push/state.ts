/**
 * The resume state: per server URL and source file, how far the file was accepted (byte
 * offset and line) and the identity of the file it was read from. Written atomically (a
 * temporary file renamed over the old one), so a crash leaves the old state or the new one.
 */
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { FileIdentity } from './files'
import { ReplyOwners } from './replies'

export type FileState = {
  dev: number
  ino: number
  mtimeMs: number
  /** Bytes accepted: the file is sent up to here. */
  offset: number
  /** The last line accepted. */
  line: number
  /** Whether the converter's end was reached and sent, so nothing is held back. */
  ended: boolean
}

type StateFile = { version: 1; servers: Record<string, Record<string, FileState>> }

/** A line of the ledger beside the state: a server and the claims one save added (replies.ts). */
type LedgerLine = { server: string; claims: Record<string, string> }

/** `$XDG_STATE_HOME/tributary/state.json`, else `~/.local/state/tributary/state.json`. */
export function defaultStatePath(env: Record<string, string | undefined>): string {
  const base = env.XDG_STATE_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.local', 'state')
  return join(base, 'tributary', 'state.json')
}

export class PushState {
  readonly path: string
  /** The ledger of reply owners (`<state>.replies`), NDJSON appended to by each save. */
  readonly ledgerPath: string
  #data: StateFile
  /** The ledger's lines, read once, by server. */
  readonly #ledger: Map<string, unknown[]>
  readonly #replies = new Map<string, ReplyOwners>()

  private constructor(path: string, data: StateFile, ledger: Map<string, unknown[]>) {
    this.path = path
    this.ledgerPath = `${path}.replies`
    this.#data = data
    this.#ledger = ledger
  }

  /** The state at `path`; empty when the file does not exist. A corrupt file throws. */
  static async load(path: string): Promise<PushState> {
    const ledger = await readLedger(`${path}.replies`)
    const text = await readIfThere(path)
    if (text === undefined) return new PushState(path, { version: 1, servers: {} }, ledger)
    const data = JSON.parse(text) as StateFile
    if (data?.version !== 1 || typeof data.servers !== 'object' || data.servers === null) {
      throw new Error(`${path} is not a tributary state file (move it away to start afresh)`)
    }
    return new PushState(path, data, ledger)
  }

  get(server: string, file: string): FileState | undefined {
    return this.#data.servers[server]?.[file]
  }

  set(server: string, file: string, state: FileState): void {
    const files = this.#data.servers[server] ?? {}
    files[file] = state
    this.#data.servers[server] = files
  }

  /** The server's ledger of reply owners, saved with the state. */
  replies(server: string): ReplyOwners {
    let owners = this.#replies.get(server)
    if (owners === undefined) {
      owners = new ReplyOwners()
      for (const claims of this.#ledger.get(server) ?? []) owners.load(claims)
      this.#ledger.delete(server)
      this.#replies.set(server, owners)
    }
    return owners
  }

  /**
   * Append the ledger's new claims, then write the whole state: a temporary file beside it,
   * then a rename. The claims go first: the state never covers a line whose claim is not saved
   * (a line torn by a crash is skipped when read; its file is read again, and claims again).
   */
  async save(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true })
    const lines: string[] = []
    for (const [server, owners] of this.#replies) {
      const claims = owners.takeNew()
      if (claims !== undefined)
        lines.push(`${JSON.stringify({ server, claims } satisfies LedgerLine)}\n`)
    }
    // After a newline of its own: a line torn before stays apart from the new ones.
    if (lines.length > 0) await appendFile(this.ledgerPath, `\n${lines.join('')}`, { mode: 0o600 })
    const temporary = `${this.path}.${process.pid}.tmp`
    await writeFile(temporary, `${JSON.stringify(this.#data)}\n`, { mode: 0o600 })
    await rename(temporary, this.path)
  }
}

/** A file's text; undefined when it does not exist. */
async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** The ledger's claims by server, in the order saved; torn or foreign lines are skipped. */
async function readLedger(path: string): Promise<Map<string, unknown[]>> {
  const byServer = new Map<string, unknown[]>()
  for (const text of (await readIfThere(path))?.split('\n') ?? []) {
    let line: Partial<LedgerLine>
    try {
      line = JSON.parse(text) as Partial<LedgerLine>
    } catch {
      continue
    }
    if (typeof line?.server !== 'string') continue
    const claims = byServer.get(line.server)
    if (claims === undefined) byServer.set(line.server, [line.claims])
    else claims.push(line.claims)
  }
  return byServer
}

export type ResumePoint =
  | { kind: 'unchanged' }
  /** `flushed`: the run that saved it read the file to its end, so what a converter held went out. */
  | { kind: 'resume'; offset: number; line: number; flushed: boolean }
  | { kind: 'start'; reason: 'new' | 'replaced' | 'truncated' | 'rewritten' }

/**
 * Where to read `identity`'s file from, given what was saved: nothing when it is as it was
 * left; its appended tail; or all of it again when it is another file, or shorter than what
 * was sent, or was rewritten in place.
 */
export function resumePoint(saved: FileState | undefined, identity: FileIdentity): ResumePoint {
  if (saved === undefined) return { kind: 'start', reason: 'new' }
  if (saved.dev !== identity.dev || saved.ino !== identity.ino) {
    return { kind: 'start', reason: 'replaced' }
  }
  if (identity.size < saved.offset) return { kind: 'start', reason: 'truncated' }
  if (identity.size === saved.offset) {
    if (identity.mtimeMs === saved.mtimeMs)
      return saved.ended ? { kind: 'unchanged' } : resume(saved)
    return { kind: 'start', reason: 'rewritten' }
  }
  return resume(saved)
}

const resume = (saved: FileState): ResumePoint => ({
  kind: 'resume',
  offset: saved.offset,
  line: saved.line,
  flushed: saved.ended,
})
