/**
 * The importers' contract: a source file's lines in, wire turns out. A converter is a pure,
 * deterministic function of the lines fed to it so far (no clock, no files, no network), so
 * the sender can resume a file by feeding it again from line 1 and dropping what it already
 * sent.
 *
 * A converter may emit a turn for an earlier line again (same `turn_id`, changed fields) when
 * a later line changes it, e.g. when a later line of the same API message takes over its
 * tokens. The server upserts by `turn_id`, so the last emission is what the database holds.
 */
import type { Role } from '../types'
import { openClaudeCode } from './claude-code'
import { openCodex } from './codex'
import { isObject, parseRecord } from './records'

/** One line of a source file: its 1-based line number and raw text, without the newline. */
export type SourceRecord = { line: number; text: string }

/** A JSON object of the wire format: one line of a `POST /v1/ingest` body. */
export type WireTurn = {
  tool: string
  host: string
  session_id: string
  turn_id: string
  seq: number
  role: Role
  timestamp: string
  content?: string
  model?: string
  tokens_in?: number
  tokens_out?: number
  cost_usd?: number
  tool_calls?: unknown[]
  metadata?: Record<string, unknown>
  session_meta?: {
    started_at?: string
    working_dir?: string
    source_file?: string
    metadata?: Record<string, unknown>
  }
}

export type ImportEvent =
  | { kind: 'turn'; line: number; turn: WireTurn }
  /** A record that becomes no turn and is not folded into one, counted by its type. */
  | { kind: 'skip'; line: number; type: string }
  /** A malformed or truncated source line: reported and skipped. */
  | { kind: 'error'; line: number; message: string }

export interface Converter {
  feed(record: SourceRecord): ImportEvent[]
  /**
   * The file is over (for now). Both importers emit as they go and hold nothing back, so this
   * returns nothing today; a sender still calls it, for importers that will.
   */
  end(): ImportEvent[]
}

export type Format = 'claude-code' | 'codex'

export type ConverterContext = { path: string; host: string }

/** Claude Code record types that carry neither a uuid nor a session id. */
const CLAUDE_BARE_TYPES = new Set(['summary', 'file-history-snapshot'])
const CODEX_TYPES = new Set(['session_meta', 'response_item', 'event_msg', 'turn_context'])

/** What one parsed record says about its file's format, if anything. */
function formatOf(record: Record<string, unknown>): Format | null {
  const type = record.type
  if (typeof type === 'string') {
    if (CODEX_TYPES.has(type) && isObject(record.payload)) return 'codex'
    // Claude Code spells it `sessionId`; Codex never writes a camelCase session id.
    if (typeof record.sessionId === 'string' || CLAUDE_BARE_TYPES.has(type)) return 'claude-code'
    // An item of the older Codex layout: a bare Responses API item.
    if (type === 'message' && Array.isArray(record.content) && typeof record.role === 'string') {
      return 'codex'
    }
    return null
  }
  // The older Codex layout opens with the session: {id, timestamp, instructions?, git?}.
  if (typeof record.id === 'string' && typeof record.timestamp === 'string') {
    if ('instructions' in record || 'git' in record) return 'codex'
  }
  if (record.record_type === 'state') return 'codex'
  return null
}

/**
 * The format of a file from its first lines (by content, not path; ten are plenty): the first
 * line that says, malformed and unrelated lines passed over. Null when no line says.
 */
export function detectFormat(firstLines: string[]): Format | null {
  for (const text of firstLines) {
    if (text.trim() === '') continue
    const parsed = parseRecord(text)
    if (!parsed.ok) continue
    const format = formatOf(parsed.record)
    if (format !== null) return format
  }
  return null
}

/** A fresh converter for one file. */
export function openConverter(format: Format, ctx: ConverterContext): Converter {
  return format === 'claude-code' ? openClaudeCode(ctx) : openCodex(ctx)
}
