import { describe, expect, it } from 'vitest'
import { detectFormat, type ImportEvent } from '../../src/push/importer'
import { finalTurns, run, sum, turnsOf, wireProblem } from '../helpers/push'

const S = 'f3a9c1d2-0b4e-4a6f-8c2d-7e5b9a1c3d40'
const base = {
  sessionId: S,
  cwd: '/home/ana/p',
  version: '2.0.31',
  gitBranch: 'main',
  isSidechain: false,
}
const user = (uuid: string, content: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    ...base,
    type: 'user',
    uuid,
    timestamp: '2026-11-22T10:00:00.000Z',
    message: { role: 'user', content },
    ...extra,
  })
const assistant = (
  uuid: string,
  id: string,
  usage: Record<string, number>,
  extra: Record<string, unknown> = {},
  content: unknown[] = [{ type: 'text', text: 'ok' }],
) =>
  JSON.stringify({
    ...base,
    type: 'assistant',
    uuid,
    requestId: `req_${id}`,
    timestamp: '2026-11-22T10:00:01.000Z',
    message: { id, role: 'assistant', model: 'claude-sonnet-4-5-20250929', content, usage },
    ...extra,
  })

const events = (format: 'claude-code' | 'codex', lines: string[]): ImportEvent[] =>
  run(format, lines).map((e) => e.event)
const errors = (list: ImportEvent[]) => list.filter((e) => e.kind === 'error')

const codexMeta = JSON.stringify({
  timestamp: '2026-11-20T10:00:00.000Z',
  type: 'session_meta',
  payload: { id: 'c-1', timestamp: '2026-11-20T10:00:00.000Z', cwd: '/w' },
})
const codexItem = (payload: Record<string, unknown>, timestamp = '2026-11-20T10:00:01.000Z') =>
  JSON.stringify({ timestamp, type: 'response_item', payload })
const codexCount = (total: Record<string, number>, last?: Record<string, number>) =>
  JSON.stringify({
    timestamp: '2026-11-20T10:00:02.000Z',
    type: 'event_msg',
    payload: {
      type: 'token_count',
      info: { total_token_usage: total, ...(last ? { last_token_usage: last } : {}) },
    },
  })
const tokens = (input: number, output: number) => ({
  input_tokens: input,
  cached_input_tokens: 0,
  output_tokens: output,
  reasoning_output_tokens: 0,
  total_tokens: input + output,
})

describe('malformed source lines are reported and skipped, never stopping the run', () => {
  it('reports a truncated or malformed line by its line number and converts the rest', () => {
    const good = user('u1', 'hello')
    const list = events('claude-code', [
      good,
      good.slice(0, 40),
      '',
      'not json',
      user('u2', 'next'),
    ])
    expect(errors(list)).toEqual([
      { kind: 'error', line: 2, message: expect.stringMatching(/malformed JSON/) },
      { kind: 'error', line: 4, message: expect.stringMatching(/malformed JSON/) },
    ])
    expect(turnsOf(list).map((t) => [t.turn_id, t.seq])).toEqual([
      ['u1', 1],
      ['u2', 5],
    ])
    // A blank line is neither a turn, a skip nor an error.
    expect(list.filter((e) => e.line === 3)).toEqual([])
  })

  it('reports JSON that is not an object, in both formats, without echoing the line', () => {
    for (const format of ['claude-code', 'codex'] as const) {
      const list = events(format, ['[1,2,3]', '42', '"secret-token-value"'])
      expect(list.map((e) => e.kind)).toEqual(['error', 'error', 'error'])
      for (const e of list) {
        expect(e.kind === 'error' && e.message).toBe('not a JSON object')
      }
    }
  })

  it('reports a turn record without a session id, or with no timestamp to go by', () => {
    const noSession = JSON.stringify({ type: 'user', uuid: 'x', timestamp: '2026-11-22T10:00:00Z' })
    const noTime = JSON.stringify({ ...base, type: 'user', uuid: 'y', message: { content: 'a' } })
    const list = events('claude-code', [noTime, noSession, user('u1', 'hi'), noTime])
    expect(errors(list).map((e) => e.line)).toEqual([1, 2])
    // Once a timestamp was seen, a record without one takes the latest.
    const late = finalTurns(list)
    expect([...late.values()].map((t) => [t.turn_id, t.timestamp])).toEqual([
      ['u1', '2026-11-22T10:00:00.000Z'],
      ['y', '2026-11-22T10:00:00.000Z'],
    ])
  })

  it('keeps token counting right across a malformed line inside a reply group', () => {
    const usage1 = { input_tokens: 5, output_tokens: 2 }
    const usage2 = { input_tokens: 5, output_tokens: 40 }
    const list = events('claude-code', [
      assistant('a1', 'msg_1', usage1),
      '{"type":"assistant","uuid":"a2","mess',
      assistant('a3', 'msg_1', usage2),
    ])
    const turns = [...finalTurns(list).values()]
    expect(sum(turns.map((t) => t.tokens_out))).toBe(40)
    expect(turns.find((t) => t.turn_id === 'a3')?.tokens_out).toBe(40)
  })

  it('reports a Codex item that comes before any session record', () => {
    const list = events('codex', [
      codexItem({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a' }] }),
      codexMeta,
    ])
    expect(errors(list)).toEqual([
      { kind: 'error', line: 1, message: 'message before the session record' },
    ])
  })
})

describe('records that become no turn are counted skips', () => {
  it('counts unknown Claude Code record types and turn types without a uuid', () => {
    const list = events('claude-code', [
      JSON.stringify({ type: 'progress', uuid: 'p1', sessionId: S, data: {} }),
      JSON.stringify({ type: 'user', sessionId: S, message: { content: 'no uuid' } }),
      JSON.stringify({ sessionId: S }),
      JSON.stringify({ type: 'tag', tag: 'x' }),
    ])
    expect(list).toEqual([
      { kind: 'skip', line: 1, type: 'progress' },
      { kind: 'skip', line: 2, type: 'user' },
      { kind: 'skip', line: 3, type: '(no type)' },
      { kind: 'skip', line: 4, type: 'tag' },
    ])
  })

  it('counts Codex reasoning that no assistant turn follows, and a second session record', () => {
    const list = events('codex', [
      codexMeta,
      codexItem({ type: 'reasoning', summary: [{ type: 'summary_text', text: 'hm' }] }),
      codexItem({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'stop' }] }),
      codexMeta.replace('"c-1"', '"c-parent"'),
      codexItem({ type: 'ghost_snapshot', ghost_commit: {} }),
      JSON.stringify({
        timestamp: '2026-11-20T10:05:00.000Z',
        type: 'compacted',
        payload: { message: 'summary', replacement_history: [] },
      }),
    ])
    expect(list.filter((e) => e.kind === 'skip')).toEqual([
      { kind: 'skip', line: 2, type: 'response_item/reasoning' },
      { kind: 'skip', line: 4, type: 'session_meta' },
      { kind: 'skip', line: 5, type: 'response_item/ghost_snapshot' },
      { kind: 'skip', line: 6, type: 'compacted' },
    ])
    expect(turnsOf(list).every((t) => t.session_id === 'c-1')).toBe(true)
  })
})

describe('what the wire would refuse is made acceptable, not sent to fail', () => {
  it('replaces lone surrogates in text', () => {
    const list = events('claude-code', [user('u1', 'half \ud83d of a pair')])
    const [t] = turnsOf(list)
    expect(t?.content).toBe('half \ufffd of a pair')
    expect(t && wireProblem(t)).toBeUndefined()
  })

  it('keeps a tool input nested deeper than the wire allows as JSON text', () => {
    let input: unknown = { leaf: true }
    for (let i = 0; i < 80; i++) input = { a: input }
    const line = assistant('a1', 'msg_deep', { input_tokens: 1, output_tokens: 1 }, {}, [
      { type: 'tool_use', id: 'toolu_1', name: 'Deep', input },
    ])
    const [t] = turnsOf(events('claude-code', [line]))
    expect(t && wireProblem(t)).toBeUndefined()
    expect(t?.tool_calls).toEqual([
      { json: JSON.stringify({ id: 'toolu_1', name: 'Deep', input }) },
    ])
  })

  it('leaves the inline data of attached documents out, so the line fits the line cap', () => {
    const pdf = { type: 'base64', media_type: 'application/pdf', data: 'J'.repeat(2_000_000) }
    const line = user('u1', [
      { type: 'document', source: pdf, title: 'spec.pdf' },
      { type: 'text', text: 'read this' },
    ])
    const [t] = turnsOf(events('claude-code', [line]))
    expect(t?.content).toBe('read this')
    expect(t?.metadata?.blocks).toEqual([
      {
        type: 'document',
        title: 'spec.pdf',
        media_type: 'application/pdf',
        omitted_chars: 2_000_000,
      },
    ])
    expect(JSON.stringify(t).length).toBeLessThan(1024 * 1024)
  })

  it('leaves cost absent for a model the price table does not know', () => {
    const line = assistant('a1', 'msg_x', { input_tokens: 10, output_tokens: 10 }).replace(
      'claude-sonnet-4-5-20250929',
      'claude-unknown-9',
    )
    const [t] = turnsOf(events('claude-code', [line]))
    expect(t?.tokens_in).toBe(10)
    expect(t?.cost_usd).toBeUndefined()
    expect(t?.metadata?.cost_source).toBeUndefined()
    expect(t?.metadata?.price_table).toBeUndefined()
  })
})

describe('tokens are never counted twice, even where the source is unusual', () => {
  it('gives a line of a long-closed reply group no tokens again', () => {
    const lines = [assistant('first', 'msg_old', { input_tokens: 7, output_tokens: 3 })]
    for (let i = 0; i < 300; i++) {
      lines.push(assistant(`m${i}`, `msg_${i}`, { input_tokens: 1, output_tokens: 1 }))
    }
    lines.push(assistant('late', 'msg_old', { input_tokens: 7, output_tokens: 9 }))
    const turns = [...finalTurns(events('claude-code', lines)).values()]
    expect(sum(turns.map((t) => t.tokens_in))).toBe(7 + 300)
    expect(turns.find((t) => t.turn_id === 'late')?.tokens_in).toBeUndefined()
  })

  it('counts a reply once when a resumed session replays it with fresh uuids', () => {
    const list = events('claude-code', [
      assistant('a1', 'msg_1', { input_tokens: 5, output_tokens: 2 }),
      assistant('a2', 'msg_1', { input_tokens: 5, output_tokens: 40 }),
      user('u1', 'go on'),
      assistant('r1', 'msg_1', { input_tokens: 5, output_tokens: 2 }),
      assistant('r2', 'msg_1', { input_tokens: 5, output_tokens: 40 }),
    ])
    const turns = [...finalTurns(list).values()]
    expect(turns).toHaveLength(5)
    expect(sum(turns.map((t) => t.tokens_out))).toBe(40)
    expect(turns.filter((t) => t.tokens_out !== undefined).map((t) => t.turn_id)).toEqual(['r2'])
  })

  it('keeps the tokens where they are when a line already seen is written again', () => {
    const holder = assistant('a2', 'msg_1', { input_tokens: 5, output_tokens: 40 })
    const early = assistant('a1', 'msg_1', { input_tokens: 5, output_tokens: 2 })
    const open = [...finalTurns(events('claude-code', [early, holder, early])).values()]
    expect(open.map((t) => [t.turn_id, t.tokens_out])).toEqual([
      ['a1', undefined],
      ['a2', 40],
    ])

    const lines = [holder]
    for (let i = 0; i < 300; i++) {
      lines.push(assistant(`m${i}`, `msg_n${i}`, { input_tokens: 1, output_tokens: 1 }))
    }
    lines.push(holder)
    const closed = [...finalTurns(events('claude-code', lines)).values()]
    expect(closed.find((t) => t.turn_id === 'a2')?.tokens_out).toBe(40)
    expect(sum(closed.map((t) => t.tokens_in))).toBe(5 + 300)
  })

  it('derives Codex usage from totals when last_token_usage is missing, repeats counted once', () => {
    const t1 = tokens(100, 10)
    const t2 = tokens(250, 30)
    const list = events('codex', [
      codexMeta,
      codexItem({
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'a' }],
      }),
      codexCount(t1),
      codexCount(t1),
      codexItem({ type: 'function_call', name: 'shell', arguments: 'not json', call_id: 'c' }),
      codexCount(t2),
      codexCount(t2, tokens(150, 20)),
    ])
    const turns = [...finalTurns(list).values()]
    expect(sum(turns.map((t) => t.tokens_in))).toBe(250)
    expect(sum(turns.map((t) => t.tokens_out))).toBe(30)
    expect(turns[1]?.tool_calls).toEqual([{ id: 'c', name: 'shell', input: 'not json' }])
    expect(turns[1]).toMatchObject({ tokens_in: 150, tokens_out: 20 })
  })

  it('holds Codex usage that comes before any turn for the first turn', () => {
    const list = events('codex', [
      codexMeta,
      codexCount(tokens(40, 4)),
      codexItem({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a' }] }),
    ])
    const [t] = [...finalTurns(list).values()]
    expect(t).toMatchObject({ role: 'user', tokens_in: 40, tokens_out: 4 })
  })
})

describe('detectFormat refuses what is neither format', () => {
  it('returns null for other JSON Lines, plain text and nothing at all', () => {
    expect(detectFormat([])).toBeNull()
    expect(detectFormat(['', '   '])).toBeNull()
    expect(detectFormat(['hello world', '{"truncated":'])).toBeNull()
    expect(
      detectFormat(['{"level":"info","msg":"started","time":"2026-11-22T10:00:00Z"}']),
    ).toBeNull()
    expect(detectFormat(['{"type":"message","text":"a chat export"}'])).toBeNull()
    expect(detectFormat(['[{"type":"user"}]'])).toBeNull()
  })
})
