/**
 * What every measured path is given, built before any clock starts: the seeded corpus, its
 * valid rows and their statements, its gzip, its 1 MB bodies; and the checks and warm-up each
 * server gets.
 */
import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import { type Answer, post } from './client'
import { type Corpus, generateCorpus, splitBody } from './corpus'
import type { Batches } from './limit'
import { chunkStatements, corpusRows, type Rows } from './rows'
import type { Server } from './servers'
import { limits, log, MB, settings, token } from './settings'

const gzip = promisify(gzipCallback)

export type Prepared = {
  corpus: Corpus
  rows: Rows
  batches: Batches
  gzipped: Buffer
  megabyte: Buffer[]
  megabyteGzipped: Buffer[]
}

export async function prepare(): Promise<Prepared> {
  let t = performance.now()
  const corpus = generateCorpus({
    sessions: settings.sessions,
    seed: settings.seed,
    nonAsciiLines: settings.nonAsciiLines,
  })
  log(
    `corpus: ${corpus.lines} lines, ${(corpus.body.length / MB).toFixed(1)} MB, ` +
      `${corpus.invalid} invalid, ${corpus.large} of 20-100 KB (${Math.round(performance.now() - t)} ms)`,
  )
  t = performance.now()
  const rows = corpusRows(corpus.body, limits)
  const batches = chunkStatements('bench', rows)
  const megabyte = splitBody(corpus, MB)
  const [gzipped, ...megabyteGzipped] = await Promise.all([
    gzip(corpus.body),
    ...megabyte.map((piece) => gzip(piece)),
  ])
  log(`prepared rows, 1 MB pieces and gzip (${Math.round(performance.now() - t)} ms)`)
  return { corpus, rows, batches, gzipped: gzipped as Buffer, megabyte, megabyteGzipped }
}

/** The answers to the whole corpus stored exactly its valid rows and rejected exactly the rest. */
export function check(label: string, answers: Answer[], p: Prepared) {
  const accepted = answers.reduce((n, a) => n + a.summary.accepted, 0)
  const rejected = answers.reduce((n, a) => n + a.summary.rejected, 0)
  const bad = answers.find((a) => a.status !== 200 && a.status !== 207)
  if (bad !== undefined || accepted !== p.rows.rows || rejected !== p.rows.rejected) {
    throw new Error(
      `${label}: expected ${p.rows.rows} accepted and ${p.rows.rejected} rejected, got ` +
        `${accepted}/${rejected}${bad === undefined ? '' : ` (HTTP ${bad.status} ${bad.problem ?? ''})`}`,
    )
  }
}

/** How many 1 MB bodies warm a fresh server's JIT up before the clock starts. */
const WARM_UP_BODIES = 8

/**
 * Warm a fresh server up as a long-running one would be: WARM_UP_BODIES bodies of about 1 MB
 * from the corpus, in the encoding about to be measured, as another owner.
 */
export async function warmUp(server: Server, p: Prepared, gzip = false) {
  const jwt = await token('warmup')
  const bodies = (gzip ? p.megabyteGzipped : p.megabyte).slice(0, WARM_UP_BODIES)
  for (const body of bodies) {
    await post([body], { url: server.url, token: jwt, gzip, length: body.length })
  }
}
