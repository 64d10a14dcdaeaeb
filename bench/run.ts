/**
 * `npm run bench`: tributary held against the limit of its database, on one seeded corpus, in
 * one run, so the ratios hold on a noisy machine. Prints a table and writes bench/results.json.
 *
 *   1. the limit: the rows written straight to libSQL (prepared multi-row upserts, one
 *      transaction a chunk; and client.batch, as TurnStore calls it), no HTTP, no validation;
 *   2. parse + validate only: ingest() with a writer that writes nothing, one thread, in a process
 *      of its own (bench/parse.ts);
 *   3. end to end on Node: `npm run serve`'s entry as a child process on a fresh file database,
 *      the corpus as one streamed request and as 1 MB requests from 4 clients, gzip and not;
 *   4. end to end on the worker: wrangler dev against a local sqld, next to raw client.batch over
 *      HTTP to a sqld;
 *   5. memory: the server's peak RSS for a 100 MB and a 1 GB streamed body made on the fly;
 *   and p50/p99 latency of 1-line and 100-line requests.
 *
 * The limit and the Node runs are repeated BENCH_ROUNDS times, interleaved, and the medians
 * reported. Settings (environment): BENCH_SESSIONS (1000), BENCH_SEED (1), BENCH_ROUNDS (5),
 * BENCH_NON_ASCII (0.25: the share of lines with non-ASCII text),
 * BENCH_CHUNK_LINES (500), BENCH_MEMORY_MB ("100,1024"), BENCH_PHASES (all of
 * "parse,limit,node,latency,memory,worker,read"; the node phase needs limit for its ratios;
 * read is bench/read.ts, with BENCH_READ_TURNS and BENCH_READ_SESSIONS),
 * BENCH_PROFILE (0; 1 writes the servers' CPU profiles to bench/profiles/), BENCH_NODE_FLAGS
 * (node flags for the server processes, e.g. "--max-semi-space-size=4"), BENCH_OUT
 * (bench/results.json).
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { gzip as gzipCallback } from 'node:zlib'
import { SignJWT } from 'jose'
import { defaultLimits } from '../src/config'
import type { IngestLimits } from '../src/types'
import { type Answer, keepAlive, percentile, pieces, pool, post, repeated } from './client'
import { type Corpus, generateCorpus, splitBody } from './corpus'
import { type Batches, limitClient, limitHttp, limitNative } from './limit'
import { installCleanup, stopAll } from './procs'
import { type ReadTarget, readPhase } from './read'
import { chunkStatements, corpusRows, type Rows } from './rows'
import { buildBundles, root, type Server, startBenchSqld, startServe, startWorker } from './servers'

const gzip = promisify(gzipCallback)

/**
 * A full GC of this process before each timed run: its heap holds the corpus and its rows, and
 * V8's concurrent GC threads would otherwise take cores from the run being measured.
 */
v8.setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
const MB = 1024 * 1024

const settings = {
  sessions: intFromEnv('BENCH_SESSIONS', 1000),
  seed: intFromEnv('BENCH_SEED', 1),
  nonAsciiLines: Number(process.env.BENCH_NON_ASCII ?? '0.25'),
  rounds: intFromEnv('BENCH_ROUNDS', 5),
  chunkLines: intFromEnv('BENCH_CHUNK_LINES', defaultLimits.chunkLines),
  memoryMb: (process.env.BENCH_MEMORY_MB ?? '100,1024')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0),
  phases: new Set(
    (process.env.BENCH_PHASES ?? 'parse,limit,node,latency,memory,worker,read')
      .split(',')
      .map((s) => s.trim()),
  ),
  profile: process.env.BENCH_PROFILE === '1',
  nodeFlags: (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((flag) => flag !== ''),
  out: process.env.BENCH_OUT ?? join(root, 'bench', 'results.json'),
}

function intFromEnv(name: string, fallback: number): number {
  const text = process.env[name]?.trim()
  if (text === undefined || text === '') return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`)
  return n
}

const SECRET = `bench-secret-${'x'.repeat(32)}`
const limits: IngestLimits = { ...defaultLimits, chunkLines: settings.chunkLines }

/** One measured figure: a row of the table and of results.json. */
type Figure = {
  id: string
  group: string
  label: string
  lines?: number
  bytes?: number
  ms?: number
  linesPerS?: number
  mbPerS?: number
  ratio?: number
  ratioOf?: string
  p50Ms?: number
  p99Ms?: number
  peakRssMb?: number
  /** Memory runs: the highest RSS sampled in the first and in the second half of the body. */
  halvesRssMb?: number[]
  runs?: number[]
  note?: string
}

const figures: Figure[] = []
const readTargets: ReadTarget[] = []
const log = (text: string) => process.stderr.write(`${text}\n`)
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length / 2
  return Number.isInteger(mid)
    ? ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
    : (sorted[Math.floor(mid)] ?? 0)
}

/** Throughput of `lines` physical lines and `bytes` body bytes in `ms`. */
const rate = (lines: number, bytes: number, ms: number) => ({
  lines,
  bytes,
  ms: Math.round(ms),
  linesPerS: Math.round((lines / ms) * 1000),
  mbPerS: Math.round((bytes / MB / ms) * 1000 * 10) / 10,
})

const token = (sub: string) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(SECRET))

const serveEnv = (extra: Record<string, string> = {}) => ({
  INGEST_CHUNK_LINES: String(settings.chunkLines),
  ...extra,
})

/** Node flags for every server process: BENCH_NODE_FLAGS, and the profiler when asked for. */
const profileArgs = () => [
  ...settings.nodeFlags,
  ...(settings.profile ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench', 'profiles')] : []),
]

type Prepared = {
  corpus: Corpus
  rows: Rows
  batches: Batches
  gzipped: Buffer
  megabyte: Buffer[]
  megabyteGzipped: Buffer[]
}

async function prepare(): Promise<Prepared> {
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

function check(label: string, answers: Answer[], p: Prepared) {
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
async function warmUp(server: Server, p: Prepared, gzip = false) {
  const jwt = await token('warmup')
  const bodies = (gzip ? p.megabyteGzipped : p.megabyte).slice(0, WARM_UP_BODIES)
  for (const body of bodies) {
    await post([body], { url: server.url, token: jwt, gzip, length: body.length })
  }
}

/**
 * POST `bodies` from `clients` concurrent clients over keep-alive sockets. A body answered 503
 * is sent again at once, up to three times, as the README tells clients to (re-sending is safe:
 * upserts are idempotent); the last answer of each body counts.
 */
async function sendAll(
  url: string,
  jwt: string,
  bodies: Buffer[],
  options: { gzip?: boolean; clients?: number } = {},
): Promise<{ ms: number; answers: Answer[]; resent: number }> {
  const answers: Answer[] = []
  let resent = 0
  const agent = keepAlive()
  try {
    const ms = await pool(bodies.length, options.clients ?? 4, async (i) => {
      const body = bodies[i] as Buffer
      for (let attempt = 0; ; attempt++) {
        const answer = await post([body], {
          url,
          token: jwt,
          gzip: options.gzip === true,
          agent,
          length: body.length,
        })
        if (answer.status === 503 && attempt < 3) {
          resent++
          continue
        }
        answers.push(answer)
        return
      }
    })
    return { ms, answers, resent }
  } finally {
    agent.destroy()
  }
}

type NodeRun = { ms: number; peakRss: number; resent: number }

/** One Node end-to-end variant on a fresh server and database. */
async function nodeRun(
  p: Prepared,
  variant: 'stream' | 'stream-gzip' | 'mb4' | 'mb4-gzip',
): Promise<NodeRun> {
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

async function latency(p: Prepared) {
  const server = await startServe({ secret: SECRET, env: serveEnv(), nodeArgs: profileArgs() })
  try {
    await warmUp(server, p)
    const jwt = await token('latency')
    const agent = keepAlive()
    const template = JSON.parse(
      p.corpus.body.subarray(0, p.corpus.lineStarts[1]).toString('utf8'),
    ) as Record<string, unknown>
    const oneLine = (i: number) =>
      Buffer.from(`${JSON.stringify({ ...template, turn_id: `latency-${i}`, seq: i })}\n`)
    const times = async (count: number, body: (i: number) => Buffer) => {
      const out: number[] = []
      for (let i = 0; i < count; i++) {
        const b = body(i)
        const answer = await post([b], { url: server.url, token: jwt, agent, length: b.length })
        if (answer.status !== 200 && answer.status !== 207) throw new Error(`HTTP ${answer.status}`)
        out.push(answer.ms)
      }
      return out.sort((a, b) => a - b)
    }
    await times(100, (i) => oneLine(1_000_000 + i)) // warm-up
    const single = await times(1000, oneLine)
    const starts = p.corpus.lineStarts
    const hundred = await times(200, (i) => {
      const from = starts[(i * 100) % (starts.length - 100)] ?? 0
      const to = starts[((i * 100) % (starts.length - 100)) + 100] ?? p.corpus.body.length
      return p.corpus.body.subarray(from, to)
    })
    agent.destroy()
    const row = (id: string, label: string, sorted: number[]): Figure => ({
      id,
      group: 'latency',
      label,
      p50Ms: Math.round(percentile(sorted, 50) * 100) / 100,
      p99Ms: Math.round(percentile(sorted, 99) * 100) / 100,
      note: `${sorted.length} sequential requests, keep-alive`,
    })
    figures.push(row('latency-1', 'Node: 1-line request', single))
    figures.push(row('latency-100', 'Node: 100-line request', hundred))
  } finally {
    await server.stop()
  }
}

async function memory(p: Prepared) {
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
      // The sampled peak of each half of the body: a bounded server has the same in both.
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

async function worker(p: Prepared) {
  // Raw client.batch over HTTP to a fresh sqld: what the worker is held against.
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

const round2 = (n: number) => Math.round(n * 100) / 100

/**
 * Runs of the parse measurement, and how many of the first ones only warm up: the JIT, and this
 * process, still settling (npm and tsx take a core for the first second or so).
 */
const PARSE_RUNS = 9
const PARSE_WARM_UP_RUNS = 3

/** bench/parse.ts, bundled, in a process of its own: a clean heap, nothing else on its thread. */
function parseInChild(bundle: string): Promise<{ accepted: number; runs: number[] }> {
  const options = JSON.stringify({
    sessions: settings.sessions,
    seed: settings.seed,
    nonAsciiLines: settings.nonAsciiLines,
    chunkLines: settings.chunkLines,
    runs: PARSE_RUNS,
  })
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...profileArgs(), bundle, options],
      { cwd: root, timeout: 120_000, maxBuffer: MB },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`bench/parse.ts failed: ${stderr || error.message}`))
        else resolve(JSON.parse(stdout) as { accepted: number; runs: number[] })
      },
    )
  })
}

/** What went wrong, by phase: the run goes on without it and exits non-zero at the end. */
const failures: { phase: string; error: string }[] = []

async function phase(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    failures.push({ phase: name, error: message })
    log(`${name} failed: ${message}`)
    await stopAll()
  }
}

async function main() {
  installCleanup()
  const watchdog = setTimeout(() => {
    log('bench: over 8 minutes, giving up')
    void stopAll().finally(() => process.exit(2))
  }, 8 * 60_000)
  watchdog.unref()
  const started = performance.now()
  const bundles = buildBundles()
  // 2. parse + validate, first, in a process of its own, before this process builds anything:
  // a large heap here keeps V8's concurrent GC threads busy on the cores the child needs.
  let parse: Awaited<ReturnType<typeof parseInChild>> | undefined
  if (settings.phases.has('parse')) {
    await phase('parse', async () => {
      parse = await parseInChild(bundles.parse)
    })
  }
  const p = await prepare()
  const { corpus } = p
  if (parse !== undefined) {
    const { accepted, runs } = parse
    await phase('parse', async () => {
      if (accepted !== p.rows.rows) throw new Error(`accepted ${accepted}, expected ${p.rows.rows}`)
      const parseMs = median(runs.slice(PARSE_WARM_UP_RUNS))
      figures.push({
        id: 'parse',
        group: 'parse',
        label: 'parse + validate only (one thread)',
        ...rate(corpus.lines, corpus.body.length, parseMs),
        runs: runs.map(Math.round),
        note: `median of runs ${PARSE_WARM_UP_RUNS + 1}-${PARSE_RUNS}, own process`,
      })
      log(`parse + validate: ${Math.round((corpus.lines / parseMs) * 1000)} lines/s`)
    })
  }

  // 1 and 3, interleaved round by round.
  const variants = settings.phases.has('node')
    ? (['stream', 'stream-gzip', 'mb4', 'mb4-gzip'] as const)
    : []
  const runs: Record<string, number[]> = { native: [], client: [] }
  const rss: Record<string, number[]> = {}
  const resent: Record<string, number> = {}
  for (const v of variants) {
    runs[v] = []
    rss[v] = []
  }
  const rounds = settings.phases.has('limit') ? settings.rounds : 0
  for (let round = 1; round <= rounds; round++) {
    collectGarbage()
    const native = await limitNative(p.batches)
    runs.native?.push(native.ms)
    collectGarbage()
    const client = await limitClient(p.batches)
    runs.client?.push(client.ms)
    for (const v of variants) {
      await phase(`node ${v}, round ${round}`, async () => {
        collectGarbage()
        const run = await nodeRun(p, v)
        runs[v]?.push(run.ms)
        rss[v]?.push(run.peakRss)
        resent[v] = (resent[v] ?? 0) + run.resent
      })
    }
    log(
      `round ${round}: ${Object.entries(runs)
        .map(([k, ms]) => `${k} ${Math.round((corpus.lines / (ms.at(-1) ?? 1)) * 1000)}`)
        .join(', ')} lines/s`,
    )
  }
  let limit = 0
  if (rounds > 0) {
    const nativeRate = rate(corpus.lines, corpus.body.length, median(runs.native ?? []))
    const clientRate = rate(corpus.lines, corpus.body.length, median(runs.client ?? []))
    limit = Math.max(nativeRate.linesPerS, clientRate.linesPerS)
    figures.unshift(
      {
        id: 'limit-native',
        group: 'limit',
        label: 'limit: prepared multi-row upserts (libsql native)',
        ...nativeRate,
        ratio: round2(nativeRate.linesPerS / limit),
        ratioOf: 'limit',
        runs: (runs.native ?? []).map(Math.round),
      },
      {
        id: 'limit-client',
        group: 'limit',
        label: 'limit: client.batch per chunk (@libsql/client)',
        ...clientRate,
        ratio: round2(clientRate.linesPerS / limit),
        ratioOf: 'limit',
        runs: (runs.client ?? []).map(Math.round),
      },
    )
    const labels = {
      stream: 'Node: one streamed request',
      'stream-gzip': 'Node: one streamed request, gzip',
      mb4: 'Node: 1 MB requests, 4 clients',
      'mb4-gzip': 'Node: 1 MB requests, 4 clients, gzip',
    }
    for (const v of variants) {
      if ((runs[v] ?? []).length === 0) continue
      const r = rate(corpus.lines, corpus.body.length, median(runs[v] ?? []))
      figures.push({
        id: `node-${v}`,
        group: 'node',
        label: labels[v],
        ...r,
        ratio: round2(r.linesPerS / limit),
        ratioOf: 'limit',
        peakRssMb: Math.round(Math.max(...(rss[v] ?? [0])) / MB),
        runs: (runs[v] ?? []).map(Math.round),
        ...((resent[v] ?? 0) > 0 ? { note: `${resent[v]} bodies answered 503 and re-sent` } : {}),
      })
    }
  }

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
  if (settings.phases.has('read')) {
    log('read (sessions, turns, usage on a cached corpus)…')
    collectGarbage()
    await phase('read', async () => {
      const read = await readPhase({ secret: SECRET, rounds: settings.rounds, log })
      figures.push(...read.figures)
      readTargets.push(...read.targets)
    })
  }
  await stopAll()

  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? '',
      memoryGb: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    settings: { ...settings, phases: [...settings.phases], out: undefined },
    corpus: {
      sessions: corpus.sessions,
      lines: corpus.lines,
      validRows: p.rows.rows,
      invalid: p.rows.rejected,
      blank: corpus.blank,
      large: corpus.large,
      bytes: corpus.body.length,
      averageLineBytes: Math.round(corpus.body.length / corpus.lines),
    },
    limitLinesPerS: limit,
    figures,
    failures,
    targets: targets(),
    seconds: Math.round((performance.now() - started) / 1000),
  }
  mkdirSync(join(root, 'bench'), { recursive: true })
  writeFileSync(settings.out, `${JSON.stringify(results, null, 2)}\n`)
  console.log(table(results.corpus, results.seconds))
  console.log(`\nwritten to ${settings.out}`)
  if (failures.length > 0) {
    console.log(`\n${failures.length} measurement(s) failed:`)
    for (const f of failures) console.log(`  ${f.phase}: ${f.error}`)
    process.exitCode = 1
  }
}

type Target = { target: string; value: string; met: boolean }

function targets(): Target[] {
  const get = (id: string) => figures.find((f) => f.id === id)
  const out: Target[] = []
  /** A ratio target: the figure's ratio to what it is measured against, at least `min`. */
  const ratio = (id: string, target: string, min: number) => {
    const r = get(id)?.ratio
    if (r !== undefined) out.push({ target, value: `${r}x`, met: r >= min })
  }
  ratio('node-stream', 'Node e2e >= 0.6x the limit (aim 0.8x), one streamed request', 0.6)
  ratio('node-stream-gzip', 'Node e2e >= 0.6x the limit, one streamed request, gzip', 0.6)
  ratio('node-mb4', 'Node e2e >= 0.6x the limit, 1 MB requests x4', 0.6)
  ratio('node-mb4-gzip', 'Node e2e >= 0.6x the limit, 1 MB requests x4, gzip', 0.6)
  ratio('worker-stream', 'worker e2e >= 0.5x raw client.batch over HTTP', 0.5)
  const parse = get('parse')
  if (parse?.linesPerS !== undefined) {
    out.push({
      target: 'parse + validate >= 150,000 lines/s on one core',
      value: `${parse.linesPerS.toLocaleString('en')} lines/s`,
      met: parse.linesPerS >= 150_000,
    })
  }
  const memories = figures.filter((f) => f.group === 'memory' && f.peakRssMb !== undefined)
  if (memories.length > 0) {
    const peaks = memories.map((f) => f.peakRssMb ?? 0)
    const max = Math.max(...peaks)
    const flat = max - Math.min(...peaks) <= 20
    out.push({
      target: 'peak RSS < 150 MB and flat with body size',
      value: memories.map((f) => `${f.label.replace('Node: ', '')}: ${f.peakRssMb} MB`).join(', '),
      met: max < 150 && flat,
    })
  }
  const single = get('latency-1')
  if (single?.p50Ms !== undefined) {
    out.push({
      target: 'single-line request p50 < 5 ms',
      value: `${single.p50Ms} ms`,
      met: single.p50Ms < 5,
    })
  }
  out.push(...readTargets)
  return out
}

function table(corpus: Record<string, number>, seconds: number): string {
  const header = ['measurement', 'lines/s', 'MB/s', 'x limit', 'p50 ms', 'p99 ms', 'peak RSS']
  const rows = figures.map((f) => [
    f.label,
    f.linesPerS?.toLocaleString('en') ?? '',
    f.mbPerS?.toFixed(1) ?? '',
    f.ratio === undefined
      ? ''
      : `${f.ratio.toFixed(2)}${f.ratioOf !== undefined && f.ratioOf !== 'limit' ? '*' : ''}`,
    f.p50Ms?.toFixed(2) ?? '',
    f.p99Ms?.toFixed(2) ?? '',
    f.peakRssMb === undefined ? '' : `${f.peakRssMb} MB`,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`
  const t = targets()
  return [
    '',
    `corpus: ${corpus.lines} lines (${corpus.validRows} valid, ${corpus.invalid} invalid), ` +
      `${((corpus.bytes ?? 0) / MB).toFixed(1)} MB, ${corpus.sessions} sessions, ` +
      `avg ${corpus.averageLineBytes} B/line, ${corpus.large} lines of 20-100 KB; ` +
      `chunk ${settings.chunkLines} lines; ${cpus().length} cores, Node ${process.version}; ${seconds} s`,
    '',
    line(header),
    rule,
    ...rows.map(line),
    '',
    '* worker ratios are of raw client.batch over HTTP to sqld, not of the file-database limit',
    ...figures
      .filter((f) => f.halvesRssMb !== undefined)
      .map(
        (f) =>
          `${f.label.replace('Node: ', '')}: highest RSS sampled in the first half ` +
          `${f.halvesRssMb?.[0]} MB, in the second half ${f.halvesRssMb?.[1]} MB`,
      ),
    '',
    ...t.map((x) => `${x.met ? 'MET ' : 'MISS'}  ${x.target}: ${x.value}`),
  ].join('\n')
}

main().catch(async (error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  await stopAll()
  process.exit(1)
})
