/**
 * One push: find the source files, read each from where the state says it was accepted,
 * convert its records, hand the turns to the sender (or print them, for a dry run), and move
 * each file's saved offset forward as the server covers its lines. With `watch`, do it again
 * whenever a file changes, until the signal aborts.
 */

import { once } from 'node:events'
import { watch as watchPath } from 'node:fs'
import { basename } from 'node:path'
import type { Compressor } from './compressor'
import { type FileIdentity, firstLines, identify, listFiles, readLines } from './files'
import { fitTurn, MAX_LINE_BYTES } from './fit'
import { detectSourceFormat, isStateless, openSourceConverter } from './formats'
import type { Progress } from './progress'
import { ReplyOwners } from './replies'
import {
  type Covered,
  type LineRejection,
  type LineText,
  linePieces,
  SendError,
  Sender,
  writeLine,
} from './sender'
import { splicedLine } from './splice'
import { PushState, type ResumePoint, resumePoint } from './state'
import type { ImportEvent, WireTurn } from './types'

export type PushOptions = {
  /** Files and folders to read (folders searched for `*.jsonl`). */
  paths: string[]
  url: string
  token: string | undefined
  host: string
  statePath: string
  watch: boolean
  dryRun: boolean
  /** Where a dry run prints the converted NDJSON. */
  out: NodeJS.WritableStream
  progress: Progress
  signal: AbortSignal
  maxBytes?: number
  maxLines?: number
  maxAttempts?: number
  /** The gzip of request bodies (default: findCompressor()). */
  compressor?: Compressor
  baseDelayMs?: number
  /** How often `watch` looks for changes when no file event came (default 1000 ms). */
  pollMs?: number
}

export type Rejection = { file: string; line: number } & LineRejection

export type PushSummary = {
  files: number
  /** Files read this time (new or changed). */
  filesRead: number
  filesUnchanged: number
  filesUnrecognized: string[]
  records: number
  /** Distinct turns sent (a turn sent again in the same push is an update, not another turn). */
  turnsSent: number
  /** Of those, how many the server accepted. */
  accepted: number
  /**
   * Lines that sent a turn of this push again, e.g. the earlier line of a split reply re-sent
   * without the tokens a later line of the same API message took over (the server upserts).
   */
  updates: number
  /** Lines sent again because a request failed and was retried. */
  resent: number
  /** Turns too long for a line of the server's default cap, sent with their longest strings cut. */
  truncated: Array<{ file: string; line: number; fields: string[] }>
  rejected: Rejection[]
  skipped: Record<string, number>
  malformed: Array<{ file: string; line: number; message: string }>
  interrupted: boolean
  /** Why the push stopped before the end (a refused token, a server down past every retry). */
  stopped?: string
}

/** A file being read; `seen` holds the turns emitted for it so far (session id, turn id). */
type FileRun = { path: string; identity: FileIdentity; seen: Set<string> }
type Tag =
  | { kind: 'turn'; file: FileRun; line: number; update: boolean }
  | { kind: 'mark'; file: FileRun; offset: number; line: number; ended: boolean; mtimeMs: number }

const serverKey = (url: string) => url.replace(/\/+$/, '')

export async function push(options: PushOptions): Promise<PushSummary> {
  const summary: PushSummary = {
    files: 0,
    filesRead: 0,
    filesUnchanged: 0,
    filesUnrecognized: [],
    records: 0,
    turnsSent: 0,
    accepted: 0,
    updates: 0,
    resent: 0,
    truncated: [],
    rejected: [],
    skipped: {},
    malformed: [],
    interrupted: false,
  }
  const server = serverKey(options.url)
  const readPaths = new Set<string>()
  const state = options.dryRun ? undefined : await PushState.load(options.statePath)
  // Who counts each reply's tokens, across files and (saved with the state) pushes.
  const replies = state?.replies(server) ?? new ReplyOwners()
  const { progress, signal } = options
  let lastSave = 0
  let unsaved = false
  const save = async (force: boolean) => {
    if (state === undefined || !unsaved) return
    if (!force && Date.now() - lastSave < 1000) return
    unsaved = false
    lastSave = Date.now()
    await state.save()
  }
  const onCovered = async (items: Covered<Tag>[]) => {
    let accepted = false
    for (const item of items) {
      const tag = item.tag
      if (item.kind === 'accepted') {
        if (tag.kind === 'turn' && !tag.update) summary.accepted++
        accepted = true
      } else if (item.kind === 'rejected') {
        summary.rejected.push({ file: tag.file.path, line: tag.line, ...item.error })
        accepted = true
      } else if (tag.kind === 'mark') {
        state?.set(server, tag.file.path, {
          dev: tag.file.identity.dev,
          ino: tag.file.identity.ino,
          mtimeMs: tag.mtimeMs,
          offset: tag.offset,
          line: tag.line,
          ended: tag.ended,
        })
        unsaved = true
      }
    }
    progress.turns(summary.turnsSent, summary.accepted)
    await save(accepted)
  }
  const sender =
    options.dryRun || options.token === undefined
      ? undefined
      : new Sender<Tag>({
          url: options.url,
          token: options.token,
          onCovered,
          onRetry: ({ attempt, delayMs, reason, lines }) => {
            summary.resent += lines
            progress.note(
              `request failed (${reason}); retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`,
            )
          },
          ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
          ...(options.maxLines === undefined ? {} : { maxLines: options.maxLines }),
          ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
          ...(options.compressor === undefined ? {} : { compressor: options.compressor }),
          ...(options.baseDelayMs === undefined ? {} : { baseDelayMs: options.baseDelayMs }),
        })
  if (sender === undefined && !options.dryRun) throw new Error('a token is needed to send')
  const printer = sender === undefined ? new LinePrinter(options.out) : undefined

  const emit = async (file: FileRun, events: ImportEvent[]) => {
    for (const event of events) {
      if (event.kind === 'turn') {
        const update = !see(file, event.turn)
        if (update) summary.updates++
        else summary.turnsSent++
        let text: LineText =
          (event.contentJson === undefined
            ? undefined
            : splicedLine(event.turn, event.contentJson)) ?? JSON.stringify(event.turn)
        if (linePieces(text).worst > MAX_LINE_BYTES) text = fitLine(file, event, text)
        if (sender !== undefined) {
          await sender.add({ text, tag: { kind: 'turn', file, line: event.line, update } })
        } else {
          await printer?.line(text)
          progress.turns(summary.turnsSent, 0)
        }
      } else if (event.kind === 'skip') {
        summary.skipped[event.type] = (summary.skipped[event.type] ?? 0) + 1
      } else {
        summary.malformed.push({ file: file.path, line: event.line, message: event.message })
      }
    }
  }
  /** A line over the server's default cap, its turn cut to fit (fit.ts) when it is over. */
  const fitLine = (file: FileRun, event: ImportEvent & { kind: 'turn' }, text: LineText) => {
    const pieces = typeof text === 'string' ? [text] : text
    if (pieces.reduce((sum, piece) => sum + Buffer.byteLength(piece), 0) <= MAX_LINE_BYTES) {
      return text
    }
    const fitted = fitTurn(event.turn)
    if (fitted === undefined) return text // the server says why
    summary.truncated.push({ file: file.path, line: event.line, fields: fitted.cut })
    return JSON.stringify(fitted.turn)
  }
  /** Notes a turn as emitted for its file; false when it was emitted before. */
  const see = (file: FileRun, turn: WireTurn): boolean => {
    const key = `${turn.session_id}\u0000${turn.turn_id}`
    if (file.seen.has(key)) return false
    file.seen.add(key)
    return true
  }
  const mark = async (tag: Tag & { kind: 'mark' }) => {
    if (sender !== undefined) await sender.add({ mark: tag })
  }

  /** Read one file from its resume point; false when interrupted. */
  const readOne = async (path: string, identity: FileIdentity, point: ResumePoint) => {
    const format = detectSourceFormat(await firstLines(path))
    if (format === null) {
      if (!summary.filesUnrecognized.includes(path)) {
        summary.filesUnrecognized.push(path)
        progress.note(`${path}: not a Claude Code, Codex or tributary NDJSON file; skipped`)
      }
      return true
    }
    readPaths.add(path)
    const file: FileRun = { path, identity, seen: new Set() }
    const converter = openSourceConverter(format, { path, host: options.host, replies })
    const resuming = point.kind === 'resume'
    const seek = resuming && isStateless(format)
    // A stateful converter is fed the file from line 1 again; what it produced for lines
    // already accepted is dropped (later lines may re-emit an earlier turn: those are sent).
    const dropThrough = resuming && !seek ? point.line : 0
    // A line held back at dropThrough that goes out now as it did at the end of the run that
    // saved the state (which read the file to its end) was sent then: it is dropped too. Held
    // back and then sent without its tokens, since an appended line took them, it is an update.
    const flushed = resuming && !seek && point.flushed
    const fresh = (events: ImportEvent[]) =>
      !flushed
        ? events
        : events.filter((e) => {
            if (e.kind !== 'turn' || e.line > dropThrough) return true
            see(file, e.turn) // sent before: an update if it goes out again
            return !e.released
          })
    const report = {
      path,
      format,
      from: describe(point),
      records: 0,
      turns: 0,
      skipped: 0,
      malformed: 0,
    }
    const before = {
      turns: summary.turnsSent,
      skipped: count(summary.skipped),
      malformed: summary.malformed.length,
    }
    let offset = seek ? point.offset : 0
    let line = seek ? point.line : 0
    let read = offset
    for await (const batch of readLines(path, offset, line + 1)) {
      for (const record of batch) {
        // A tool may be writing the last line right now: in watch mode, wait for its newline.
        if (!record.terminated && options.watch) break
        const fed = converter.feed(record)
        if (record.line <= dropThrough) {
          // Accepted before: a later line that emits one of these turns again updates it.
          for (const event of fed) if (event.kind === 'turn') see(file, event.turn)
          offset = record.end
          line = record.line
          continue
        }
        const events = fresh(fed)
        report.records++
        summary.records++
        await emit(file, events)
        if (record.terminated || !events.some((event) => event.kind === 'error')) {
          offset = record.end
          line = record.line
          // A mark after each record that sent turns: the state advances request by request.
          if (events.some((event) => event.kind === 'turn')) {
            await mark({
              kind: 'mark',
              file,
              offset,
              line,
              ended: false,
              mtimeMs: identity.mtimeMs,
            })
          }
        }
      }
      await printer?.flush()
      progress.read((batch.at(-1)?.end ?? read) - read)
      read = batch.at(-1)?.end ?? read
      await mark({ kind: 'mark', file, offset, line, ended: false, mtimeMs: identity.mtimeMs })
      if (signal.aborted) return false
    }
    await emit(file, fresh(converter.end()))
    await printer?.flush()
    const after = await identify(path).catch(() => identity)
    const mtimeMs =
      after.size === offset && after.ino === identity.ino ? after.mtimeMs : identity.mtimeMs
    await mark({ kind: 'mark', file, offset, line, ended: true, mtimeMs })
    report.turns = summary.turnsSent - before.turns
    report.skipped = count(summary.skipped) - before.skipped
    report.malformed = summary.malformed.length - before.malformed
    progress.fileDone(report)
    return true
  }

  /** One pass over every file; false when interrupted. */
  const pass = async (): Promise<boolean> => {
    const paths = await listFiles(options.paths)
    const plan: Array<{ path: string; identity: FileIdentity; point: ResumePoint; bytes: number }> =
      []
    for (const path of paths) {
      const identity = await identify(path).catch(() => undefined)
      if (identity === undefined) continue
      const point: ResumePoint = options.dryRun
        ? { kind: 'start', reason: 'new' }
        : resumePoint(state?.get(server, path), identity)
      if (point.kind === 'unchanged') continue
      plan.push({ path, identity, point, bytes: identity.size })
    }
    // Oldest first (a stable sort: by path among equals), so a session counts its replies
    // before a later one that resumed or forked it, and copied them, is read.
    plan.sort((a, b) => startOf(a.path, a.identity) - startOf(b.path, b.identity))
    summary.files = Math.max(summary.files, paths.length)
    progress.begin({ files: plan.length, bytes: plan.reduce((sum, p) => sum + p.bytes, 0) })
    let failed = false
    try {
      for (const { path, identity, point } of plan) {
        if (signal.aborted) return false
        if (!(await readOne(path, identity, point))) return false
      }
      return true
    } catch (error) {
      failed = true
      throw error
    } finally {
      // Finish the request in flight (also when interrupted; not after the sender gave up)
      // and save what it covered.
      try {
        if (!failed) await sender?.flush()
      } finally {
        await save(true)
        progress.end()
      }
    }
  }

  try {
    if (!(await pass())) summary.interrupted = true
    else if (options.watch) await watchLoop(options, pass)
  } catch (error) {
    // The summary still says what landed before the sender gave up.
    if (!(error instanceof SendError)) throw error
    summary.stopped = error.message
  } finally {
    sender?.close()
    summary.filesRead = readPaths.size
    summary.filesUnchanged = summary.files - readPaths.size - summary.filesUnrecognized.length
  }
  return summary
}

/**
 * A dry run's output: lines (or a line's pieces) gathered as UTF-8 and written a buffer at a
 * time, whole lines only, instead of a write and a joined string per line.
 */
class LinePrinter {
  static readonly SIZE = 256 * 1024
  readonly #out: NodeJS.WritableStream
  #buffer = Buffer.allocUnsafe(LinePrinter.SIZE)
  #used = 0

  constructor(out: NodeJS.WritableStream) {
    this.#out = out
  }

  async line(text: LineText): Promise<void> {
    const { pieces, worst } = linePieces(text)
    if (this.#used + worst > this.#buffer.length) {
      await this.flush()
      if (worst > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(worst)
    }
    this.#used = writeLine(this.#buffer, this.#used, pieces)
  }

  async flush(): Promise<void> {
    if (this.#used === 0) return
    // A copy: the stream may hold the chunk after write() returns.
    const chunk = Buffer.from(this.#buffer.subarray(0, this.#used))
    this.#used = 0
    if (this.#buffer.length > LinePrinter.SIZE) this.#buffer = Buffer.allocUnsafe(LinePrinter.SIZE)
    if (!this.#out.write(chunk)) await once(this.#out, 'drain')
  }
}

const describe = (point: ResumePoint): string =>
  point.kind === 'resume'
    ? `from line ${point.line + 1}`
    : point.kind === 'start' && point.reason !== 'new'
      ? `${point.reason}, from the start`
      : 'new'

const count = (skipped: Record<string, number>) =>
  Object.values(skipped).reduce((sum, n) => sum + n, 0)

/** Run `pass` again on every file event, or every `pollMs` when events do not come. */
async function watchLoop(options: PushOptions, pass: () => Promise<boolean>): Promise<void> {
  let wake: (() => void) | undefined
  let changed = false
  const poke = () => {
    changed = true
    wake?.()
  }
  const watchers = options.paths.flatMap((path) => {
    try {
      return [watchPath(path, { recursive: true }, poke)]
    } catch {
      return [] // polling still finds the change
    }
  })
  for (const watcher of watchers) watcher.on('error', () => {})
  const onAbort = () => wake?.()
  options.signal.addEventListener('abort', onAbort)
  try {
    while (!options.signal.aborted) {
      if (!changed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.pollMs ?? 1000)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
      wake = undefined
      changed = false
      if (options.signal.aborted) break
      if (!(await pass())) break
    }
  } finally {
    options.signal.removeEventListener('abort', onAbort)
    for (const watcher of watchers) watcher.close()
  }
}

/**
 * When a file's session began, for reading them oldest first: a Codex rollout's name says it
 * (`rollout-YYYY-MM-DDTHH-MM-SS-<id>.jsonl`; a parent still running after a fork or a subagent
 * it spawned has the later mtime, but began first), read as UTC since only the order among
 * rollouts matters; other files are as old as their mtime.
 */
function startOf(path: string, identity: FileIdentity): number {
  const m = /^rollout-(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})/.exec(basename(path))
  if (m === null) return identity.mtimeMs
  const [, y, mo, d, h, mi, sec] = m.map(Number) as number[]
  const at = Date.UTC(y as number, (mo as number) - 1, d, h, mi, sec)
  return Number.isNaN(at) ? identity.mtimeMs : at
}
