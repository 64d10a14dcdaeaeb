/**
 * A bounded load run on loopback, shared by `npm run load` (scripts/load.ts: 16 streams, 30 s)
 * and its short version in the test suite: concurrent streams POST mixed bodies (valid lines,
 * invalid ones, blank lines, CRLF, some gzip) to a tributary child process, each answer is
 * checked against the body it answers, and at the end every owner's rows are counted in the
 * database: no 5xx, no lost line, no extra line, and the server's memory sampled throughout.
 */
import { gzipSync } from 'node:zlib'
import { rng } from '../../bench/corpus'
import { openNodeDatabase } from '../../src/node/database'
import { freshOwner } from './db'
import { type ChildServer, openIngest } from './node'
import { wireTurn } from './turns'

export type LoadOptions = {
  server: ChildServer
  streams: number
  durationMs: number
  /** Stop each stream after this many requests even if time is left. */
  maxRequestsPerStream?: number
  seed?: number
  /** Progress lines (the script prints them). */
  log?: (line: string) => void
}

export type LoadReport = {
  seed: number
  requests: number
  seconds: number
  byStatus: Record<string, number>
  linesSent: number
  bytesSent: number
  accepted: number
  rejected: number
  /** Answers whose counts differ from what their body holds. */
  wrongAnswers: string[]
  /** Lines answered as accepted but not in the database (or the reverse, as negative). */
  lost: number
  extra: number
  /** Server RSS samples in MiB, every 500 ms. */
  rssMiB: number[]
  failures: string[]
}

const INVALID = [
  '{"tool":',
  '[1,2,3]',
  JSON.stringify(wireTurn({ seq: -1 })),
  JSON.stringify(wireTurn({ timestamp: 'yesterday' })),
  JSON.stringify(wireTurn({ role: 'robot' })),
]

/** One body: the text, and how many lines are valid and invalid in it. */
function makeBody(random: () => number, owner: string, request: number) {
  const count = 20 + Math.floor(random() * 380)
  const lines: string[] = []
  let valid = 0
  let invalid = 0
  for (let i = 0; i < count; i++) {
    const roll = random()
    if (roll < 0.03) {
      lines.push(random() < 0.5 ? '' : '   ')
    } else if (roll < 0.13) {
      lines.push(INVALID[Math.floor(random() * INVALID.length)] as string)
      invalid++
    } else {
      lines.push(
        JSON.stringify(
          wireTurn({
            session_id: `${owner}-s${request % 5}`,
            turn_id: `r${request}-l${i}`,
            content: 'é'.repeat(Math.floor(random() * 200)),
          }),
        ),
      )
      valid++
    }
  }
  const text = lines.map((l) => `${l}${random() < 0.2 ? '\r\n' : '\n'}`).join('')
  return { text, valid, invalid }
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  const log = options.log ?? (() => {})
  const report: LoadReport = {
    seed,
    requests: 0,
    seconds: 0,
    byStatus: {},
    linesSent: 0,
    bytesSent: 0,
    accepted: 0,
    rejected: 0,
    wrongAnswers: [],
    lost: 0,
    extra: 0,
    rssMiB: [],
    failures: [],
  }
  const started = Date.now()
  const deadline = started + options.durationMs
  const sample = () => report.rssMiB.push(Math.round(options.server.rss() / 1024 / 1024))
  sample()
  const sampler = setInterval(sample, 500)
  const acceptedBy = new Map<string, number>()

  const stream = async (index: number) => {
    const random = rng(seed + index)
    const owner = freshOwner(`load${index}`)
    acceptedBy.set(owner, 0)
    for (
      let request = 0;
      Date.now() < deadline && request < (options.maxRequestsPerStream ?? Infinity);
      request++
    ) {
      const body = makeBody(random, owner, request)
      const gzip = random() < 0.2
      const bytes = gzip ? gzipSync(body.text) : Buffer.from(body.text)
      const { req, answer } = await openIngest(
        options.server.url,
        owner,
        gzip ? { 'content-encoding': 'gzip' } : {},
      )
      // A few writes, as a collector streams a file.
      const pieces = 1 + Math.floor(random() * 4)
      const size = Math.ceil(bytes.length / pieces)
      for (let at = 0; at < bytes.length; at += size) req.write(bytes.subarray(at, at + size))
      req.end()
      const { status, body: summary } = await answer
      report.requests++
      report.byStatus[status] = (report.byStatus[status] ?? 0) + 1
      report.linesSent += body.valid + body.invalid
      report.bytesSent += bytes.length
      const accepted = Number(summary.accepted)
      report.accepted += Number.isFinite(accepted) ? accepted : 0
      report.rejected += Number(summary.rejected) || 0
      if (Number.isFinite(accepted)) acceptedBy.set(owner, (acceptedBy.get(owner) ?? 0) + accepted)
      const expectedStatus = body.invalid === 0 ? 200 : body.valid === 0 ? 422 : 207
      if (
        status !== expectedStatus ||
        accepted !== body.valid ||
        summary.rejected !== body.invalid
      ) {
        report.wrongAnswers.push(
          `${owner} request ${request}: ${status} ${JSON.stringify(summary).slice(0, 200)} for ${body.valid} valid, ${body.invalid} invalid`,
        )
      }
    }
  }

  const progress = setInterval(() => {
    log(
      `${Math.round((Date.now() - started) / 1000)} s: ${report.requests} requests, ${report.accepted} lines accepted, server RSS ${report.rssMiB.at(-1)} MiB`,
    )
  }, 5000)
  try {
    await Promise.all(Array.from({ length: options.streams }, (_, i) => stream(i)))
  } finally {
    clearInterval(sampler)
    clearInterval(progress)
  }
  sample()
  report.seconds = (Date.now() - started) / 1000

  const client = await openNodeDatabase(options.server.databaseUrl)
  try {
    for (const [owner, accepted] of acceptedBy) {
      const result = await client.execute({
        sql: 'select count(*) as n from turns where owner = ?',
        args: [owner],
      })
      const stored = Number(result.rows[0]?.n ?? 0)
      if (stored < accepted) report.lost += accepted - stored
      if (stored > accepted) report.extra += stored - accepted
    }
  } finally {
    client.close()
  }

  const fiveXX = Object.entries(report.byStatus)
    .filter(([status]) => Number(status) >= 500)
    .reduce((n, [, count]) => n + count, 0)
  if (fiveXX > 0) report.failures.push(`${fiveXX} answers were 5xx`)
  if (report.wrongAnswers.length > 0) {
    report.failures.push(`${report.wrongAnswers.length} answers did not match their body`)
  }
  if (report.lost > 0) report.failures.push(`${report.lost} accepted lines are not in the database`)
  if (report.extra > 0)
    report.failures.push(`${report.extra} lines in the database were not accepted`)
  return report
}

/**
 * Memory growth between the start of a run (after its first fifth, the warm-up) and its end,
 * in MiB: the median of the last fifth of the samples minus the median of the second fifth.
 */
export function rssGrowthMiB(samples: number[]): number {
  const fifth = Math.max(1, Math.floor(samples.length / 5))
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)] ?? 0
  }
  return median(samples.slice(-fifth)) - median(samples.slice(fifth, 2 * fifth))
}

export function formatReport(report: LoadReport, streams: number): string {
  const rate = (n: number) => Math.round(n / Math.max(report.seconds, 0.001))
  return [
    `tributary load: ${streams} streams for ${report.seconds.toFixed(1)} s (seed ${report.seed})`,
    `  requests     ${report.requests} (${rate(report.requests)}/s), statuses ${JSON.stringify(report.byStatus)}`,
    `  lines        ${report.linesSent} sent (${rate(report.linesSent)}/s), ${report.accepted} accepted, ${report.rejected} rejected`,
    `  bytes sent   ${(report.bytesSent / 1024 / 1024).toFixed(1)} MiB`,
    `  database     ${report.lost} lost, ${report.extra} extra`,
    `  server RSS   ${report.rssMiB[0]} MiB at start, max ${Math.max(...report.rssMiB)} MiB, ${report.rssMiB.at(-1)} MiB at end, growth after warm-up ${rssGrowthMiB(report.rssMiB)} MiB`,
    ...report.wrongAnswers.slice(0, 5).map((w) => `  wrong answer ${w}`),
    report.failures.length === 0 ? '  OK' : `  FAILED: ${report.failures.join('; ')}`,
  ].join('\n')
}
