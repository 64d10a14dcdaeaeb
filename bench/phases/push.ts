/**
 * The push phase: a generated Claude Code history (many session files, assistant replies split
 * over several lines, large tool results) pushed by `tributary push` to `npm run serve`, against
 * the same converted lines POSTed raw (gzip bodies of the same size, prepared before the clock)
 * to a server of its own, in the same round. The ratio per round says whether the client is the
 * bottleneck; the client's peak RSS says whether its memory stays flat.
 *
 * Settings: BENCH_PUSH_MB (1024: the history's size), BENCH_PUSH_ROUNDS (3). Runs as a phase of
 * bench/run.ts (BENCH_PHASES=push) or alone: `tsx bench/phases/push.ts`.
 */
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { SignJWT } from 'jose'
import { findCompressor } from '../../src/push/compressor'
import { silentProgress } from '../../src/push/progress'
import { push } from '../../src/push/run'
import { keepAlive, post } from '../client'
import { rng } from '../corpus'
import { memoryOf, removeFolder, tempFolder, track } from '../procs'
import { buildBundles, root, startServe } from '../servers'

const MB = 1024 * 1024

export type PushFigures = {
  historyBytes: number
  files: number
  turns: number
  convertedBytes: number
  rounds: Array<{ rawS: number; pushS: number; ratio: number; clientPeakRss: number }>
  medianRatio: number
  maxClientPeakRss: number
}

const words =
  'the a push turn session token server line file read write test build stream chunk gzip retry state offset commit'.split(
    ' ',
  )

/**
 * Claude Code session files under `dir/projects/<project>/<session>.jsonl`, about 8 MB each,
 * until `bytes` are written. Replies are split into thinking, text and tool_use lines sharing
 * `message.id` and `requestId`, each repeating a usage; tool results are 2–40 KB, one in 50 is
 * 300 KB. Summaries and file-history snapshots are mixed in (skipped by the importer).
 */
export async function generateHistory(
  dir: string,
  bytes: number,
  seed = 1,
): Promise<{ files: number }> {
  const next = rng(seed)
  const text = (n: number) => {
    const out: string[] = []
    let length = 0
    while (length < n) {
      const word = words[Math.floor(next() * words.length)] as string
      out.push(word)
      length += word.length + 1
    }
    return out.join(' ')
  }
  let written = 0
  let files = 0
  let clock = Date.parse('2026-10-01T08:00:00.000Z')
  while (written < bytes) {
    const project = join(dir, 'projects', `-home-bench-project-${files % 16}`)
    mkdirSync(project, { recursive: true })
    const session = `5e55${String(files).padStart(4, '0')}-0000-4000-8000-${String(seed).padStart(12, '0')}`
    const out = createWriteStream(join(project, `${session}.jsonl`))
    const base = {
      isSidechain: false,
      userType: 'external',
      cwd: '/home/bench/project',
      sessionId: session,
      version: '2.0.31',
      gitBranch: 'main',
    }
    let parent: string | null = null
    let n = 0
    let fileBytes = 0
    const write = async (record: Record<string, unknown>) => {
      const line = `${JSON.stringify(record)}\n`
      fileBytes += Buffer.byteLength(line)
      if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
    }
    const stamp = () => {
      clock += 1000 + Math.floor(next() * 4000)
      return new Date(clock).toISOString()
    }
    const uuid = () =>
      `${session.slice(0, 8)}-${String(++n).padStart(4, '0')}-4000-8000-000000000000`
    await write({ type: 'summary', summary: text(40), leafUuid: uuid() })
    while (fileBytes < 8 * MB && written + fileBytes < bytes) {
      const user = uuid()
      await write({
        ...base,
        parentUuid: parent,
        type: 'user',
        message: { role: 'user', content: text(200) },
        uuid: user,
        timestamp: stamp(),
      })
      await write({
        type: 'file-history-snapshot',
        messageId: user,
        snapshot: {
          messageId: user,
          trackedFileBackups: {},
          timestamp: new Date(clock).toISOString(),
        },
        isSnapshotUpdate: false,
      })
      parent = user
      const id = `msg_${session.slice(0, 8)}_${n}`
      const requestId = `req_${session.slice(0, 8)}_${n}`
      const usage = (out: number) => ({
        input_tokens: 3 + (n % 7),
        cache_creation_input_tokens: 1000,
        cache_read_input_tokens: 12000,
        cache_creation: { ephemeral_5m_input_tokens: 600, ephemeral_1h_input_tokens: 400 },
        output_tokens: out,
        service_tier: 'standard',
      })
      const blocks = [
        { type: 'thinking', thinking: text(800), signature: 'EqoBCkgIBxAB' },
        { type: 'text', text: text(300) },
        {
          type: 'tool_use',
          id: `toolu_${n}`,
          name: 'Read',
          input: { file_path: `/home/bench/project/src/file${n}.ts` },
        },
      ]
      let last = parent
      for (const [i, block] of blocks.entries()) {
        const uuidA = uuid()
        await write({
          ...base,
          parentUuid: last,
          message: {
            model: 'claude-sonnet-4-5-20250929',
            id,
            type: 'message',
            role: 'assistant',
            content: [block],
            stop_reason: i === 2 ? 'tool_use' : null,
            stop_sequence: null,
            usage: usage(i === 2 ? 150 + (n % 100) : 6),
          },
          requestId,
          type: 'assistant',
          uuid: uuidA,
          timestamp: stamp(),
        })
        last = uuidA
      }
      const result = uuid()
      const size = next() < 0.02 ? 300_000 : 2000 + Math.floor(next() * 38_000)
      await write({
        ...base,
        parentUuid: last,
        type: 'user',
        message: {
          role: 'user',
          content: [
            {
              tool_use_id: `toolu_${n}`,
              type: 'tool_result',
              content: text(size),
              is_error: false,
            },
          ],
        },
        uuid: result,
        timestamp: stamp(),
      })
      const answer = uuid()
      await write({
        ...base,
        parentUuid: result,
        message: {
          model: 'claude-sonnet-4-5-20250929',
          id: `${id}b`,
          type: 'message',
          role: 'assistant',
          content: [{ type: 'text', text: text(400) }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: usage(80),
        },
        requestId: `${requestId}b`,
        type: 'assistant',
        uuid: answer,
        timestamp: stamp(),
      })
      parent = answer
    }
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    )
    written += fileBytes
    files++
  }
  return { files }
}

/** The converted lines of the history, as the push sends them, gzipped in request-sized bodies. */
async function convertedBodies(
  dir: string,
): Promise<{ bodies: Buffer[]; turns: number; bytes: number }> {
  const bodies: Buffer[] = []
  let pending: string[] = []
  let pendingBytes = 0
  let turns = 0
  let bytes = 0
  const out = new PassThrough()
  const seal = () => {
    if (pending.length === 0) return
    bodies.push(gzipSync(pending.join(''), { level: 1 }))
    pending = []
    pendingBytes = 0
  }
  let rest = ''
  out.on('data', (piece: Buffer) => {
    const lines = (rest + piece.toString('utf8')).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) {
      pending.push(`${line}\n`)
      pendingBytes += Buffer.byteLength(line) + 1
      bytes += Buffer.byteLength(line) + 1
      turns++
      if (pendingBytes >= 8 * MB || pending.length >= 20_000) seal()
    }
  })
  await push({
    paths: [dir],
    url: 'http://127.0.0.1:1',
    token: undefined,
    host: 'bench',
    statePath: join(dir, 'unused-state.json'),
    watch: false,
    dryRun: true,
    out,
    progress: silentProgress,
    signal: new AbortController().signal,
  })
  seal()
  return { bodies, turns, bytes }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** `tributary push` as a user runs it, as a child (its own RSS), to a fresh server. */
async function timedPush(
  dir: string,
  url: string,
  token: string,
): Promise<{ seconds: number; peak: number; stderr: string }> {
  const state = join(tempFolder('push-state'), 'state.json')
  const started = performance.now()
  const child = spawn(
    // The bin as npx runs it: its shebang sets the client's node flags.
    join(root, 'src/node/tributary.mjs'),
    ['push', dir, '--url', url, '--token', token, '--state', state, '--host', 'bench'],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  track('push', child)
  let stderr = ''
  child.stderr?.on('data', (piece: Buffer) => {
    stderr = (stderr + piece.toString('utf8')).slice(-4000)
  })
  let peak = 0
  const sampler = setInterval(() => {
    const m = child.pid === undefined ? undefined : memoryOf(child.pid)
    // The client's memory includes its igzip child's, when it compresses with one.
    const helpers = child.pid === undefined ? 0 : childrenRss(child.pid)
    for (const value of [m?.peak, (m?.rss ?? 0) + helpers]) {
      if (value !== undefined && Number.isFinite(value)) peak = Math.max(peak, value)
    }
  }, 50)
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)))
  clearInterval(sampler)
  if (code !== 0) throw new Error(`push exited ${code}:\n${stderr}`)
  return { seconds: (performance.now() - started) / 1000, peak, stderr }
}

export async function pushPhase(
  options: { mb: number; rounds: number; secret: string; serveEnv?: Record<string, string> },
  log: (line: string) => void,
): Promise<PushFigures> {
  const dir = tempFolder('push-history')
  try {
    log(`push: generating a ${options.mb} MB Claude Code history…`)
    const { files } = await generateHistory(dir, options.mb * MB)
    const historyBytes = files === 0 ? 0 : sizeOf(dir)
    log(
      `push: ${files} files, ${(historyBytes / MB).toFixed(0)} MB, the client's gzip by ${findCompressor().name}; converting for the raw POSTs…`,
    )
    const { bodies, turns, bytes } = await convertedBodies(dir)
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench-push')
      .setIssuedAt()
      .setExpirationTime('6h')
      .sign(new TextEncoder().encode(options.secret))
    const rounds: PushFigures['rounds'] = []
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which goes first, so a trend in the machine's load favours neither.
      const order = round % 2 === 0 ? (['raw', 'push'] as const) : (['push', 'raw'] as const)
      let rawS = 0
      let pushS = 0
      let clientPeakRss = 0
      for (const which of order) {
        const server = await startServe({
          secret: options.secret,
          ...(options.serveEnv ? { env: options.serveEnv } : {}),
        })
        try {
          if (which === 'raw') {
            const agent = keepAlive()
            const started = performance.now()
            for (const body of bodies) {
              const answer = await post([body], {
                url: server.url,
                token,
                gzip: true,
                agent,
                length: body.length,
              })
              if (answer.status !== 200)
                throw new Error(`raw POST answered ${answer.status} ${answer.problem ?? ''}`)
            }
            rawS = (performance.now() - started) / 1000
            agent.destroy()
          } else {
            const run = await timedPush(dir, server.url, token)
            pushS = run.seconds
            clientPeakRss = run.peak
            if (!/turns sent: (\d+), accepted: \1, rejected: 0/.test(run.stderr)) {
              throw new Error(`push did not have every turn accepted:\n${run.stderr}`)
            }
          }
        } finally {
          await server.stop()
        }
      }
      const ratio = rawS / pushS
      rounds.push({ rawS, pushS, ratio, clientPeakRss })
      log(
        `push round ${round + 1}: raw ${(bytes / MB / rawS).toFixed(1)} MB/s, push ${(bytes / MB / pushS).toFixed(1)} MB/s (of converted lines), ratio ${ratio.toFixed(2)}, client peak RSS ${(clientPeakRss / MB).toFixed(0)} MB`,
      )
    }
    return {
      historyBytes,
      files,
      turns,
      convertedBytes: bytes,
      rounds,
      medianRatio: median(rounds.map((r) => r.ratio)),
      maxClientPeakRss: Math.max(...rounds.map((r) => r.clientPeakRss)),
    }
  } finally {
    removeFolder(dir)
  }
}

/** The summed RSS of a process's children (0 when it has none, or they just ended). */
function childrenRss(pid: number): number {
  let children: string[]
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)
  } catch {
    return 0
  }
  return children
    .filter((c) => c !== '')
    .reduce((sum, c) => sum + (memoryOf(Number(c))?.rss || 0), 0)
}

function sizeOf(path: string): number {
  const s = statSync(path)
  if (!s.isDirectory()) return s.size
  return readdirSync(path).reduce((total, name) => total + sizeOf(join(path, name)), 0)
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]
if (isMain) {
  const mb = Number(process.env.BENCH_PUSH_MB ?? '1024')
  const rounds = Number(process.env.BENCH_PUSH_ROUNDS ?? '3')
  buildBundles()
  pushPhase({ mb, rounds, secret: `bench-secret-${'x'.repeat(32)}` }, (line) =>
    console.error(line),
  ).then(
    (figures) => console.log(JSON.stringify(figures, null, 2)),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
