/**
 * `tributary push` end to end against a real Node server on a temporary file database: what
 * lands is exactly the converted turns, a second push sends nothing, appended lines alone are
 * sent, a replaced file is sent again, and --watch picks up a line appended while it runs.
 */

import { execFile } from 'node:child_process'
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { basename, join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultRoots } from '../../src/push/files'
import { barProgress } from '../../src/push/progress'
import { coveredPrefix } from '../../src/push/sender'
import { type Stack, sleep, startStack } from '../helpers/node'
import { CODEX_CURRENT, CODEX_FORK, CODEX_SESSION, codexFork } from '../helpers/push'
import { dryRun, pushAs, tempDir } from '../helpers/pushing'

const fixtures = fileURLToPath(new URL('../push/fixtures/', import.meta.url))
const sample = fileURLToPath(new URL('../../sample/turns.ndjson', import.meta.url))
const repo = fileURLToPath(new URL('../../', import.meta.url))
const run = promisify(execFile)

let stack: Stack
let owners = 0
const owner = () => `push-owner-${++owners}-${Date.now()}`

beforeAll(async () => {
  stack = await startStack()
})
afterAll(async () => {
  await stack?.close()
})

/** A copy of every fixture (Claude Code with a subagent, both Codex layouts) and the sample. */
function sources(): string {
  const dir = tempDir()
  cpSync(fixtures, dir, { recursive: true })
  cpSync(sample, join(dir, 'wire', 'turns.jsonl'), { recursive: true })
  return dir
}

type Row = { key: string; tokens_in: number | null; tokens_out: number | null }

async function rowsOf(who: string): Promise<Row[]> {
  const result = await stack.reader.execute({
    sql: `select tool, host, session_id, turn_id, tokens_in, tokens_out from turns
          where owner = ? order by tool, host, session_id, turn_id`,
    args: [who],
  })
  return result.rows.map((r) => ({
    key: [r.tool, r.host, r.session_id, r.turn_id].join('|'),
    tokens_in: r.tokens_in === null ? null : Number(r.tokens_in),
    tokens_out: r.tokens_out === null ? null : Number(r.tokens_out),
  }))
}

/** The rows the converted turns make: the last emission of each key, sorted like rowsOf. */
function expectedRows(turns: Record<string, unknown>[]): Row[] {
  const byKey = new Map<string, Row>()
  for (const t of turns) {
    const key = [t.tool, t.host, t.session_id, t.turn_id].join('|')
    byKey.set(key, {
      key,
      tokens_in: (t.tokens_in as number | undefined) ?? null,
      tokens_out: (t.tokens_out as number | undefined) ?? null,
    })
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

describe('tributary push', () => {
  it('stores exactly the converted turns and token sums; a second push sends nothing', async () => {
    const dir = sources()
    const who = owner()
    const converted = await dryRun([dir])
    expect(new Set(converted.map((t) => t.tool))).toEqual(
      new Set(['claude-code', 'codex', 'claude-code']),
    )
    const state = join(tempDir(), 'state.json')
    const first = await pushAs(stack.server.url, who, [dir], { statePath: state, maxLines: 7 })
    expect(first.rejected).toEqual([])
    // Turns are counted once each; a split reply's earlier line sent again is an update.
    const distinct = expectedRows(converted).length
    expect(distinct).toBeLessThan(converted.length)
    expect(first.turnsSent).toBe(distinct)
    expect(first.accepted).toBe(distinct)
    expect(first.updates).toBe(converted.length - distinct)
    expect(first.resent).toBe(0)
    expect(first.filesRead).toBe(first.files)
    const rows = await rowsOf(who)
    expect(rows).toEqual(expectedRows(converted))
    expect(rows.length).toBeGreaterThan(20)

    const second = await pushAs(stack.server.url, who, [dir], { statePath: state })
    expect(second.turnsSent).toBe(0)
    // Only the fixture's truncated last line is read again (it may yet be completed), and is
    // reported again as malformed.
    expect(second.records).toBe(1)
    expect(second.malformed).toEqual(
      first.malformed.filter((m) => m.line === second.malformed[0]?.line),
    )
    expect(second.malformed[0]?.file).toContain('8d0e7c1a')
    expect(second.filesUnchanged).toBe(first.files - 1)
    expect(await rowsOf(who)).toEqual(rows)
  })

  it('sends only the appended lines, and a replaced file again from the start', async () => {
    const dir = tempDir()
    const file = join(dir, 'turns.jsonl')
    const lines = readFileSync(sample, 'utf8').trimEnd().split('\n')
    writeFileSync(file, `${lines.slice(0, 5).join('\n')}\n`)
    const who = owner()
    const state = join(tempDir(), 'state.json')
    expect((await pushAs(stack.server.url, who, [dir], { statePath: state })).accepted).toBe(5)
    appendFileSync(file, `${lines.slice(5).join('\n')}\n`)
    const appended = await pushAs(stack.server.url, who, [dir], { statePath: state })
    expect(appended.turnsSent).toBe(lines.length - 5)
    expect(appended.accepted).toBe(lines.length - 5)
    expect((await rowsOf(who)).length).toBe(lines.length)

    // Another file under the same name (a new inode): read from line 1 again.
    writeFileSync(`${file}.new`, `${lines.join('\n')}\n`)
    renameSync(`${file}.new`, file)
    const replaced = await pushAs(stack.server.url, who, [dir], { statePath: state })
    expect(replaced.turnsSent).toBe(lines.length)
    expect((await rowsOf(who)).length).toBe(lines.length)
  })

  it('resumes a Claude Code file by re-feeding it: appended records alone are sent', async () => {
    const dir = tempDir()
    const file = join(dir, 'session.jsonl')
    // The fixture without its truncated last line.
    const whole = readFileSync(
      join(fixtures, 'claude-code/8d0e7c1a-5b2f-4c3e-9a71-2f6d4e8b0c11.jsonl'),
      'utf8',
    )
    const source = whole.slice(0, whole.lastIndexOf('\n') + 1)
    writeFileSync(file, source)
    const who = owner()
    const state = join(tempDir(), 'state.json')
    const first = await pushAs(stack.server.url, who, [file], { statePath: state })
    expect(first.accepted).toBeGreaterThan(0)
    const before = (await rowsOf(who)).length
    const last = JSON.parse(
      source
        .trimEnd()
        .split('\n')
        .filter((l) => l.includes('"uuid"'))
        .at(-1) ?? '{}',
    )
    const added = {
      type: 'user',
      uuid: 'appended-0001',
      parentUuid: last.uuid,
      sessionId: last.sessionId,
      timestamp: '2026-11-20T12:00:00.000Z',
      cwd: last.cwd,
      message: { role: 'user', content: 'one more question' },
    }
    appendFileSync(file, `${JSON.stringify(added)}\n`)
    const second = await pushAs(stack.server.url, who, [file], { statePath: state })
    expect(second.turnsSent).toBe(1)
    expect(second.accepted).toBe(1)
    expect((await rowsOf(who)).length).toBe(before + 1)
  })

  it('a file that ends inside a reply: its last line goes with the tokens, then gives them to the next', async () => {
    const dir = tempDir()
    const file = join(dir, 'session.jsonl')
    const lines = readFileSync(
      join(fixtures, 'claude-code/8d0e7c1a-5b2f-4c3e-9a71-2f6d4e8b0c11.jsonl'),
      'utf8',
    ).split('\n')
    const at = (uuid: string) => lines.findIndex((l) => l.includes(`"uuid":"${uuid}"`))
    // a-0001..a-0003 are one reply; the file ends after its second line, as a live session can.
    writeFileSync(file, `${lines.slice(0, at('a-0002') + 1).join('\n')}\n`)
    const who = owner()
    const state = join(tempDir(), 'state.json')
    const tokensOf = async (turnId: string) =>
      (await rowsOf(who)).find((r) => r.key.endsWith(`|${turnId}`))?.tokens_out
    const first = await pushAs(stack.server.url, who, [file], { statePath: state })
    expect(first.rejected).toEqual([])
    expect(await tokensOf('a-0002')).toBe(6) // the partial count its line carries, for now

    // Pushed again unchanged: nothing; the reply's next line appended: it takes the tokens.
    expect((await pushAs(stack.server.url, who, [file], { statePath: state })).turnsSent).toBe(0)
    appendFileSync(file, `${lines[at('a-0003')]}\n`)
    const second = await pushAs(stack.server.url, who, [file], { statePath: state })
    expect(second.turnsSent).toBe(1)
    expect(second.updates).toBe(1)
    expect(await tokensOf('a-0002')).toBeNull()
    expect(await tokensOf('a-0003')).toBe(187)
    const total = (await rowsOf(who)).reduce((sum, r) => sum + (r.tokens_out ?? 0), 0)
    expect(total).toBe(187)
    expect((await pushAs(stack.server.url, who, [file], { statePath: state })).turnsSent).toBe(0)
  })

  it('a session resumed after its original was pushed: its copies land without their tokens', async () => {
    const dir = tempDir()
    const whole = readFileSync(
      join(fixtures, 'claude-code/8d0e7c1a-5b2f-4c3e-9a71-2f6d4e8b0c11.jsonl'),
      'utf8',
    )
    const source = whole.slice(0, whole.lastIndexOf('\n') + 1)
    writeFileSync(join(dir, 'original.jsonl'), source)
    const who = owner()
    const state = join(tempDir(), 'state.json')
    const first = await pushAs(stack.server.url, who, [dir], { statePath: state })
    expect(first.rejected).toEqual([])
    const sums = async () => {
      const rows = await rowsOf(who)
      return {
        turns: rows.length,
        tokens_in: rows.reduce((total, r) => total + (r.tokens_in ?? 0), 0),
        tokens_out: rows.reduce((total, r) => total + (r.tokens_out ?? 0), 0),
      }
    }
    const before = await sums()
    expect(before.tokens_out).toBeGreaterThan(0)
    // The ledger of who counted which reply, beside the state; a line torn by a crash is passed over.
    const ledger = readFileSync(`${state}.replies`, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
    expect(ledger.length).toBeGreaterThan(0)
    expect(JSON.parse(ledger[0] ?? '{}').server).toBe(stack.server.url.replace(/\/+$/, ''))
    appendFileSync(`${state}.replies`, '{"server":"http://127.0.0.1:1","cla')

    // `claude --resume` later: a new file, the conversation copied in under a new session id.
    const resumed = '3c1f9e20-7a4b-4d5e-8f60-91b2c3d4e5f6'
    const own = {
      type: 'assistant',
      uuid: 'r-0001',
      parentUuid: null,
      sessionId: resumed,
      requestId: 'req_resumed_1',
      timestamp: '2026-11-21T08:00:00.000Z',
      message: {
        id: 'msg_resumed_1',
        role: 'assistant',
        content: 'Back.',
        usage: { input_tokens: 3, output_tokens: 5 },
      },
    }
    writeFileSync(
      join(dir, 'resumed.jsonl'),
      `${source.replaceAll('8d0e7c1a-5b2f-4c3e-9a71-2f6d4e8b0c11', resumed)}${JSON.stringify(own)}\n`,
    )
    const second = await pushAs(stack.server.url, who, [dir], { statePath: state })
    expect(second.rejected).toEqual([])
    expect(second.filesRead).toBe(1)
    expect(await sums()).toEqual({
      turns: before.turns * 2 + 1,
      tokens_in: before.tokens_in + 3,
      tokens_out: before.tokens_out + 5,
    })
    // The new session's own reply was claimed after the torn line, on a line of its own.
    const lines = readFileSync(`${state}.replies`, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
    expect(lines.filter((l) => l.endsWith('"cla'))).toHaveLength(1)
    for (const l of lines.filter((l) => !l.endsWith('"cla')))
      expect(JSON.parse(l).server).toBeTruthy()
    expect(lines.at(-1)).toContain(resumed)
    const copies = await stack.reader.execute({
      sql: `select count(*) as n from turns where owner = ? and session_id = ?
            and json_extract(metadata, '$.tokens_counted_in') = ?`,
      args: [who, resumed, '8d0e7c1a-5b2f-4c3e-9a71-2f6d4e8b0c11'],
    })
    expect(Number(copies.rows[0]?.n)).toBeGreaterThan(0)
  })

  it('a record too long for a line lands as its turn, its longest strings cut and named', async () => {
    const dir = tempDir()
    const file = join(dir, 'big.jsonl')
    const session = '5b0a7c3e-1d2f-4e6a-9b8c-7d6e5f4a3b2c'
    const common = { sessionId: session, cwd: '/w', version: '2.0.31' }
    const records = [
      {
        ...common,
        type: 'assistant',
        uuid: 'big-a1',
        parentUuid: null,
        timestamp: '2026-11-20T10:00:00.000Z',
        requestId: 'req_big',
        message: {
          id: 'msg_big',
          role: 'assistant',
          model: 'claude-sonnet-4-5-20250929',
          content: [
            {
              type: 'tool_use',
              id: 'toolu_1',
              name: 'Write',
              input: { content: 'w'.repeat(1_500_000) },
            },
          ],
          usage: { input_tokens: 5, output_tokens: 90_000 },
        },
      },
      {
        ...common,
        type: 'user',
        uuid: 'big-u1',
        parentUuid: 'big-a1',
        timestamp: '2026-11-20T10:00:01.000Z',
        message: {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'ü'.repeat(2_000_000) },
          ],
        },
      },
    ]
    writeFileSync(file, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`)
    const who = owner()
    const summary = await pushAs(stack.server.url, who, [file])
    expect(summary.rejected).toEqual([])
    expect(summary.accepted).toBe(2)
    expect(summary.truncated).toEqual([
      { file, line: 1, fields: ['tool_calls.0.input.content'] },
      { file, line: 2, fields: ['content'] },
    ])
    const stored = await stack.reader.execute({
      sql: `select turn_id, tokens_out, length(content) as chars, metadata from turns
            where owner = ? order by turn_id`,
      args: [who],
    })
    const [a1, u1] = stored.rows
    expect(a1?.tokens_out).toBe(90_000)
    expect(JSON.parse(String(a1?.metadata)).truncated).toEqual([
      { field: 'tool_calls.0.input.content', chars: 1_500_000 },
    ])
    expect(Number(u1?.chars)).toBeGreaterThan(400_000)
    expect(Number(u1?.chars)).toBeLessThan(2_000_000)
    expect(JSON.parse(String(u1?.metadata)).truncated).toEqual([
      { field: 'content', chars: 2_000_000 },
    ])
  })

  it('--watch sends a line appended while it runs, and saves state when stopped', async () => {
    const dir = tempDir()
    const file = join(dir, 'turns.jsonl')
    const lines = readFileSync(sample, 'utf8').trimEnd().split('\n')
    writeFileSync(file, `${lines.slice(0, 3).join('\n')}\n`)
    const who = owner()
    const state = join(tempDir(), 'state.json')
    const stop = new AbortController()
    const running = pushAs(stack.server.url, who, [dir], {
      statePath: state,
      watch: true,
      pollMs: 200,
      signal: stop.signal,
    })
    const until = async (count: number) => {
      const deadline = Date.now() + 10_000
      while ((await rowsOf(who)).length < count && Date.now() < deadline) await sleep(50)
      return (await rowsOf(who)).length
    }
    expect(await until(3)).toBe(3)
    appendFileSync(file, `${lines[3]}\n`)
    expect(await until(4)).toBe(4)
    stop.abort()
    const summary = await running
    expect(summary.accepted).toBe(4)
    const saved = JSON.parse(readFileSync(state, 'utf8'))
    const entry = Object.values(
      saved.servers as Record<string, Record<string, { line: number }>>,
    )[0]
    expect(entry?.[file]?.line).toBe(4)
  })

  it('a Codex fork whose parent ran on after it (the later mtime) counts the copied history once', async () => {
    const dir = tempDir()
    const codex = join(dir, 'sessions', '2026', '11', '20')
    mkdirSync(codex, { recursive: true })
    const parent = join(codex, basename(CODEX_CURRENT))
    const fork = join(codex, `rollout-2026-11-20T11-00-00-${CODEX_FORK}.jsonl`)
    cpSync(join(fixtures, CODEX_CURRENT), parent)
    writeFileSync(fork, `${codexFork({ forked_from_id: CODEX_SESSION }).join('\n')}\n`)
    const now = Date.now() / 1000
    utimesSync(fork, now - 3600, now - 3600)
    utimesSync(parent, now, now)
    const who = owner()
    const summary = await pushAs(stack.server.url, who, [dir])
    expect(summary.rejected).toEqual([])
    const sums = await stack.reader.execute({
      sql: `select session_id, sum(tokens_in) as i, sum(tokens_out) as o, count(*) as n,
              count(json_extract(metadata, '$.tokens_counted_in')) as copies
            from turns where owner = ? group by session_id order by session_id`,
      args: [who],
    })
    expect(
      sums.rows.map((r) => [r.session_id, Number(r.i), Number(r.o), Number(r.copies)]),
    ).toEqual([
      [CODEX_SESSION, 19552, 394, 0],
      [CODEX_FORK, 14300, 190, 3],
    ])
  })

  it('--dry-run converts and sends nothing', async () => {
    const dir = sources()
    const turns = await dryRun([dir])
    expect(turns.length).toBeGreaterThan(20)
    for (const t of turns) expect(typeof t.turn_id).toBe('string')
  })

  it("the command's summary counts distinct turns, and the lines that update one apart", async () => {
    const turns = await dryRun([fixtures])
    const distinct = expectedRows(turns).length
    const { stderr } = await run(
      process.execPath,
      ['src/node/tributary.mjs', 'push', '--dry-run', fixtures],
      { cwd: repo, maxBuffer: 16 * 1024 * 1024 },
    )
    expect(stderr).toContain(`turns converted: ${distinct} (dry run: nothing sent)`)
    expect(stderr).toContain(`updates printed: ${turns.length - distinct} (`)
  })
})

describe('the progress bar', () => {
  /** What the bar draws for a pass with 3 turns sent and 2 accepted, as a terminal gets it. */
  async function drawn(options: { dryRun?: boolean }): Promise<string> {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough
    Object.assign(stream, {
      isTTY: true,
      columns: 200,
      cursorTo: () => true,
      clearLine: () => true,
    })
    let text = ''
    stream.on('data', (piece: Buffer) => {
      text += piece.toString('utf8')
    })
    const bar = barProgress(stream, options)
    bar.begin({ files: 1, bytes: 1024 * 1024 })
    bar.read(512 * 1024)
    bar.turns(3, 2)
    bar.fileDone({
      path: 'a',
      format: 'codex',
      records: 3,
      turns: 3,
      skipped: 0,
      malformed: 0,
      from: 'new',
    })
    bar.end()
    await new Promise((resolve) => setImmediate(resolve))
    return text
  }

  it('counts accepted turns of those sent, and in a dry run the turns converted', async () => {
    expect(await drawn({})).toContain('turns 2/3 accepted')
    const dry = await drawn({ dryRun: true })
    expect(dry).toContain('turns 3 converted')
    expect(dry).not.toContain('accepted')
  })
})

describe('defaultRoots', () => {
  it('reads ~/.claude and ~/.config/claude, a symlinked one once; $CLAUDE_CONFIG_DIR instead', async () => {
    const home = tempDir()
    mkdirSync(join(home, '.claude', 'projects'), { recursive: true })
    mkdirSync(join(home, '.config'), { recursive: true })
    mkdirSync(join(home, '.codex', 'sessions'), { recursive: true })
    const found = async (env: Record<string, string>) =>
      (await defaultRoots({ HOME: home, ...env })).map((r) => [r.tool, r.path, r.exists])
    expect(await found({})).toEqual([
      ['Claude Code', join(home, '.claude', 'projects'), true],
      ['Claude Code', join(home, '.config', 'claude', 'projects'), false],
      ['Codex', join(home, '.codex', 'sessions'), true],
      ['Codex', join(home, '.codex', 'archived_sessions'), false],
    ])
    symlinkSync(join(home, '.claude'), join(home, '.config', 'claude'))
    expect((await found({})).filter(([tool]) => tool === 'Claude Code')).toEqual([
      ['Claude Code', join(home, '.claude', 'projects'), true],
    ])
    const other = join(home, 'elsewhere')
    mkdirSync(join(other, 'projects'), { recursive: true })
    expect((await found({ CLAUDE_CONFIG_DIR: `${other}, /nowhere` })).slice(0, 2)).toEqual([
      ['Claude Code', join(other, 'projects'), true],
      ['Claude Code', '/nowhere/projects', false],
    ])
  })
})

describe('coveredPrefix', () => {
  const summary = (accepted: number, errorLines: number[]) => ({
    accepted,
    rejected: errorLines.length,
    errors: errorLines.map((line) => ({ line, code: 'INVALID_FIELD', message: 'x' })),
    errors_truncated: false,
  })
  it('counts the accepted lines and the rejected ones among them, stopping at the first gap', () => {
    expect(coveredPrefix(summary(0, []), 10)).toBe(0)
    expect(coveredPrefix(summary(3, []), 10)).toBe(3)
    expect(coveredPrefix(summary(3, [2]), 10)).toBe(4)
    expect(coveredPrefix(summary(3, [2, 9]), 10)).toBe(4)
    expect(coveredPrefix(summary(10, []), 10)).toBe(10)
  })
})
