/**
 * The arithmetic of the figures: throughput of a timed run, medians, and each round's ratio to
 * the limit measured in the same round (which takes out most of a noisy machine's drift).
 */
import { MB } from './settings'

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length / 2
  return Number.isInteger(mid)
    ? ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
    : (sorted[Math.floor(mid)] ?? 0)
}

export const round2 = (n: number) => Math.round(n * 100) / 100

/** Throughput of `lines` physical lines and `bytes` body bytes in `ms`. */
export const rate = (lines: number, bytes: number, ms: number) => ({
  lines,
  bytes,
  ms: Math.round(ms),
  linesPerS: Math.round((lines / ms) * 1000),
  mbPerS: Math.round((bytes / MB / ms) * 1000 * 10) / 10,
})

/**
 * Each round's ratio of a run to the limit measured in the same round, over the same lines (so
 * the limit's wall time over the run's). A round the run failed in (`undefined`) is left out.
 */
export function roundRatios(runMs: (number | undefined)[], limitMs: number[]): number[] {
  const out: number[] = []
  runMs.forEach((ms, round) => {
    const limit = limitMs[round]
    if (ms !== undefined && limit !== undefined) out.push(round2(limit / ms))
  })
  return out
}
