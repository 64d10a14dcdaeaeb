/**
 * Parse + validate only: bench/parse.ts, bundled, in a process of its own (a clean heap, nothing
 * else on its thread), nine runs, the median of the last six.
 */
import { execFile } from 'node:child_process'
import type { Prepared } from '../prepare'
import { median, rate } from '../ratios'
import { figures } from '../report'
import { root } from '../servers'
import { log, MB, profileArgs, settings } from '../settings'

/**
 * Runs of the parse measurement, and how many of the first ones only warm up: the JIT, and this
 * process, still settling (npm and tsx take a core for the first second or so).
 */
const PARSE_RUNS = 9
const PARSE_WARM_UP_RUNS = 3

export type ParseRuns = { accepted: number; runs: number[] }

/** Run the bundle; the run starts it before building anything itself (see run.ts). */
export function parseInChild(bundle: string): Promise<ParseRuns> {
  const options = JSON.stringify({
    sessions: settings.sessions,
    seed: settings.seed,
    nonAsciiLines: settings.nonAsciiLines,
    chunkLines: settings.chunkLines,
    runs: PARSE_RUNS,
  })
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...profileArgs(), bundle, options],
      { cwd: root, timeout: 120_000, maxBuffer: MB },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`bench/parse.ts failed: ${stderr || error.message}`))
        else resolve(JSON.parse(stdout) as ParseRuns)
      },
    )
  })
}

/** The figure of those runs, once the corpus is known here: it must have accepted its rows. */
export function parseFigure({ accepted, runs }: ParseRuns, p: Prepared): void {
  const { corpus } = p
  if (accepted !== p.rows.rows) throw new Error(`accepted ${accepted}, expected ${p.rows.rows}`)
  const parseMs = median(runs.slice(PARSE_WARM_UP_RUNS))
  figures.push({
    id: 'parse',
    group: 'parse',
    label: 'parse + validate only (one thread)',
    ...rate(corpus.lines, corpus.body.length, parseMs),
    runs: runs.map(Math.round),
    note: `median of runs ${PARSE_WARM_UP_RUNS + 1}-${PARSE_RUNS}, own process`,
  })
  log(`parse + validate: ${Math.round((corpus.lines / parseMs) * 1000)} lines/s`)
}
