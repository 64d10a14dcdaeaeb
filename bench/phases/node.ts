/**
 * End to end on Node: exactly what `npm run serve` runs (bench/servers.ts startServe) on a fresh
 * file database, warmed up, then the corpus as one streamed request or as 1 MB bodies from 4
 * clients, plain or gzip. Each run starts its own server.
 */
import { type Answer, pieces, post, sendAll } from '../client'
import { check, type Prepared, warmUp } from '../prepare'
import { median, rate, round2, roundRatios } from '../ratios'
import { figures } from '../report'
import { startServe } from '../servers'
import { MB, profileArgs, SECRET, serveEnv, token } from '../settings'

export const nodeVariants = ['stream', 'stream-gzip', 'mb4', 'mb4-gzip'] as const
export type NodeVariant = (typeof nodeVariants)[number]

const labels: Record<NodeVariant, string> = {
  stream: 'Node: one streamed request',
  'stream-gzip': 'Node: one streamed request, gzip',
  mb4: 'Node: 1 MB requests, 4 clients',
  'mb4-gzip': 'Node: 1 MB requests, 4 clients, gzip',
}

export type NodeRun = { ms: number; peakRss: number; resent: number }

/** One variant on a fresh server and database. */
export async function nodeRun(p: Prepared, variant: NodeVariant): Promise<NodeRun> {
  const server = await startServe({ secret: SECRET, env: serveEnv(), nodeArgs: profileArgs() })
  try {
    const gz = variant === 'stream-gzip' || variant === 'mb4-gzip'
    await warmUp(server, p, gz)
    const jwt = await token('bench')
    let answers: Answer[] = []
    let ms: number
    let resent = 0
    if (variant === 'stream' || variant === 'stream-gzip') {
      const started = performance.now()
      answers = [
        await post(pieces(gz ? p.gzipped : p.corpus.body), {
          url: server.url,
          token: jwt,
          gzip: gz,
        }),
      ]
      ms = performance.now() - started
    } else {
      const sent = await sendAll(server.url, jwt, gz ? p.megabyteGzipped : p.megabyte, {
        gzip: gz,
      })
      ;({ ms, answers, resent } = sent)
    }
    check(`node ${variant}`, answers, p)
    return { ms, peakRss: server.memory()?.peak ?? 0, resent }
  } finally {
    await server.stop()
  }
}

/** A variant's runs, by round: `undefined` where the run failed. */
export type NodeRuns = { ms: (number | undefined)[]; peakRss: number[]; resent: number }

/** The variant's figure: the median run against the limit, and each round's own ratio. */
export function nodeFigure(
  variant: NodeVariant,
  runs: NodeRuns,
  limitLinesPerS: number,
  limitMsByRound: number[],
  p: Prepared,
): void {
  const done = runs.ms.filter((ms): ms is number => ms !== undefined)
  if (done.length === 0) return
  const r = rate(p.corpus.lines, p.corpus.body.length, median(done))
  figures.push({
    id: `node-${variant}`,
    group: 'node',
    label: labels[variant],
    ...r,
    ratio: round2(r.linesPerS / limitLinesPerS),
    ratioOf: 'limit',
    roundRatios: roundRatios(runs.ms, limitMsByRound),
    peakRssMb: Math.round(Math.max(...runs.peakRss, 0) / MB),
    runs: done.map(Math.round),
    ...(runs.resent > 0 ? { note: `${runs.resent} bodies answered 503 and re-sent` } : {}),
  })
}
