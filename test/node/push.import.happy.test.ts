import { describe, expect, it } from 'vitest'
import {
  detectFormat,
  type ImportEvent,
  openConverter,
  type WireTurn,
} from '../../src/push/importer'
import { costOf, modelKey, PRICE_TABLE_DATE } from '../../src/push/prices'
import { ReplyOwners } from '../../src/push/replies'
import {
  CLAUDE_MAIN,
  CLAUDE_SESSION,
  CLAUDE_SUBAGENT,
  CODEX_CURRENT,
  CODEX_FORK,
  CODEX_LEGACY,
  CODEX_SESSION,
  codexFork,
  convert,
  finalTurns,
  fixture,
  linesOf,
  run,
  sum,
  turnsOf,
  wireProblem,
} from '../helpers/push'

const ALL = [CLAUDE_MAIN, CLAUDE_SUBAGENT, CODEX_CURRENT, CODEX_LEGACY]

/** The final state of a turn, found by its turn id. */
function turn(events: ImportEvent[], turnId: string): WireTurn {
  const found = [...finalTurns(events).values()].find((t) => t.turn_id === turnId)
  if (found === undefined) throw new Error(`no turn ${turnId}`)
  return found
}

const records = (name: string): Record<string, unknown>[] =>
  linesOf(fixture(name)).flatMap((text) => {
    try {
      return [JSON.parse(text) as Record<string, unknown>]
    } catch {
      return []
    }
  })

type Usage = Record<string, number>

/** Straight from the source: the last usage of every distinct (message.id, requestId). */
function distinctMessageUsage(name: string): Usage[] {
  const last = new Map<string, Usage>()
  for (const r of records(name)) {
    const message = r.message as { id?: string; usage?: Usage } | undefined
    if (r.type !== 'assistant' || message?.usage === undefined) continue
    last.set(`${message.id}/${r.requestId}`, message.usage)
  }
  return [...last.values()]
}

const skipsOf = (events: ImportEvent[]) =>
  events.flatMap((e) => (e.kind === 'skip' ? [e.type] : [])).sort()

describe('detectFormat: by content', () => {
  it('names each fixture from its first line alone', () => {
    expect(detectFormat(linesOf(fixture(CLAUDE_MAIN)).slice(0, 1))).toBe('claude-code')
    expect(detectFormat(linesOf(fixture(CLAUDE_SUBAGENT)).slice(0, 1))).toBe('claude-code')
    expect(detectFormat(linesOf(fixture(CODEX_CURRENT)).slice(0, 1))).toBe('codex')
    expect(detectFormat(linesOf(fixture(CODEX_LEGACY)).slice(0, 1))).toBe('codex')
  })

  it('knows a Claude Code file that opens with a record without a uuid', () => {
    const queued = {
      type: 'queue-operation',
      operation: 'enqueue',
      timestamp: '2026-11-22T14:21:00.000Z',
      sessionId: CLAUDE_SESSION,
    }
    expect(detectFormat([JSON.stringify(queued)])).toBe('claude-code')
    expect(detectFormat(['{"type":"summary","summary":"x","leafUuid":"y"}'])).toBe('claude-code')
  })

  it('reads past blank and malformed lines to the first that says', () => {
    const [first] = linesOf(fixture(CODEX_CURRENT))
    expect(detectFormat(['', '{"timestamp":', first ?? ''])).toBe('codex')
  })
})

describe('Claude Code: one turn per user/assistant/system record', () => {
  const events = convert(CLAUDE_MAIN)
  const path = fixture(CLAUDE_MAIN)

  it('maps a user record field by field, with session_meta on the first turn', () => {
    expect(turn(events, 'u-0001')).toEqual({
      tool: 'claude-code',
      host: 'laptop-7',
      session_id: CLAUDE_SESSION,
      turn_id: 'u-0001',
      seq: 3,
      role: 'user',
      timestamp: '2026-11-22T14:20:01.250Z',
      content: 'List the files in src and tell me what push does.',
      metadata: {
        parent_uuid: null,
        is_sidechain: false,
        git_branch: 'main',
        version: '2.0.31',
        extra: { userType: 'external' },
      },
      session_meta: {
        started_at: '2026-11-22T14:20:01.250Z',
        working_dir: '/home/ana/src/tributary',
        source_file: path,
        metadata: { version: '2.0.31', git_branch: 'main' },
      },
    })
    const withMeta = turnsOf(events).filter((t) => t.session_meta !== undefined)
    expect(withMeta.map((t) => t.turn_id)).toEqual(['u-0001'])
  })

  it('gives a split reply the final usage of its last line, once, and prices cache writes by lifetime', () => {
    const thinking = turn(events, 'a-0001')
    const text = turn(events, 'a-0002')
    const call = turn(events, 'a-0003')
    for (const t of [thinking, text]) {
      expect(t.tokens_in).toBeUndefined()
      expect(t.tokens_out).toBeUndefined()
      expect(t.cost_usd).toBeUndefined()
      expect(t.metadata?.cache_read_input_tokens).toBeUndefined()
      expect(t.metadata?.message_id).toBe('msg_01Ab')
      expect(t.metadata?.request_id).toBe('req_011A')
    }
    expect(thinking.metadata?.thinking).toBe('The user wants a listing first.')
    expect(thinking.content).toBeUndefined()
    expect(text.content).toBe("I'll list the directory.")
    expect(call.tool_calls).toEqual([
      { id: 'toolu_01LS', name: 'Bash', input: { command: 'ls src', description: 'List src' } },
    ])
    expect(call.model).toBe('claude-sonnet-4-5-20250929')
    expect(call.tokens_in).toBe(3)
    expect(call.tokens_out).toBe(187)
    expect(call.metadata).toMatchObject({
      cache_creation_input_tokens: 2000,
      cache_read_input_tokens: 14000,
      cache_creation: { ephemeral_5m_input_tokens: 1200, ephemeral_1h_input_tokens: 800 },
      usage_other: { service_tier: 'standard' },
      cost_source: 'calculated',
      price_table: PRICE_TABLE_DATE,
      message: { stop_reason: 'tool_use' },
    })
    // Sonnet 4.5: $3 input, $15 output, $0.30 cache read, $3.75 5m write, $6 1h write per MTok.
    const expected = (3 * 3 + 187 * 15 + 14000 * 0.3 + 1200 * 3.75 + 800 * 6) / 1e6
    expect(call.cost_usd).toBeCloseTo(expected, 12)
  })

  it('sends a reply written line after line once per line; its holder again only after other records', () => {
    const emitted = turnsOf(events).map(
      (t) => `${t.turn_id}${t.tokens_out === undefined ? '' : '*'}`,
    )
    // a-0001..a-0003 are one reply on consecutive lines: each goes out once, the last with tokens.
    expect(emitted.filter((id) => /^a-000[1-3]/.test(id))).toEqual(['a-0001', 'a-0002', 'a-0003*'])
    // a-0005 and a-0006 have a tool result between them: a-0005 goes out again without tokens.
    expect(emitted.filter((id) => /^a-000[56]/.test(id))).toEqual(['a-0005*', 'a-0005', 'a-0006*'])
    // The held line waits for the next record: the tool result after a-0003 follows it.
    expect(emitted.indexOf('a-0003*')).toBe(emitted.indexOf('u-0002') - 1)
  })

  it('sends a reply’s last line with its tokens when the file ends after it', () => {
    const lines = linesOf(fixture(CLAUDE_MAIN))
    const through = lines.findIndex((text) => text.includes('"uuid":"a-0002"')) + 1
    expect(through).toBeGreaterThan(0)
    const cut = run('claude-code', lines.slice(0, through))
    const last = cut.at(-1)
    expect(last?.fed).toBe(through + 1) // from end()
    expect(last?.event.kind === 'turn' && last.event.turn.turn_id).toBe('a-0002')
    expect(last?.event.kind === 'turn' && last.event.turn.tokens_out).toBeGreaterThan(0)
  })

  it('groups a reply whose lines are interleaved with tool results', () => {
    const first = turn(events, 'a-0005')
    const second = turn(events, 'a-0006')
    expect(first.tokens_out).toBeUndefined()
    expect(first.tool_calls).toEqual([
      {
        id: 'toolu_01R1',
        name: 'Read',
        input: { file_path: '/home/ana/src/tributary/src/app.ts' },
      },
    ])
    expect(second.tokens_in).toBe(8)
    expect(second.tokens_out).toBe(95)
    expect(second.metadata?.parent_uuid).toBe('u-0003')
  })

  it('maps tool results to tool turns, with the result text and the tool’s own record', () => {
    const ls = turn(events, 'u-0002')
    expect(ls.role).toBe('tool')
    expect(ls.content).toBe('app.ts\nconfig.ts\npush\n')
    expect(ls.metadata?.tool_results).toEqual([{ tool_use_id: 'toolu_01LS' }])
    expect(ls.metadata?.tool_use_result).toEqual({
      stdout: 'app.ts\nconfig.ts\npush\n',
      stderr: '',
      interrupted: false,
      isImage: false,
    })

    const read = turn(events, 'u-0003')
    const source = records(CLAUDE_MAIN).find((r) => r.uuid === 'u-0003') as {
      toolUseResult: { file: { content: string } }
    }
    const fileText = source.toolUseResult.file.content
    expect(read.role).toBe('tool')
    expect(read.content).toBe(fileText)
    expect(read.metadata?.tool_use_result).toMatchObject({
      type: 'text',
      file: { numLines: 199, content: { omitted_chars: fileText.length } },
    })

    const grep = turn(events, 'u-0004')
    expect(grep.content).toBe('No matches found')
    expect(grep.metadata?.tool_results).toEqual([{ tool_use_id: 'toolu_01R2', is_error: true }])
    expect(grep.metadata?.tool_use_result).toBe('Error: No matches found')
  })

  it('keeps a user turn with an image a user turn, the image as a stub without its data', () => {
    const t = turn(events, 'u-0005')
    expect(t.role).toBe('user')
    expect(t.content).toBe('Here is the screenshot.')
    expect(t.metadata?.blocks).toEqual([
      { type: 'image', media_type: 'image/png', omitted_chars: 'iVBORw0KGgo'.length * 20 },
    ])
  })

  it('maps a system record with its subtype and details', () => {
    const t = turn(events, 's-0001')
    expect(t.role).toBe('system')
    expect(t.content).toBe('Conversation compacted')
    expect(t.metadata?.extra).toMatchObject({
      subtype: 'compact_boundary',
      level: 'info',
      compactMetadata: { trigger: 'auto', preTokens: 151000 },
    })
  })

  it('takes a recorded costUSD as reported, and leaves an unknown model without cost', () => {
    const old = turn(events, 'a-0007')
    expect(old.cost_usd).toBe(0.00123)
    expect(old.metadata?.cost_source).toBe('reported')
    expect(old.metadata?.price_table).toBeUndefined()
    expect(old.metadata?.version).toBe('0.2.9')
    expect(old.metadata?.extra).toMatchObject({ durationMs: 2100 })

    const synthetic = turn(events, 'a-0008')
    expect(synthetic.model).toBe('<synthetic>')
    expect(synthetic.cost_usd).toBeUndefined()
    expect(synthetic.metadata?.cost_source).toBeUndefined()
    expect(synthetic.metadata?.extra).toMatchObject({ isApiErrorMessage: true })
  })

  it('counts the other record types as skips, and the truncated last line as an error', () => {
    expect(skipsOf(events)).toEqual(['file-history-snapshot', 'queue-operation', 'summary'])
    const errors = events.filter((e) => e.kind === 'error')
    expect(errors).toEqual([{ kind: 'error', line: 18, message: expect.stringMatching(/JSON/) }])
    const typed = records(CLAUDE_MAIN).filter((r) =>
      ['user', 'assistant', 'system'].includes(String(r.type)),
    )
    expect(finalTurns(events).size).toBe(typed.length)
  })

  it('maps a subagent transcript into the same session, as a sidechain', () => {
    const sub = convert(CLAUDE_SUBAGENT)
    const turns = [...finalTurns(sub).values()]
    expect(turns.map((t) => t.turn_id)).toEqual(['sa-u1', 'sa-a1', 'sa-a2', 'sa-u2', 'sa-a3'])
    for (const t of turns) {
      expect(t.session_id).toBe(CLAUDE_SESSION)
      expect(t.metadata?.is_sidechain).toBe(true)
      expect(t.metadata?.extra).toMatchObject({ agentId: 'a1b2c3d4' })
    }
    expect(turns[0]?.session_meta?.source_file).toBe(fixture(CLAUDE_SUBAGENT))
    expect(turns[3]?.role).toBe('tool')
    expect(turns[3]?.content).toBe('src/push/importer.ts')
    expect(turns[1]?.tokens_out).toBeUndefined()
    expect(turns[2]?.tokens_out).toBe(61)
    // Haiku 4.5: $1 input, $5 output, $0.10 cache read, $1.25 5m write per MTok.
    expect(turns[2]?.cost_usd).toBeCloseTo((4 + 61 * 5 + 3000 * 0.1 + 500 * 1.25) / 1e6, 12)
  })
})

describe('Claude Code: tokens counted once per API message', () => {
  for (const name of [CLAUDE_MAIN, CLAUDE_SUBAGENT]) {
    it(`sums equal the sums over distinct messages' final usage (${name.split('/').at(-1)})`, () => {
      const turns = [...finalTurns(convert(name)).values()]
      const usage = distinctMessageUsage(name)
      expect(usage.length).toBeGreaterThan(1)
      expect(sum(turns.map((t) => t.tokens_in))).toBe(sum(usage.map((u) => u.input_tokens)))
      expect(sum(turns.map((t) => t.tokens_out))).toBe(sum(usage.map((u) => u.output_tokens)))
      const meta = (key: string) => sum(turns.map((t) => t.metadata?.[key] as number | undefined))
      expect(meta('cache_read_input_tokens')).toBe(sum(usage.map((u) => u.cache_read_input_tokens)))
      expect(meta('cache_creation_input_tokens')).toBe(
        sum(usage.map((u) => u.cache_creation_input_tokens)),
      )
      expect(turns.filter((t) => t.tokens_out !== undefined)).toHaveLength(usage.length)
    })
  }
})

describe('Claude Code: a resumed session copies earlier replies', () => {
  const RESUMED = '3c1f9e20-7a4b-4d5e-8f60-91b2c3d4e5f6'
  // What `claude --resume` writes: the conversation so far under the new session id (ids,
  // timestamps and usage as they were), then the new session's own reply.
  const original = linesOf(fixture(CLAUDE_MAIN)).slice(0, -1) // without the truncated line
  const own = {
    type: 'assistant',
    uuid: 'r-0001',
    parentUuid: 'a-0003',
    sessionId: RESUMED,
    requestId: 'req_resumed_1',
    timestamp: '2026-11-21T08:00:00.000Z',
    message: {
      id: 'msg_resumed_1',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [{ type: 'text', text: 'Picking up where we left off.' }],
      usage: { input_tokens: 11, output_tokens: 23 },
    },
  }
  const copy = [...original.map((l) => l.replaceAll(CLAUDE_SESSION, RESUMED)), JSON.stringify(own)]
  const finals = (ledger: ReplyOwners, first: string[], second: string[]) => [
    ...finalTurns(run('claude-code', first, 'a.jsonl', ledger).map((x) => x.event)).values(),
    ...finalTurns(run('claude-code', second, 'b.jsonl', ledger).map((x) => x.event)).values(),
  ]

  it('keeps the copies as turns of the new session, their tokens counted by the first', () => {
    const turns = finals(new ReplyOwners(), original, copy)
    const usage = distinctMessageUsage(CLAUDE_MAIN)
    const ofSession = (id: string) => turns.filter((t) => t.session_id === id)
    expect(ofSession(RESUMED)).toHaveLength(ofSession(CLAUDE_SESSION).length + 1)
    expect(sum(turns.map((t) => t.tokens_out))).toBe(sum(usage.map((u) => u.output_tokens)) + 23)
    expect(sum(turns.map((t) => t.tokens_in))).toBe(sum(usage.map((u) => u.input_tokens)) + 11)
    const copies = ofSession(RESUMED).filter((t) => t.metadata?.tokens_counted_in !== undefined)
    expect(copies.length).toBeGreaterThanOrEqual(usage.length)
    for (const t of copies) {
      expect(t.metadata?.tokens_counted_in).toBe(CLAUDE_SESSION)
      expect(t.tokens_out).toBeUndefined()
      expect(t.metadata?.cache_read_input_tokens).toBeUndefined()
    }
    expect(ofSession(RESUMED).find((t) => t.turn_id === 'r-0001')?.tokens_out).toBe(23)
    for (const t of turns) expect(wireProblem(t)).toBeUndefined()
  })

  it('counts them where they were first seen, also when the copy comes first', () => {
    const turns = finals(new ReplyOwners(), copy, original)
    const usage = distinctMessageUsage(CLAUDE_MAIN)
    expect(sum(turns.map((t) => t.tokens_out))).toBe(sum(usage.map((u) => u.output_tokens)) + 23)
    const originals = turns.filter((t) => t.session_id === CLAUDE_SESSION)
    expect(sum(originals.map((t) => t.tokens_out))).toBe(0)
  })

  it('remembers who counted what through the saved ledger', () => {
    const ledger = new ReplyOwners()
    run('claude-code', original, 'a.jsonl', ledger)
    const saved = new ReplyOwners()
    saved.load(JSON.parse(JSON.stringify(ledger.takeNew())))
    expect(ledger.takeNew()).toBeUndefined() // taken once
    const later = [...finalTurns(run('claude-code', copy, 'b.jsonl', saved).map((x) => x.event))]
    expect(sum(later.map(([, t]) => t.tokens_out))).toBe(23)
    expect(saved.claim('msg_01Ab\u0000req_011A', 'someone-else')).not.toBe('someone-else')
  })

  it('keeps every claim of a long history, through growth and a reload', () => {
    const ledger = new ReplyOwners()
    const key = (i: number) => `msg_${i.toString(36)}\u0000req_${(i * 7).toString(36)}`
    for (let i = 0; i < 50_000; i++) expect(ledger.claim(key(i), `s${i % 97}`)).toBe(`s${i % 97}`)
    const reloaded = new ReplyOwners()
    reloaded.load(JSON.parse(JSON.stringify(ledger.takeNew())))
    for (let i = 0; i < 50_000; i++) {
      expect(ledger.claim(key(i), 'other')).toBe(`s${i % 97}`)
      expect(reloaded.claim(key(i), 'other')).toBe(`s${i % 97}`)
    }
    expect(reloaded.claim(key(50_000), 'other')).toBe('other')
    expect(ledger.takeNew()).toBeUndefined()
  })

  it('matches only replies with a requestId across sessions (a gateway may reuse message ids)', () => {
    const strip = (lines: string[]) =>
      lines.map((l) => {
        try {
          const { requestId: _, ...rest } = JSON.parse(l) as Record<string, unknown>
          return JSON.stringify(rest)
        } catch {
          return l
        }
      })
    const turns = finals(new ReplyOwners(), strip(original), strip(copy))
    const outOf = (id: string) =>
      sum(turns.filter((t) => t.session_id === id).map((t) => t.tokens_out))
    expect(outOf(RESUMED)).toBe(outOf(CLAUDE_SESSION) + 23)
    expect(outOf(CLAUDE_SESSION)).toBeGreaterThan(0)
  })
})

describe('Codex, current layout', () => {
  const events = convert(CODEX_CURRENT)
  const sid = CODEX_SESSION
  const at = (line: number) => turn(events, `${sid}:${line}`)

  it('opens the session from session_meta, and maps developer to system', () => {
    const first = at(2)
    expect(first).toEqual({
      tool: 'codex',
      host: 'laptop-7',
      session_id: sid,
      turn_id: `${sid}:2`,
      seq: 2,
      role: 'system',
      timestamp: '2026-11-20T10:00:00.320Z',
      content: '<permissions instructions>workspace-write</permissions instructions>',
      metadata: { codex_role: 'developer' },
      session_meta: {
        started_at: '2026-11-20T10:00:00.308Z',
        working_dir: '/home/ana/src/tributary',
        source_file: fixture(CODEX_CURRENT),
        metadata: {
          cli_version: '0.63.0',
          originator: 'codex_cli_rs',
          source: 'cli',
          model_provider: 'openai',
          git: {
            commit_hash: '4716db7',
            branch: 'i16a',
            repository_url: 'git@example.com:ana/tributary.git',
          },
        },
      },
    })
    expect(turnsOf(events).filter((t) => t.session_meta !== undefined)).toHaveLength(1)
    expect(at(4)).toMatchObject({ role: 'user', content: 'list the files and add a hello file' })
    expect(at(4).model).toBeUndefined()
  })

  it('maps a function call and its output, with the reasoning that led to it', () => {
    const call = at(10)
    expect(call.role).toBe('assistant')
    expect(call.model).toBe('gpt-5-codex')
    expect(call.tool_calls).toEqual([
      {
        id: 'call_AnMStssFtufe',
        name: 'shell',
        input: { command: ['bash', '-lc', 'ls'], workdir: '/home/ana/src/tributary' },
      },
    ])
    expect(call.metadata).toMatchObject({
      reasoning: '**Listing files first**',
      reasoning_encrypted: true,
      effort: 'high',
    })
    const output = at(13)
    expect(output.role).toBe('tool')
    expect(output.content).toBe('README.md\nsrc\ntest\n')
    expect(output.metadata).toEqual({
      call_id: 'call_AnMStssFtufe',
      output_metadata: { exit_code: 0, duration_seconds: 0.01 },
    })
  })

  it('pairs a custom_tool_call with its output like a function call', () => {
    const patch = at(15)
    expect(patch.tool_calls).toEqual([
      {
        id: 'call_fnIi6MnTDYfA',
        name: 'apply_patch',
        input: '*** Begin Patch\n*** Add File: hello.txt\n+Hello from Codex\n*** End Patch',
      },
    ])
    expect(patch.metadata).toMatchObject({ call_type: 'custom', status: 'completed' })
    expect(at(18)).toMatchObject({
      role: 'tool',
      content: 'Success. Updated the following files:\nA hello.txt\n',
      metadata: { call_id: 'call_fnIi6MnTDYfA' },
    })
  })

  it('does not make the event_msg copies of messages turns again', () => {
    const turns = [...finalTurns(events).values()]
    expect(turns.map((t) => t.seq)).toEqual([2, 3, 4, 10, 13, 15, 18, 20])
    expect(skipsOf(events)).toEqual([
      'event_msg/agent_message',
      'event_msg/agent_reasoning',
      'event_msg/patch_apply_begin',
      'event_msg/task_complete',
      'event_msg/user_message',
    ])
    expect(
      turns.filter((t) => t.content === 'Listed the files and added `hello.txt`.'),
    ).toHaveLength(1)
  })

  it('sums equal the final total_token_usage, repeated identical events counted once', () => {
    const counts = records(CODEX_CURRENT).flatMap((r) => {
      const p = r.payload as { type?: string; info?: { total_token_usage?: Usage } | null }
      return p?.type === 'token_count' && p.info?.total_token_usage
        ? [p.info.total_token_usage]
        : []
    })
    const total = counts.at(-1) as Usage
    expect(counts.length).toBeGreaterThan(3)
    const turns = [...finalTurns(events).values()]
    expect(sum(turns.map((t) => t.tokens_in))).toBe(total.input_tokens)
    expect(sum(turns.map((t) => t.tokens_out))).toBe(total.output_tokens)
    const meta = (key: string) => sum(turns.map((t) => t.metadata?.[key] as number | undefined))
    expect(meta('cached_input_tokens')).toBe(total.cached_input_tokens)
    expect(meta('reasoning_output_tokens')).toBe(total.reasoning_output_tokens)
    expect(meta('total_tokens')).toBe(total.total_tokens)
    // Each model call's tokens sit on the assistant turn it produced.
    expect(at(20)).toMatchObject({ tokens_in: 7012, tokens_out: 55 })
    expect(at(13).tokens_in).toBeUndefined()
  })
})

describe('Codex: a forked or subagent rollout copies its parent', () => {
  const PARENT = CODEX_SESSION
  const FORK = CODEX_FORK
  const parent = linesOf(fixture(CODEX_CURRENT))
  const forked = codexFork({ forked_from_id: PARENT, source: 'cli' })
  const spawned = codexFork({
    source: { subagent: { thread_spawn: { parent_thread_id: PARENT, depth: 1 } } },
  })
  const finals = (ledger: ReplyOwners, ...files: string[][]) =>
    files.flatMap((lines, i) => [
      ...finalTurns(run('codex', lines, `rollout-${i}.jsonl`, ledger).map((x) => x.event)).values(),
    ])
  const ofSession = (turns: WireTurn[], id: string) => turns.filter((t) => t.session_id === id)
  const tokens = (turns: WireTurn[]) => [
    sum(turns.map((t) => t.tokens_in)),
    sum(turns.map((t) => t.tokens_out)),
    sum(turns.map((t) => t.metadata?.cached_input_tokens as number | undefined)),
  ]

  for (const [name, fork] of [
    ['forked_from_id', forked],
    ['a subagent spawn', spawned],
    // Without the parent's session_meta copied in: its own says what it is.
    ['a review subagent', codexFork({ source: { subagent: 'review' } }).filter((_, i) => i !== 1)],
  ] as const) {
    it(`counts the copied history once, in the parent; the fork its own calls (${name})`, () => {
      const turns = finals(new ReplyOwners(), parent, fork)
      expect(tokens(ofSession(turns, PARENT))).toEqual([19552, 394, 17408])
      expect(tokens(ofSession(turns, FORK))).toEqual([14300, 190, 13600])
      // The copies stay turns of the fork, each counted turn's copy naming the parent.
      const copies = ofSession(turns, FORK).filter((t) => t.timestamp < '2026-11-20T11:00:01Z')
      expect(copies.map((t) => t.role)).toEqual(ofSession(turns, PARENT).map((t) => t.role))
      const named = copies.filter((t) => t.metadata?.tokens_counted_in !== undefined)
      expect(named.length).toBe(3)
      for (const t of named) {
        expect(t.metadata?.tokens_counted_in).toBe(PARENT)
        expect(t.tokens_in).toBeUndefined()
      }
      for (const t of turns) expect(wireProblem(t), t.turn_id).toBeUndefined()
    })
  }

  it('finds the parent through the saved ledger of an earlier push', () => {
    const ledger = new ReplyOwners()
    run('codex', parent, 'a.jsonl', ledger)
    const saved = new ReplyOwners()
    saved.load(JSON.parse(JSON.stringify(ledger.takeNew())))
    expect(tokens(finals(saved, forked))).toEqual([14300, 190, 13600])
  })

  it('counts the whole history in a fork pushed without its parent', () => {
    expect(tokens(finals(new ReplyOwners(), forked))).toEqual([33852, 584, 31008])
  })

  it('never takes a root session for a copy, even with the same counts as an earlier one', () => {
    // A scripted run repeated: another session id, the same calls and token counts.
    const again = parent.map((l) => l.replaceAll(PARENT, FORK))
    const turns = finals(new ReplyOwners(), parent, again)
    expect(tokens(ofSession(turns, PARENT))).toEqual([19552, 394, 17408])
    expect(tokens(ofSession(turns, FORK))).toEqual([19552, 394, 17408])
  })
})

describe('Codex, older layout', () => {
  const events = convert(CODEX_LEGACY)
  const sid = '5973b6c0-94b8-487b-a530-2aeb6098ae0e'

  it('takes the session from the first line, and the working dir from the environment context', () => {
    const turns = [...finalTurns(events).values()]
    expect(turns.map((t) => [t.seq, t.role])).toEqual([
      [3, 'user'],
      [4, 'user'],
      [7, 'assistant'],
      [8, 'tool'],
      [9, 'assistant'],
    ])
    for (const t of turns) {
      expect(t.session_id).toBe(sid)
      expect(t.timestamp).toBe('2025-08-14T09:30:12.762Z')
    }
    expect(turns[0]?.session_meta).toEqual({
      started_at: '2025-08-14T09:30:12.762Z',
      working_dir: '/Users/ana/dev/legacy-thing',
      source_file: fixture(CODEX_LEGACY),
      metadata: { git: { commit_hash: 'a1b2c3d', branch: 'main' } },
    })
    expect(turns[2]?.tool_calls).toEqual([
      { id: 'call_legacy1', name: 'shell', input: { command: ['cat', 'main.go'] } },
    ])
    expect(turns[2]?.metadata?.reasoning).toBe('**Reading main.go**')
    expect(turns[3]?.content).toBe('package main\n\nfunc main() {}\n')
    expect(skipsOf(events)).toEqual(['state', 'state'])
  })
})

describe('every converted turn passes the server’s wire validation', () => {
  for (const name of ALL) {
    it(name.split('/').at(-1) ?? name, () => {
      const turns = turnsOf(convert(name))
      expect(turns.length).toBeGreaterThan(3)
      for (const t of turns) expect(wireProblem(t), `${t.turn_id}`).toBeUndefined()
    })
  }
})

describe('resume: the same lines give the same turns', () => {
  for (const name of ALL) {
    it(`re-feeding from line 1 and dropping lines <= k lands the same state, for every k (${name.split('/').at(-1)})`, () => {
      const lines = linesOf(fixture(name))
      const format = detectFormat(lines) ?? 'claude-code'
      const whole = run(format, lines)
      expect(run(format, lines)).toEqual(whole)
      const expected = finalTurns(whole.map((e) => e.event))
      for (let k = 0; k <= lines.length; k++) {
        const first = whole.filter((e) => e.fed <= k).map((e) => e.event)
        const second = run(format, lines)
          .filter((e) => e.fed > k)
          .map((e) => e.event)
        expect(finalTurns([...first, ...second]), `saved at line ${k}`).toEqual(expected)
      }
    })
  }
})

describe('emitted turns are values', () => {
  for (const name of ALL) {
    it(`a turn does not change after it was emitted (${name.split('/').at(-1)})`, () => {
      const lines = linesOf(fixture(name))
      const format = detectFormat(lines) ?? 'claude-code'
      const converter = openConverter(format, { path: 'p', host: 'h' })
      const emitted: { event: ImportEvent; text: string }[] = []
      lines.forEach((text, i) => {
        for (const event of converter.feed({ line: i + 1, text })) {
          emitted.push({ event, text: JSON.stringify(event) })
        }
      })
      expect(emitted.length).toBeGreaterThan(3)
      for (const { event, text } of emitted) expect(JSON.stringify(event)).toBe(text)
    })
  }
})

describe('the price table', () => {
  const usage = {
    input: 1000,
    output: 500,
    cacheRead: 20_000,
    cacheWrite5m: 3000,
    cacheWrite1h: 1000,
  }

  it('matches API, Bedrock and Vertex spellings of one model', () => {
    for (const id of [
      'claude-sonnet-4-5-20250929',
      'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      'claude-sonnet-4-5@20250929',
      'claude-sonnet-4-5',
    ]) {
      expect(modelKey(id), id).toBe('claude-sonnet-4-5')
      expect(costOf(id, usage), id).toBeCloseTo(
        (1000 * 3 + 500 * 15 + 20_000 * 0.3 + 3000 * 3.75 + 1000 * 6) / 1e6,
        12,
      )
    }
    expect(costOf('gpt-5-codex', usage)).toBeUndefined()
    expect(costOf('<synthetic>', usage)).toBeUndefined()
  })

  it('switches to the long-context band above a model’s threshold', () => {
    // Haiku 5.5: prompts up to 100k at $0.10/$0.50, above at $0.50/$2.50 (input/output).
    const short = { input: 50_000, output: 1000, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }
    const long = { ...short, cacheRead: 60_000 }
    expect(costOf('claude-haiku-5-5', short)).toBeCloseTo((50_000 * 0.1 + 1000 * 0.5) / 1e6, 12)
    expect(costOf('claude-haiku-5-5', long)).toBeCloseTo(
      (50_000 * 0.5 + 1000 * 2.5 + 60_000 * 0.05) / 1e6,
      12,
    )
  })
})
