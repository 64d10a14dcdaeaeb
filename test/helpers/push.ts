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
export const CODEX_CURRENT =
  'codex/rollout-2026-11-20T10-00-00-019a2d7a-41c4-78b1-b7cc-a45d62a89cd5.jsonl'
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
