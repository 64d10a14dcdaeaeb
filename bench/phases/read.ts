/**
 * The read phase: `npm run serve` over a file database of BENCH_READ_TURNS turns (1,000,000) in
 * BENCH_READ_SESSIONS sessions (10,000) of one owner over a year, generated once into
 * bench/.cache/ and reused; then p50/p99 of sequential keep-alive GETs: the first page of
 * /v1/sessions, a deep page (5,000 sessions in), one session's turns, and usage by day over the
 * last 90 days.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import journal from '../../drizzle/meta/_journal.json'
import { openNodeDatabase } from '../../src/node/database'
import { applyMigrations } from '../../src/node/migrations'
import { percentile } from '../client'
import { rng } from '../corpus'
import { type Figure, figures, phaseTargets } from '../report'
import { root, startServe } from '../servers'
import { intFromEnv, log, SECRET, settings, token as tokenFor } from '../settings'

const OWNER = 'bench-reader'
/** The corpus ends here, so "the last 90 days" is the same rows on every run. */
const END = Date.UTC(2026, 11, 1)
const DAY = 86_400_000
const TOOLS = ['claude-code', 'codex', 'gemini-cli']
const HOSTS = ['laptop-1', 'laptop-2', 'ci-runner', 'desktop', 'devbox']
const MODELS = ['claude-sonnet-4-5', 'claude-opus-4-1', 'gpt-5', null]

type Native = {
  prepare(sql: string): { run(args: unknown[]): unknown }
  exec(sql: string): void
  close(): void
}

const sessionKey = (i: number) => ({
  tool: TOOLS[i % TOOLS.length] as string,
  host: HOSTS[Math.floor(i / TOOLS.length) % HOSTS.length] as string,
  sessionId: `bench-session-${i.toString().padStart(6, '0')}`,
})

/** The cached database for these sizes and this schema, generated when missing. */
async function corpusDatabase(turns: number, sessions: number) {
  const dir = join(root, 'bench', '.cache')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `read-${turns}-${sessions}-m${journal.entries.length}.db`)
  if (existsSync(path)) return path
  const building = `${path}.building`
  for (const suffix of ['', '-wal', '-shm']) rmSync(building + suffix, { force: true })
  log(`read: generating ${turns.toLocaleString('en')} turns in ${sessions} sessions (once)…`)
  const started = performance.now()
  const client = await openNodeDatabase(`file:${building}`)
  await applyMigrations(client)
  client.close()
  const Database = createRequire(import.meta.url)('libsql') as new (path: string) => Native
  const db = new Database(building)
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA synchronous = OFF')
  const session = db.prepare(
    `insert into sessions (owner, tool, host, session_id, started_at, ended_at, working_dir, source_file, metadata)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const turn = db.prepare(
    `insert into turns (owner, tool, host, session_id, turn_id, seq, role, timestamp, content, model,
       tokens_in, tokens_out, cost_usd, tool_calls, metadata) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const next = rng(17)
  const roles = ['user', 'assistant', 'assistant', 'tool']
  let written = 0
  db.exec('BEGIN')
  for (let i = 0; i < sessions; i++) {
    const key = sessionKey(i)
    const count = Math.floor(turns / sessions) + (i < turns % sessions ? 1 : 0)
    // Sessions spread over the year before END, each up to about two hours long.
    const start =
      END - 365 * DAY + Math.floor((i / sessions) * 365 * DAY) + Math.floor(next() * 3_600_000)
    const step = Math.max(1000, Math.floor((next() * 7_200_000) / Math.max(count, 1)))
    const model = MODELS[i % MODELS.length] ?? null
    const end = start + step * Math.max(count - 1, 0)
    session.run([
      OWNER,
      key.tool,
      key.host,
      key.sessionId,
      new Date(start).toISOString(),
      new Date(end).toISOString(),
      `/home/dev/project-${i % 50}`,
      `~/.sessions/${key.sessionId}.jsonl`,
      JSON.stringify({ branch: `b-${i % 7}` }),
    ])
    for (let t = 0; t < count; t++) {
      const assistant = t % 2 === 1
      turn.run([
        OWNER,
        key.tool,
        key.host,
        key.sessionId,
        `${key.sessionId}:${t}`,
        t,
        roles[t % roles.length],
        new Date(start + step * t).toISOString(),
        `turn ${t} of session ${i}: ${'lorem ipsum dolor sit amet '.repeat(1 + (t % 8))}`,
        assistant ? (t % 10 === 9 ? MODELS[(i + 1) % MODELS.length] : model) : null,
        assistant ? 500 + Math.floor(next() * 5000) : null,
        assistant ? 50 + Math.floor(next() * 800) : null,
        assistant ? Math.round(next() * 2000) / 100_000 : null,
        t % 4 === 3 ? JSON.stringify([{ name: 'bash', input: { cmd: `ls ${t}` } }]) : null,
        null,
      ])
      if (++written % 50_000 === 0) {
        db.exec('COMMIT')
        db.exec('BEGIN')
      }
    }
  }
  db.exec('COMMIT')
  db.exec('ANALYZE')
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  db.close()
  renameSync(building, path)
  for (const suffix of ['-wal', '-shm']) rmSync(building + suffix, { force: true })
  log(`read: generated in ${Math.round((performance.now() - started) / 1000)} s`)
  return path
}

function getTimed(
  url: string,
  token: string,
  agent: Agent,
): Promise<{ ms: number; status: number; body: string }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const pieces: Buffer[] = []
      res.on('data', (p: Buffer) => pieces.push(p))
      res.on('error', reject)
      res.on('end', () =>
        resolve({
          ms: performance.now() - started,
          status: res.statusCode ?? 0,
          body: Buffer.concat(pieces).toString('utf8'),
        }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

export async function readPhase(): Promise<void> {
  const turns = intFromEnv('BENCH_READ_TURNS', 1_000_000)
  const sessions = Math.min(intFromEnv('BENCH_READ_SESSIONS', 10_000), turns)
  const path = await corpusDatabase(turns, sessions)
  const server = await startServe({ secret: SECRET, env: { LIBSQL_URL: `file:${path}` } })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    const token = await tokenFor(OWNER)
    const get = async (path: string) => {
      const answer = await getTimed(`${server.url}${path}`, token, agent)
      if (answer.status !== 200) throw new Error(`${path}: HTTP ${answer.status} ${answer.body}`)
      return answer
    }
    // The cursor of the page 5,000 sessions in (or half way on a smaller corpus).
    const depth = Math.min(100, Math.floor(sessions / 100))
    let cursor: string | null = null
    for (let page = 0; page < depth; page++) {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`
      cursor = (
        JSON.parse((await get(`/v1/sessions?limit=50${query}`)).body) as {
          next_cursor: string | null
        }
      ).next_cursor
    }
    const deep = `/v1/sessions?limit=50${cursor === null ? '' : `&cursor=${cursor}`}`
    const next = rng(5)
    const turnsPath = () => {
      const k = sessionKey(Math.floor(next() * sessions))
      return `/v1/sessions/${k.tool}/${k.host}/${k.sessionId}/turns`
    }
    const from = new Date(END - 90 * DAY).toISOString().slice(0, 10)
    const to = new Date(END).toISOString().slice(0, 10)
    const usage = `/v1/usage?group_by=day&from=${from}&to=${to}`
    const usageCheck = JSON.parse((await get(usage)).body) as {
      rows: unknown[]
      totals: { turns: number }
    }
    const cases = [
      {
        id: 'read-list',
        label: 'Node: /v1/sessions first page (50)',
        path: () => '/v1/sessions',
        n: 60,
        max: 20,
      },
      {
        id: 'read-deep',
        label: `Node: /v1/sessions page ${depth + 1} (50)`,
        path: () => deep,
        n: 60,
        max: 20,
      },
      {
        id: 'read-turns',
        label: "Node: a session's turns page (50)",
        path: turnsPath,
        n: 100,
        max: 10,
      },
      {
        id: 'read-usage',
        label: 'Node: /v1/usage by day, 90 days',
        path: () => usage,
        n: 15,
        max: 100,
      },
    ]
    for (const c of cases) for (let i = 0; i < 5; i++) await get(c.path()) // warm-up
    const samples = new Map<string, number[]>(cases.map((c) => [c.id, []]))
    const perRound = new Map<string, number[]>(cases.map((c) => [c.id, []]))
    for (let round = 0; round < settings.rounds; round++) {
      for (const c of cases) {
        const times: number[] = []
        for (let i = 0; i < c.n; i++) times.push((await get(c.path())).ms)
        times.sort((a, b) => a - b)
        samples.get(c.id)?.push(...times)
        perRound.get(c.id)?.push(Math.round(percentile(times, 50) * 100) / 100)
      }
    }
    const round2 = (n: number) => Math.round(n * 100) / 100
    const measured = cases.map((c): Figure => {
      const sorted = [...(samples.get(c.id) ?? [])].sort((a, b) => a - b)
      return {
        id: c.id,
        group: 'read',
        label: c.label,
        p50Ms: round2(percentile(sorted, 50)),
        p99Ms: round2(percentile(sorted, 99)),
        runs: perRound.get(c.id) ?? [],
        note: `${sorted.length} sequential GETs over ${settings.rounds} rounds, keep-alive; ${turns.toLocaleString('en')} turns, ${sessions} sessions${c.id === 'read-usage' ? `; ${usageCheck.totals.turns.toLocaleString('en')} turns in range, ${usageCheck.rows.length} days` : ''}`,
      }
    })
    figures.push(...measured)
    cases.forEach((c, i) => {
      const p50 = measured[i]?.p50Ms ?? Number.POSITIVE_INFINITY
      phaseTargets.push({
        target: `${c.label.replace('Node: ', '')} p50 < ${c.max} ms`,
        value: `${p50} ms`,
        met: p50 < c.max,
      })
    })
  } finally {
    agent.destroy()
    await server.stop()
  }
}
