/**
 * End to end on the worker: `wrangler dev` (local, offline) against a fresh sqld, the corpus
 * streamed and as 1 MB bodies from 4 clients, held against raw client.batch over HTTP to another
 * fresh sqld with the same statements, one batch in flight.
 */
import { pieces, post, sendAll } from '../client'
import { limitHttp } from '../limit'
import { check, type Prepared, warmUp } from '../prepare'
import { rate, round2 } from '../ratios'
import { figures } from '../report'
import { type Server, startBenchSqld, startWorker } from '../servers'
import { MB, SECRET, settings, token } from '../settings'

export async function worker(p: Prepared) {
  const rawSqld = await startBenchSqld()
  let raw: { ms: number }
  try {
    raw = await limitHttp(rawSqld.url, p.batches)
  } finally {
    await rawSqld.stop()
  }
  const rawRate = rate(p.corpus.lines, p.corpus.body.length, raw.ms)
  figures.push({
    id: 'worker-limit',
    group: 'worker',
    label: 'raw client.batch over HTTP to sqld',
    ...rawRate,
    note: 'the same statements, one batch in flight',
  })

  const sqld = await startBenchSqld()
  let server: Server | undefined
  try {
    server = await startWorker(sqld.url, SECRET, {
      INGEST_CHUNK_LINES: String(settings.chunkLines),
      // The corpus is one ~100-chunk body: past the 45 subrequests a free-plan Worker allows.
      INGEST_MAX_CHUNKS: '0',
    })
    await warmUp(server, p)
    const jwt = await token('bench')
    const started = performance.now()
    const answer = await post(pieces(p.corpus.body), { url: server.url, token: jwt })
    const ms = performance.now() - started
    check('worker stream', [answer], p)
    const running = server
    /** A worker figure, as a ratio of raw client.batch over HTTP. */
    const workerFigure = (id: string, label: string, wallMs: number, note?: string) => {
      const r = rate(p.corpus.lines, p.corpus.body.length, wallMs)
      figures.push({
        id,
        group: 'worker',
        label,
        ...r,
        ratio: round2(r.linesPerS / rawRate.linesPerS),
        ratioOf: 'raw client.batch over HTTP',
        peakRssMb: Math.round((running.memory()?.peak ?? 0) / MB),
        ...(note === undefined ? {} : { note }),
      })
    }
    workerFigure('worker-stream', 'worker (wrangler dev + sqld): one streamed request', ms)

    const sent = await sendAll(server.url, await token('bench-mb'), p.megabyte)
    check('worker 1 MB x4', sent.answers, p)
    workerFigure(
      'worker-mb4',
      'worker: 1 MB requests, 4 clients',
      sent.ms,
      'same sqld, after the streamed run (its rows already there, another owner)' +
        (sent.resent > 0
          ? `; ${sent.resent} bodies answered 503 DATABASE_UNAVAILABLE and re-sent`
          : ''),
    )
  } finally {
    await server?.stop()
    await sqld.stop()
  }
}
