/**
 * What a run found: the figures every phase adds, the failures, the targets they are held to,
 * the printed table and bench/results.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname } from 'node:path'
import { stopAll } from './procs'
import { log, MB, settings } from './settings'

/** One measured figure: a row of the table and of results.json. */
export type Figure = {
  id: string
  group: string
  label: string
  lines?: number
  bytes?: number
  ms?: number
  linesPerS?: number
  mbPerS?: number
  ratio?: number
  ratioOf?: string
  /** Node runs: each round's ratio to the limit measured in that round. */
  roundRatios?: number[]
  p50Ms?: number
  p99Ms?: number
  peakRssMb?: number
  /** Memory runs: the highest RSS sampled in the first and in the second half of the body. */
  halvesRssMb?: number[]
  runs?: number[]
  note?: string
}

export const figures: Figure[] = []
/** Targets a phase checks itself (the read phase's latencies). */
export const phaseTargets: Target[] = []

/** What went wrong, by phase: the run goes on without it and exits non-zero at the end. */
export const failures: { phase: string; error: string }[] = []

/** Run one measurement; a failure is recorded, its servers stopped, and the run goes on. */
export async function phase(name: string, run: () => Promise<void>): Promise<boolean> {
  try {
    await run()
    return true
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    failures.push({ phase: name, error: message })
    log(`${name} failed: ${message}`)
    await stopAll()
    return false
  }
}

type Target = { target: string; value: string; met: boolean }

export function targets(): Target[] {
  const get = (id: string) => figures.find((f) => f.id === id)
  const out: Target[] = []
  /** A ratio target: the figure's ratio to what it is measured against, at least `min`. */
  const ratio = (id: string, target: string, min: number) => {
    const r = get(id)?.ratio
    if (r !== undefined) out.push({ target, value: `${r}x`, met: r >= min })
  }
  ratio('node-stream', 'Node e2e >= 0.6x the limit (aim 0.8x), one streamed request', 0.6)
  ratio('node-stream-gzip', 'Node e2e >= 0.6x the limit, one streamed request, gzip', 0.6)
  ratio('node-mb4', 'Node e2e >= 0.6x the limit, 1 MB requests x4', 0.6)
  ratio('node-mb4-gzip', 'Node e2e >= 0.6x the limit, 1 MB requests x4, gzip', 0.6)
  ratio('worker-stream', 'worker e2e >= 0.5x raw client.batch over HTTP', 0.5)
  const parse = get('parse')
  if (parse?.linesPerS !== undefined) {
    out.push({
      target: 'parse + validate >= 150,000 lines/s on one core',
      value: `${parse.linesPerS.toLocaleString('en')} lines/s`,
      met: parse.linesPerS >= 150_000,
    })
  }
  const memories = figures.filter((f) => f.group === 'memory' && f.peakRssMb !== undefined)
  if (memories.length > 0) {
    const peaks = memories.map((f) => f.peakRssMb ?? 0)
    const max = Math.max(...peaks)
    const flat = max - Math.min(...peaks) <= 20
    out.push({
      target: 'peak RSS < 150 MB and flat with body size',
      value: memories.map((f) => `${f.label.replace('Node: ', '')}: ${f.peakRssMb} MB`).join(', '),
      met: max < 150 && flat,
    })
  }
  const pushed = get('push')
  if (pushed?.ratio !== undefined) {
    out.push({
      target: 'push e2e >= 0.8x raw gzip POSTs, client peak RSS < 150 MB',
      value: `${pushed.ratio}x, ${pushed.peakRssMb} MB`,
      met: pushed.ratio >= 0.8 && (pushed.peakRssMb ?? Number.POSITIVE_INFINITY) < 150,
    })
  }
  const single = get('latency-1')
  if (single?.p50Ms !== undefined) {
    out.push({
      target: 'single-line request p50 < 5 ms',
      value: `${single.p50Ms} ms`,
      met: single.p50Ms < 5,
    })
  }
  out.push(...phaseTargets)
  return out
}

export type CorpusFacts = {
  sessions: number
  lines: number
  validRows: number
  invalid: number
  blank: number
  large: number
  bytes: number
  averageLineBytes: number
}

function table(corpus: CorpusFacts, seconds: number): string {
  const header = ['measurement', 'lines/s', 'MB/s', 'x limit', 'p50 ms', 'p99 ms', 'peak RSS']
  const rows = figures.map((f) => [
    f.label,
    f.linesPerS?.toLocaleString('en') ?? '',
    f.mbPerS?.toFixed(1) ?? '',
    f.ratio === undefined
      ? ''
      : `${f.ratio.toFixed(2)}${f.ratioOf !== undefined && f.ratioOf !== 'limit' ? '*' : ''}`,
    f.p50Ms?.toFixed(2) ?? '',
    f.p99Ms?.toFixed(2) ?? '',
    f.peakRssMb === undefined ? '' : `${f.peakRssMb} MB`,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`
  const t = targets()
  return [
    '',
    `corpus: ${corpus.lines} lines (${corpus.validRows} valid, ${corpus.invalid} invalid), ` +
      `${((corpus.bytes ?? 0) / MB).toFixed(1)} MB, ${corpus.sessions} sessions, ` +
      `avg ${corpus.averageLineBytes} B/line, ${corpus.large} lines of 20-100 KB; ` +
      `chunk ${settings.chunkLines} lines; ${cpus().length} cores, Node ${process.version}; ${seconds} s`,
    '',
    line(header),
    rule,
    ...rows.map(line),
    '',
    '* worker ratios are of raw client.batch over HTTP to sqld, not of the file-database limit',
    ...figures
      .filter((f) => f.halvesRssMb !== undefined)
      .map(
        (f) =>
          `${f.label.replace('Node: ', '')}: highest RSS sampled in the first half ` +
          `${f.halvesRssMb?.[0]} MB, in the second half ${f.halvesRssMb?.[1]} MB`,
      ),
    ...figures
      .filter((f) => f.roundRatios !== undefined && f.roundRatios.length > 0)
      .map(
        (f) =>
          `${f.label}: x limit round by round ${f.roundRatios?.map((r) => r.toFixed(2)).join(', ')}`,
      ),
    '',
    ...t.map((x) => `${x.met ? 'MET ' : 'MISS'}  ${x.target}: ${x.value}`),
  ].join('\n')
}

/** Write bench/results.json (or BENCH_OUT), print the table; exit code 1 if a phase failed. */
export function report(corpus: CorpusFacts, limitLinesPerS: number, seconds: number): void {
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? '',
      memoryGb: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    settings: { ...settings, phases: [...settings.phases], out: undefined },
    corpus,
    limitLinesPerS,
    figures,
    failures,
    targets: targets(),
    seconds,
  }
  mkdirSync(dirname(settings.out), { recursive: true })
  writeFileSync(settings.out, `${JSON.stringify(results, null, 2)}\n`)
  console.log(table(corpus, seconds))
  console.log(`\nwritten to ${settings.out}`)
  if (failures.length > 0) {
    console.log(`\n${failures.length} measurement(s) failed:`)
    for (const f of failures) console.log(`  ${f.phase}: ${f.error}`)
    process.exitCode = 1
  }
}
