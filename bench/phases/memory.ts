/**
 * Memory: the server's peak RSS (VmHWM of the process, all its threads) while a body of each
 * BENCH_MEMORY_MB size, made on the fly by repeating the corpus, is streamed to it; and the
 * highest RSS sampled every 20 ms in each half of the body, which a bounded server keeps level.
 */
import { post, repeated } from '../client'
import { type Prepared, warmUp } from '../prepare'
import { rate } from '../ratios'
import { figures } from '../report'
import { startServe } from '../servers'
import { MB, profileArgs, SECRET, serveEnv, settings, token } from '../settings'

export async function memory(p: Prepared) {
  for (const mb of settings.memoryMb) {
    const total = mb * MB
    const server = await startServe({
      secret: SECRET,
      env: serveEnv({ INGEST_MAX_BODY_BYTES: String(total + MB) }),
      nodeArgs: profileArgs(),
    })
    try {
      await warmUp(server, p)
      const base = server.memory()?.rss ?? 0
      server.resetSampledPeak()
      const halves: number[] = []
      const body = function* () {
        let sent = 0
        for (const piece of repeated(p.corpus.body, p.corpus.lineStarts, total)) {
          sent += piece.length
          if (halves.length === 0 && sent >= total / 2) {
            halves.push(server.sampledPeak())
            server.resetSampledPeak()
          }
          yield piece
        }
      }
      const started = performance.now()
      const answer = await post(body(), { url: server.url, token: await token('memory') })
      halves.push(server.sampledPeak())
      const ms = performance.now() - started
      if (answer.status !== 200 && answer.status !== 207) {
        throw new Error(`memory ${mb} MB: HTTP ${answer.status}`)
      }
      const peak = server.memory()?.peak ?? 0
      const r = rate(answer.summary.lines, answer.summary.bytes, ms)
      figures.push({
        id: `memory-${mb}`,
        group: 'memory',
        label: `Node: ${mb >= 1024 ? `${mb / 1024} GB` : `${mb} MB`} streamed body`,
        ...r,
        peakRssMb: Math.round(peak / MB),
        halvesRssMb: halves.map((h) => Math.round(h / MB)),
        note:
          `RSS ${Math.round(base / MB)} MB before; highest sampled in the first and second half ` +
          `${halves.map((h) => Math.round(h / MB)).join(' and ')} MB; the corpus repeated ` +
          '(upserts of the same rows)',
      })
    } finally {
      await server.stop()
    }
  }
}
