/**
 * The importers' entry: a file's format from its content, and a converter for it (the
 * contract's types are in `types.ts`, re-exported here). A converter is a pure, deterministic
 * function of the lines fed to it so far and of the push's reply ledger (no clock, no files, no
 * network; the ledger answers a session the same for the same reply every time), so the sender
 * can resume a file by feeding it again from line 1 and dropping what it already sent.
 *
 * A converter may emit a turn for an earlier line again (same `turn_id`, changed fields) when
 * a later line changes it, e.g. when a later line of the same API message takes over its
 * tokens. The server upserts by `turn_id`, so the last emission is what the database holds.
 */
import { openClaudeCode } from './claude-code'
import { openCodex } from './codex'
import { isObject, parseRecord } from './records'
import type { Converter, ConverterContext, Format } from './types'

export type {
  Converter,
  ConverterContext,
  Format,
  ImportEvent,
  ReplyLedger,
  SourceRecord,
  WireTurn,
} from './types'

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
