/**
 * `npm run bench`: tributary held against the limit of its database, on one seeded corpus, in
 * one run, so the ratios hold on a noisy machine. Prints a table and writes bench/results.json.
 * What each phase measures, and every setting, is in bench/README.md; each phase is one file
 * of bench/phases/:
 *
 *   parse.ts    parse + validate only, in a process of its own;
 *   rounds.ts   the limit (limit.ts) and end to end on Node (node.ts), interleaved round by round;
 *   latency.ts  p50/p99 of 1-line and 100-line requests;
 *   memory.ts   peak RSS while a 100 MB and a 1 GB body stream in;
 *   worker.ts   wrangler dev against sqld, next to raw client.batch over HTTP;
 *   read.ts     the read API on a cached corpus of 1,000,000 turns;
 *   push.ts     `tributary push` of a generated Claude Code history, next to raw gzip POSTs of
 *               the same lines (opt-in: BENCH_PHASES=push; BENCH_PUSH_MB, BENCH_PUSH_ROUNDS).
 */
import { latency } from './phases/latency'
import { memory } from './phases/memory'
import { type ParseRuns, parseFigure, parseInChild } from './phases/parse'
import { pushPhase } from './phases/push'
import { readPhase } from './phases/read'
import { limitAndNodeRounds } from './phases/rounds'
import { worker } from './phases/worker'
import { prepare } from './prepare'
import { installCleanup, stopAll } from './procs'
import { figures, phase, report } from './report'
import { buildBundles } from './servers'
import { collectGarbage, log, MB, SECRET, settings } from './settings'

async function main() {
  installCleanup()
  const watchdog = setTimeout(
    () => {
      log('bench: over 8 minutes, giving up')
      void stopAll().finally(() => process.exit(2))
    },
    (settings.phases.has('push') ? 60 : 8) * 60_000,
  )
  watchdog.unref()
  const started = performance.now()
  const bundles = buildBundles()
  // Parse + validate first, before this process builds anything: a large heap here keeps V8's
  // concurrent GC threads busy on the cores the child needs.
  let parse: ParseRuns | undefined
  if (settings.phases.has('parse')) {
    await phase('parse', async () => {
      parse = await parseInChild(bundles.parse)
    })
  }
  const p = await prepare()
  const parsed = parse
  if (parsed !== undefined) await phase('parse', async () => parseFigure(parsed, p))

  const limit = await limitAndNodeRounds(p)

  if (settings.phases.has('latency')) {
    log('latency…')
    collectGarbage()
    await phase('latency', () => latency(p))
  }
  if (settings.phases.has('memory')) {
    log('memory…')
    collectGarbage()
    await phase('memory', () => memory(p))
  }
  if (settings.phases.has('worker')) {
    log('worker (wrangler dev + sqld)…')
    collectGarbage()
    await phase('worker', () => worker(p))
  }
  if (settings.phases.has('push')) {
    log('push (tributary push vs raw gzip POSTs of the same lines)…')
    collectGarbage()
    await phase('push', async () => {
      const mb = Number(process.env.BENCH_PUSH_MB ?? '1024')
      const rounds = Number(process.env.BENCH_PUSH_ROUNDS ?? '3')
      const push = await pushPhase({ mb, rounds, secret: SECRET }, log)
      figures.push({
        id: 'push',
        group: 'push',
        label: `tributary push: ${mb} MB Claude Code history, ${push.files} files`,
        bytes: push.convertedBytes,
        ratio: Math.round(push.medianRatio * 100) / 100,
        ratioOf: 'raw gzip POSTs of the same converted lines',
        runs: push.rounds.map((r) => Math.round(r.ratio * 100) / 100),
        peakRssMb: Math.round(push.maxClientPeakRss / MB),
        note: "ratio per round (raw seconds / push seconds); peakRssMb is the push client's",
      })
    })
  }
  if (settings.phases.has('read')) {
    log('read (sessions, turns, usage on a cached corpus)…')
    collectGarbage()
    await phase('read', readPhase)
  }
  await stopAll()

  const { corpus } = p
  report(
    {
      sessions: corpus.sessions,
      lines: corpus.lines,
      validRows: p.rows.rows,
      invalid: p.rows.rejected,
      blank: corpus.blank,
      large: corpus.large,
      bytes: corpus.body.length,
      averageLineBytes: Math.round(corpus.body.length / corpus.lines),
    },
    limit,
    Math.round((performance.now() - started) / 1000),
  )
}

main().catch(async (error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  await stopAll()
  process.exit(1)
})
