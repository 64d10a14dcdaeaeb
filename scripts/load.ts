/**
 * `npm run load`: a bounded load test on loopback. Starts tributary (`npm run serve`) as a
 * child process over a fresh file database in a temporary folder, runs concurrent streams of
 * mixed bodies against it, checks every answer and the database, samples the server's memory,
 * prints a short report, stops the server and exits non-zero on any failure.
 *
 *   npm run load -- --streams 16 --seconds 30 [--seed 42] [--max-growth-mib 64]
 */
import { parseArgs } from 'node:util'
import { formatReport, rssGrowthMiB, runLoad } from '../test/helpers/load'
import { spawnServer } from '../test/helpers/node'

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '30' },
    seed: { type: 'string' },
    'max-growth-mib': { type: 'string', default: '64' },
  },
})
const streams = Number(values.streams)
const seconds = Number(values.seconds)
const maxGrowth = Number(values['max-growth-mib'])
if (![streams, seconds, maxGrowth].every((n) => Number.isFinite(n) && n > 0) || seconds > 600) {
  console.error('usage: npm run load -- --streams N --seconds S (S at most 600)')
  process.exit(2)
}

const server = await spawnServer()
let failed = true
const stop = () => {
  server.stop().finally(() => process.exit(130))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
try {
  console.log(`tributary at ${server.url} (pid ${server.pid}); ${streams} streams for ${seconds} s`)
  const report = await runLoad({
    server,
    streams,
    durationMs: seconds * 1000,
    ...(values.seed === undefined ? {} : { seed: Number(values.seed) }),
    log: (line) => console.log(line),
  })
  const growth = rssGrowthMiB(report.rssMiB)
  if (growth > maxGrowth) {
    report.failures.push(`server RSS grew ${growth} MiB after warm-up (limit ${maxGrowth})`)
  }
  console.log(formatReport(report, streams))
  failed = report.failures.length > 0
} finally {
  await server.stop()
}
process.exit(failed ? 1 : 0)
