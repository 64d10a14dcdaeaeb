/**
 * Source files on disk: which ones a push reads (files, folders searched for `*.jsonl`, or the
 * tools' default locations), their identity, and their lines read from a byte offset with the
 * offset after each line, so a push can resume exactly where it stopped.
 */
import { open, readdir, realpath, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** What tells a file apart from its replacement: device, inode, size and modification time. */
export type FileIdentity = { dev: number; ino: number; size: number; mtimeMs: number }

export async function identify(path: string): Promise<FileIdentity> {
  const s = await stat(path)
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs }
}

export type DefaultRoot = { tool: string; path: string; exists: boolean }

/**
 * Where the tools keep their logs: Claude Code under `$CLAUDE_CONFIG_DIR` (a comma-separated
 * list is allowed), else both `~/.claude` and `$XDG_CONFIG_HOME/claude` (`~/.config/claude`,
 * where some versions write), in `projects/`; Codex under `$CODEX_HOME` or `~/.codex`, in
 * `sessions/` and `archived_sessions/`. A folder reached twice (a symlink) is read once.
 */
export async function defaultRoots(
  env: Record<string, string | undefined>,
): Promise<DefaultRoot[]> {
  const home = env.HOME?.trim() || homedir()
  const xdgConfig = env.XDG_CONFIG_HOME?.trim() || join(home, '.config')
  const claude = (
    env.CLAUDE_CONFIG_DIR?.trim() || `${join(home, '.claude')},${join(xdgConfig, 'claude')}`
  )
    .split(',')
    .map((dir) => dir.trim())
    .filter((dir) => dir !== '')
  const codex = env.CODEX_HOME?.trim() || join(home, '.codex')
  const candidates = [
    ...claude.map((dir) => ({ tool: 'Claude Code', path: join(dir, 'projects') })),
    { tool: 'Codex', path: join(codex, 'sessions') },
    { tool: 'Codex', path: join(codex, 'archived_sessions') },
  ]
  const roots: DefaultRoot[] = []
  const real = new Set<string>()
  for (const root of candidates) {
    const exists = await isDirectory(root.path)
    const key = exists ? await realpath(root.path) : root.path
    if (real.has(key)) continue
    real.add(key)
    roots.push({ ...root, exists })
  }
  return roots
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

/**
 * The files to read, absolute and in a stable order: each PATH that is a file, and every
 * `*.jsonl` and `*.ndjson` below each PATH that is a folder. A PATH that does not exist throws.
 */
export async function listFiles(paths: string[]): Promise<string[]> {
  const found = new Set<string>()
  for (const given of paths) {
    const path = resolve(given)
    const s = await stat(path).catch(() => undefined)
    if (s === undefined) throw new Error(`${given}: no such file or folder`)
    if (s.isDirectory()) for (const file of await walk(path)) found.add(file)
    else found.add(path)
  }
  return [...found]
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const files: string[] = []
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...(await walk(path)))
    else if (entry.isFile() && /\.(jsonl|ndjson)$/.test(entry.name)) files.push(path)
  }
  return files
}

/**
 * A line of a file: its number, its text (no terminator, a `\r` before it dropped). The text is
 * decoded when read, each time: a batch's lines are not all held as strings at once, which
 * keeps them out of the garbage collector's way (read it once, and before asking for the next
 * batch: the bytes under it are then overwritten).
 */
export class FileLine {
  readonly line: number
  /** Byte offset just after this line's terminator (or after its last byte, if unterminated). */
  readonly end: number
  /** Whether the line ended with `\n`; only the file's last line may not. */
  readonly terminated: boolean
  readonly #data: Buffer
  readonly #from: number
  readonly #stop: number

  constructor(
    line: number,
    data: Buffer,
    from: number,
    stop: number,
    end: number,
    terminated: boolean,
  ) {
    this.line = line
    this.#data = data
    this.#from = from
    this.#stop = stop
    this.end = end
    this.terminated = terminated
  }

  get text(): string {
    return this.#data.toString('utf8', this.#from, this.#stop)
  }
}

const NL = 0x0a

/** Where a line's text ends: at its terminator `at`, or before a `\r` just before it. */
const textEnd = (data: Buffer, from: number, at: number): number =>
  at > from && data[at - 1] === 0x0d ? at - 1 : at

/** Bytes read at a time; the buffer grows only for a line longer than it. */
const READ_BYTES = 1 << 20

/**
 * The lines of `path` from byte `start` (a line start), numbered from `firstLine`, in batches
 * of whatever one read returned, so memory stays bounded by the read size and the longest line.
 * One buffer is read into again and again, so a batch's lines must be read before the next batch
 * is asked for (a fresh buffer per read, each left to the garbage collector, once held ~45 MB
 * of the client's RSS at 1 GB).
 */
export async function* readLines(
  path: string,
  start = 0,
  firstLine = 1,
): AsyncGenerator<FileLine[]> {
  let line = firstLine
  let offset = start
  let position = start
  let data = Buffer.allocUnsafe(READ_BYTES)
  /** Bytes of `data` that belong to a line not yet ended. */
  let kept = 0
  const file = await open(path, 'r')
  try {
    for (;;) {
      if (kept === data.length) {
        const larger = Buffer.allocUnsafe(data.length * 2)
        data.copy(larger, 0, 0, kept)
        data = larger
      }
      const { bytesRead } = await file.read(data, kept, data.length - kept, position)
      if (bytesRead === 0) break
      position += bytesRead
      const filled = kept + bytesRead
      const batch: FileLine[] = []
      let from = 0
      for (let at = data.indexOf(NL, kept); at !== -1 && at < filled; at = data.indexOf(NL, from)) {
        offset += at + 1 - from
        batch.push(new FileLine(line++, data, from, textEnd(data, from, at), offset, true))
        from = at + 1
      }
      if (batch.length > 0) yield batch
      // The batch was read: the rest of the last line moves to the front for the next read.
      kept = filled - from
      if (from > 0 && kept > 0) data.copy(data, 0, from, filled)
    }
  } finally {
    await file.close()
  }
  // Nothing is read into `data` after this: the unterminated last line is read where it lies.
  if (kept > 0) yield [new FileLine(line, data, 0, textEnd(data, 0, kept), offset + kept, false)]
}

/** The first `count` lines of a file (for format detection), without reading the rest. */
export async function firstLines(path: string, count = 20): Promise<string[]> {
  const lines: string[] = []
  for await (const batch of readLines(path)) {
    for (const record of batch) {
      const text = record.text
      if (text.trim() !== '') lines.push(text)
      if (lines.length >= count) return lines
    }
  }
  return lines
}
