/**
 * The resume state: per server URL and source file, how far the file was accepted (byte
 * offset and line) and the identity of the file it was read from. Written atomically (a
 * temporary file renamed over the old one), so a crash leaves the old state or the new one.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
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

type StateFile = {
  version: 1
  servers: Record<string, Record<string, FileState>>
  /** Per server, which session counts each reply's tokens (replies.ts); absent in older files. */
  replies?: Record<string, unknown>
}

/** `$XDG_STATE_HOME/tributary/state.json`, else `~/.local/state/tributary/state.json`. */
export function defaultStatePath(env: Record<string, string | undefined>): string {
  const base = env.XDG_STATE_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.local', 'state')
  return join(base, 'tributary', 'state.json')
}

export class PushState {
  readonly path: string
  #data: StateFile
  readonly #replies = new Map<string, ReplyOwners>()

  private constructor(path: string, data: StateFile) {
    this.path = path
    this.#data = data
  }

  /** The state at `path`; empty when the file does not exist. A corrupt file throws. */
  static async load(path: string): Promise<PushState> {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return new PushState(path, { version: 1, servers: {} })
      }
      throw error
    }
    const data = JSON.parse(text) as StateFile
    if (data?.version !== 1 || typeof data.servers !== 'object' || data.servers === null) {
      throw new Error(`${path} is not a tributary state file (move it away to start afresh)`)
    }
    return new PushState(path, data)
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
      owners = ReplyOwners.from(this.#data.replies?.[server])
      this.#replies.set(server, owners)
    }
    return owners
  }

  /** Write the whole state: a temporary file beside it, then a rename. */
  async save(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true })
    const temporary = `${this.path}.${process.pid}.tmp`
    if (this.#replies.size > 0) {
      const replies = { ...this.#data.replies }
      for (const [server, owners] of this.#replies) replies[server] = owners.toJSON()
      this.#data.replies = replies
    }
    await writeFile(temporary, `${JSON.stringify(this.#data)}\n`, { mode: 0o600 })
    await rename(temporary, this.path)
  }
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
