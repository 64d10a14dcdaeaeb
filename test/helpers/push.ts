/** Feeding source files through the importers, and reading what they emit, for the push tests. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as v from 'valibot'
import { parseTurnLine, turnSchema } from '../../src/ingest/turn'
import {
  type Converter,
  detectFormat,
  type Format,
  type ImportEvent,
  openConverter,
  type ReplyLedger,
  type WireTurn,
} from '../../src/push/importer'

export const fixture = (name: string): string =>
  fileURLToPath(new URL(`../push/fixtures/${name}`, import.meta.url))

export const CLAUDE_SESSION = '8d0e7c1a-5b2f-4c3e-9a71-2f6d4e8b0c11'
export const CLAUDE_MAIN = `claude-code/${CLAUDE_SESSION}.jsonl`
export const CLAUDE_SUBAGENT = `claude-code/${CLAUDE_SESSION}/subagents/agent-a1b2c3d4.jsonl`
/** The current-layout Codex fixture's session, and a fork of it (codexFork). */
export const CODEX_SESSION = '019a2d7a-41c4-78b1-b7cc-a45d62a89cd5'
export const CODEX_FORK = '019a2e10-5b7c-7d21-9e3f-4a5b6c7d8e9f'
export const CODEX_CURRENT = `codex/rollout-2026-11-20T10-00-00-${CODEX_SESSION}.jsonl`
export const CODEX_LEGACY =
  'codex/rollout-2025-08-14T09-30-12-5973b6c0-94b8-487b-a530-2aeb6098ae0e.jsonl'

/** A file's lines as the sender reads them: split on \n, no empty line after the last \n. */
export function linesOf(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines
}

/** Every event of a whole run over `lines`, tagged with the line being fed when it came. */
export function run(
  format: Format,
  lines: string[],
  path = 'fixture.jsonl',
  replies?: ReplyLedger,
): { fed: number; event: ImportEvent }[] {
  const converter: Converter = openConverter(format, {
    path,
    host: 'laptop-7',
    ...(replies === undefined ? {} : { replies }),
  })
  const out: { fed: number; event: ImportEvent }[] = []
  lines.forEach((text, i) => {
    for (const event of converter.feed({ line: i + 1, text })) out.push({ fed: i + 1, event })
  })
  for (const event of converter.end()) out.push({ fed: lines.length + 1, event })
  return out
}

/** The events of a whole run over one fixture file, its format detected from its content. */
export function convert(name: string): ImportEvent[] {
  const path = fixture(name)
  const lines = linesOf(path)
  const format = detectFormat(lines.slice(0, 10))
  if (format === null) throw new Error(`${name}: format not detected`)
  return run(format, lines, path).map(({ event }) => event)
}

export const turnsOf = (events: ImportEvent[]): WireTurn[] =>
  events.flatMap((e) => (e.kind === 'turn' ? [e.turn] : []))

/** What the database holds after the events are upserted in order: the last emission per turn. */
export function finalTurns(events: ImportEvent[]): Map<string, WireTurn> {
  const byId = new Map<string, WireTurn>()
  for (const turn of turnsOf(events)) byId.set(`${turn.session_id}\u0000${turn.turn_id}`, turn)
  return byId
}

/** Why the server's own wire validation refuses a turn, or undefined when it accepts it. */
export function wireProblem(turn: WireTurn): string | undefined {
  const schema = v.safeParse(turnSchema, turn)
  if (!schema.success) return `schema: ${schema.issues[0]?.message}`
  const line = parseTurnLine(JSON.stringify(turn))
  return line.ok ? undefined : `${line.code} ${line.field ?? ''} ${line.message}`
}

export const sum = (values: (number | undefined)[]): number =>
  values.reduce<number>((total, value) => total + (value ?? 0), 0)

const usage = (input: number, cached: number, output: number, reasoning: number) => ({
  input_tokens: input,
  cached_input_tokens: cached,
  output_tokens: output,
  reasoning_output_tokens: reasoning,
  total_tokens: input + output,
})
const line = (timestamp: string, type: string, payload: Record<string, unknown>) =>
  JSON.stringify({ timestamp, type, payload })
const count = (timestamp: string, total: object, last: object) =>
  line(timestamp, 'event_msg', {
    type: 'token_count',
    info: { total_token_usage: total, last_token_usage: last, model_context_window: 272000 },
  })
// What Codex writes for a fork: the child's session_meta, the parent's history copied in
// (its session_meta first) and re-stamped to the fork's second, then the child's own work,
// its running totals going on from the parent's.
export const codexFork = (meta: Record<string, unknown>): string[] => [
  line('2026-11-20T11:00:00.000Z', 'session_meta', {
    id: CODEX_FORK,
    timestamp: '2026-11-20T11:00:00.000Z',
    cwd: '/home/ana/src/tributary',
    originator: 'codex_cli_rs',
    cli_version: '0.63.0',
    ...meta,
  }),
  ...linesOf(fixture(CODEX_CURRENT)).map((text, i) => {
    const r = JSON.parse(text) as Record<string, unknown>
    r.timestamp = `2026-11-20T11:00:00.${String(i + 1).padStart(3, '0')}Z`
    return JSON.stringify(r)
  }),
  line('2026-11-20T11:00:07.000Z', 'response_item', {
    type: 'message',
    role: 'user',
    content: [{ type: 'input_text', text: 'now add a goodbye file' }],
  }),
  line('2026-11-20T11:00:07.010Z', 'turn_context', { model: 'gpt-5-codex', effort: 'high' }),
  line('2026-11-20T11:00:08.000Z', 'response_item', {
    type: 'custom_tool_call',
    call_id: 'call_bye',
    name: 'apply_patch',
    input: '*** Begin Patch\n*** Add File: goodbye.txt\n+Goodbye\n*** End Patch',
  }),
  count('2026-11-20T11:00:08.010Z', usage(26552, 23908, 544, 256), usage(7000, 6500, 150, 64)),
  line('2026-11-20T11:00:08.100Z', 'response_item', {
    type: 'custom_tool_call_output',
    call_id: 'call_bye',
    output: 'Success. Updated the following files:\nA goodbye.txt\n',
  }),
  line('2026-11-20T11:00:09.000Z', 'response_item', {
    type: 'message',
    role: 'assistant',
    content: [{ type: 'output_text', text: 'Added goodbye.txt.' }],
  }),
  count('2026-11-20T11:00:09.010Z', usage(33852, 31008, 584, 256), usage(7300, 7100, 40, 0)),
]
