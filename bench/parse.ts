/**
 * Parse + validate only: `ingest()` over the corpus with a writer that keeps and writes nothing,
 * on one thread. Run as its own process by bench/run.ts (a clean heap, nothing else on the thread),
 * bundled by esbuild like the server (bench/servers.ts buildBundles):
 *
 *   node dist/bench/parse.mjs '{"sessions":1000,"seed":1,"chunkLines":500,"runs":5}'
 *
 * prints `{"lines":…,"bytes":…,"accepted":…,"runs":[ms,…]}` on stdout.
 */
import { defaultLimits } from '../src/config'
import { ingest } from '../src/ingest/pipeline'
import type { IngestLimits, Sink } from '../src/types'
import { pieces } from './client'
import { generateCorpus } from './corpus'

export async function parseOnly(
  body: Uint8Array,
  limits: IngestLimits,
): Promise<{ ms: number; accepted: number; rejected: number }> {
  const chunks = [...pieces(body)]
  let i = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[i++]
      if (next === undefined) controller.close()
      else controller.enqueue(next)
    },
  })
  const discard: Sink = {
    write: async (_owner, records) => {
      for await (const _ of records);
      return { refused: [] }
    },
  }
  const started = performance.now()
  const summary = await ingest({ owner: 'bench', body: stream.getReader(), store: discard, limits })
  return {
    ms: performance.now() - started,
    accepted: summary.accepted,
    rejected: summary.rejected,
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = JSON.parse(process.argv[2] ?? '{}') as {
    sessions?: number
    seed?: number
    chunkLines?: number
    runs?: number
    nonAsciiLines?: number
  }
  const corpus = generateCorpus({
    sessions: options.sessions ?? 1000,
    seed: options.seed ?? 1,
    ...(options.nonAsciiLines === undefined ? {} : { nonAsciiLines: options.nonAsciiLines }),
  })
  const limits = { ...defaultLimits, chunkLines: options.chunkLines ?? defaultLimits.chunkLines }
  const runs: number[] = []
  let accepted = 0
  for (let r = 0; r < (options.runs ?? 5); r++) {
    const run = await parseOnly(corpus.body, limits)
    runs.push(run.ms)
    accepted = run.accepted
  }
  process.stdout.write(
    `${JSON.stringify({ lines: corpus.lines, bytes: corpus.body.length, accepted, runs })}\n`,
  )
}
