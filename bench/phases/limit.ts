/**
 * The limit, one round at a time: the corpus' rows written straight to a fresh file database,
 * with the native driver and with @libsql/client's batch (bench/limit.ts). The faster median is
 * the limit every Node ratio is taken of.
 */
import { limitClient, limitNative } from '../limit'
import type { Prepared } from '../prepare'
import { median, rate, round2 } from '../ratios'
import { figures } from '../report'
import { collectGarbage } from '../settings'

export type LimitRuns = { native: number[]; client: number[] }

/** One round of both ways; returns the faster of the two, the limit of this round, in ms. */
export async function limitRound(p: Prepared, runs: LimitRuns): Promise<number> {
  collectGarbage()
  const native = await limitNative(p.batches)
  runs.native.push(native.ms)
  collectGarbage()
  const client = await limitClient(p.batches)
  runs.client.push(client.ms)
  return Math.min(native.ms, client.ms)
}

/** The two limit figures, first in the table; returns the limit in lines/s. */
export function limitFigures(runs: LimitRuns, p: Prepared): number {
  const { corpus } = p
  const nativeRate = rate(corpus.lines, corpus.body.length, median(runs.native))
  const clientRate = rate(corpus.lines, corpus.body.length, median(runs.client))
  const limit = Math.max(nativeRate.linesPerS, clientRate.linesPerS)
  figures.unshift(
    {
      id: 'limit-native',
      group: 'limit',
      label: 'limit: prepared multi-row upserts (libsql native)',
      ...nativeRate,
      ratio: round2(nativeRate.linesPerS / limit),
      ratioOf: 'limit',
      runs: runs.native.map(Math.round),
    },
    {
      id: 'limit-client',
      group: 'limit',
      label: 'limit: client.batch per chunk (@libsql/client)',
      ...clientRate,
      ratio: round2(clientRate.linesPerS / limit),
      ratioOf: 'limit',
      runs: runs.client.map(Math.round),
    },
  )
  return limit
}
