/**
 * The limit and the Node variants, interleaved round by round (BENCH_ROUNDS), so each round's
 * runs meet the machine in the same state as the limit measured just before them.
 */
import type { Prepared } from '../prepare'
import { phase } from '../report'
import { collectGarbage, log, settings } from '../settings'
import { type LimitRuns, limitFigures, limitRound } from './limit'
import { type NodeRuns, nodeFigure, nodeRun, nodeVariants } from './node'

/** Runs the rounds and adds their figures; returns the limit in lines/s (0: no rounds). */
export async function limitAndNodeRounds(p: Prepared): Promise<number> {
  const variants = settings.phases.has('node') ? nodeVariants : []
  const limit: LimitRuns = { native: [], client: [] }
  const limitMsByRound: number[] = []
  const node = new Map<(typeof nodeVariants)[number], NodeRuns>(
    variants.map((v) => [v, { ms: [], peakRss: [], resent: 0 }]),
  )
  const rounds = settings.phases.has('limit') ? settings.rounds : 0
  for (let round = 1; round <= rounds; round++) {
    limitMsByRound.push(await limitRound(p, limit))
    for (const [v, runs] of node) {
      const ok = await phase(`node ${v}, round ${round}`, async () => {
        collectGarbage()
        const run = await nodeRun(p, v)
        runs.ms.push(run.ms)
        runs.peakRss.push(run.peakRss)
        runs.resent += run.resent
      })
      if (!ok) runs.ms.push(undefined)
    }
    const last = (ms: (number | undefined)[]) =>
      Math.round((p.corpus.lines / (ms.at(-1) ?? 1)) * 1000)
    const parts = [
      `native ${last(limit.native)}`,
      `client ${last(limit.client)}`,
      ...[...node].map(([v, runs]) => `${v} ${last(runs.ms)}`),
    ]
    log(`round ${round}: ${parts.join(', ')} lines/s`)
  }
  if (rounds === 0) return 0
  const limitLinesPerS = limitFigures(limit, p)
  for (const [v, runs] of node) nodeFigure(v, runs, limitLinesPerS, limitMsByRound, p)
  return limitLinesPerS
}
