/**
 * `tributary push [PATH...]`: the command line of the push client. It only parses arguments
 * and the environment and wires them to the push (src/push/run.ts); progress and diagnostics go
 * to stderr, data (a dry run's NDJSON, `--json`'s summary) to stdout.
 *
 * Exit codes: 0 every converted turn was accepted; 1 some turns were rejected by the server;
 * 2 a usage or configuration error; 3 the push stopped (refused token, unreachable server after
 * every retry, ...); 130 interrupted by Ctrl-C before it was done.
 */
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { type Compressor, findCompressor } from '../push/compressor'
import { defaultRoots } from '../push/files'
import { MAX_LINE_BYTES } from '../push/fit'
import { barProgress, lineProgress } from '../push/progress'
import { type PushSummary, push } from '../push/run'
import { defaultStatePath } from '../push/state'

const usage = `usage: tributary push [PATH...] [--url URL] [--token TOKEN] [--host NAME] [--state FILE]
                      [--watch] [--dry-run] [--json] [--batch-mb N] [--retries N]

  PATH        files, or folders searched for *.jsonl (default: the Claude Code and Codex logs)
  --url       the tributary server (default $TRIBUTARY_URL, then http://127.0.0.1:8787)
  --token     a JWT it accepts (default $TRIBUTARY_TOKEN; npm run -s token -- --sub <owner>)
  --host      the host name stored with the turns (default this machine's hostname)
  --state     the resume state file (default $XDG_STATE_HOME/tributary/state.json)
  --watch     keep running and send lines as they are appended, until Ctrl-C
  --dry-run   print the converted NDJSON on stdout and send nothing
  --json      print the summary as JSON on stdout
  --batch-mb  uncompressed MB per request (default 8)
  --retries   attempts per request before giving up (default 8)

  TRIBUTARY_GZIP  zlib, igzip or auto (default auto: ISA-L's igzip when on PATH, about a
                  quarter of zlib's CPU; Debian/Ubuntu package isal)
`

class UsageError extends Error {}

const positive = (name: string, text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number`)
  return n
}

const compressorFrom = (wanted: string | undefined): Compressor => {
  try {
    return findCompressor(wanted)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

export async function main(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (error) {
    process.stderr.write(`tributary push: ${(error as Error).message}\n\n${usage}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    process.stdout.write(usage)
    return 0
  }
  const stderr = process.stderr
  // `tributary push --dry-run | head`: a reader that stops reading ends the run quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0)
    throw error
  })
  try {
    const token = (values.token ?? env.TRIBUTARY_TOKEN)?.trim() || undefined
    if (token === undefined && values['dry-run'] !== true) {
      throw new UsageError(
        'no token: pass --token or set TRIBUTARY_TOKEN (npm start prints one; npm run -s token -- --sub <owner> signs another)',
      )
    }
    const url = (values.url ?? env.TRIBUTARY_URL)?.trim() || 'http://127.0.0.1:8787'
    try {
      new URL(url)
    } catch {
      throw new UsageError(`--url ${url} is not a URL`)
    }
    let paths = positionals
    if (paths.length === 0) {
      const roots = await defaultRoots(env)
      for (const root of roots) {
        stderr.write(`${root.tool}: ${root.path} ${root.exists ? '' : '(not found)'}\n`)
      }
      paths = roots.filter((root) => root.exists).map((root) => root.path)
      if (paths.length === 0) {
        throw new UsageError('no Claude Code or Codex logs found; name files or folders to push')
      }
    }
    const controller = new AbortController()
    let interrupts = 0
    const onSignal = () => {
      interrupts++
      if (interrupts > 1) process.exit(130)
      stderr.write('\nstopping: finishing the request in flight (Ctrl-C again to quit now)\n')
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    const watch = values.watch === true
    const summary = await push({
      paths,
      url,
      token,
      host: values.host?.trim() || hostname(),
      statePath: values.state ?? defaultStatePath(env),
      watch,
      dryRun: values['dry-run'] === true,
      out: process.stdout,
      progress: stderr.isTTY
        ? barProgress(stderr, { dryRun: values['dry-run'] === true })
        : lineProgress(stderr),
      signal: controller.signal,
      maxBytes: Math.round(positive('batch-mb', values['batch-mb'], 8) * 1024 * 1024),
      maxAttempts: Math.round(positive('retries', values.retries, 8)),
      compressor: compressorFrom(env.TRIBUTARY_GZIP),
    })
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (values.json === true) process.stdout.write(`${JSON.stringify(summary)}\n`)
    writeSummary(stderr, summary, values['dry-run'] === true)
    if (summary.stopped !== undefined) {
      stderr.write(`tributary push: ${summary.stopped}\n`)
      return 3
    }
    if (summary.interrupted && !watch) return 130
    return summary.rejected.length > 0 ? 1 : 0
  } catch (error) {
    stderr.write(`tributary push: ${error instanceof Error ? error.message : String(error)}\n`)
    return error instanceof UsageError ? 2 : 3
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      host: { type: 'string' },
      state: { type: 'string' },
      watch: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      'batch-mb': { type: 'string' },
      retries: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

const MAX_LISTED = 20

/** The first MAX_LISTED of `items`, a line each, indented; then how many more there are. */
function listSome<T>(lines: string[], items: T[], line: (item: T) => string, more = 'more') {
  for (const item of items.slice(0, MAX_LISTED)) lines.push(`  ${line(item)}`)
  if (items.length > MAX_LISTED) {
    lines.push(`  … and ${items.length - MAX_LISTED} ${more} (--json lists all)`)
  }
}

/** The end summary for a person, on stderr. */
function writeSummary(stream: NodeJS.WritableStream, s: PushSummary, dryRun: boolean): void {
  const lines = [
    `files: ${s.files} (${s.filesRead} read, ${s.filesUnchanged} unchanged, ${s.filesUnrecognized.length} not recognized)`,
    `records read: ${s.records}`,
    dryRun
      ? `turns converted: ${s.turnsSent} (dry run: nothing sent)`
      : `turns sent: ${s.turnsSent}, accepted: ${s.accepted}, rejected: ${s.rejected.length}`,
  ]
  if (s.updates > 0) {
    lines.push(
      `updates ${dryRun ? 'printed' : 'sent'}: ${s.updates} (lines that send a turn again, e.g. when a later line of a split reply takes over its tokens)`,
    )
  }
  if (s.resent > 0) lines.push(`lines resent by retries: ${s.resent}`)
  if (s.truncated.length > 0) {
    lines.push(
      `turns cut to fit a line of ${MAX_LINE_BYTES / 1024 / 1024} MiB: ${s.truncated.length}`,
    )
    listSome(lines, s.truncated, (t) => `${t.file}:${t.line}: ${t.fields.join(', ')}`)
  }
  const skipped = Object.entries(s.skipped).sort((a, b) => b[1] - a[1])
  if (skipped.length > 0) {
    lines.push(`skipped by type: ${skipped.map(([type, n]) => `${type} ${n}`).join(', ')}`)
  }
  listSome(
    lines,
    s.rejected,
    (r) => `rejected ${r.file}:${r.line}: ${r.code}${r.field ? ` (${r.field})` : ''}: ${r.message}`,
    'more rejected',
  )
  if (s.malformed.length > 0) lines.push(`malformed source lines: ${s.malformed.length}`)
  listSome(lines, s.malformed, (m) => `${m.file}:${m.line}: ${m.message}`)
  if (s.interrupted)
    lines.push('interrupted: the state holds what was accepted; run again to go on')
  stream.write(`${lines.join('\n')}\n`)
}
