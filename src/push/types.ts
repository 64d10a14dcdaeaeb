/**
 * The importers' contract: what a converter is fed and what it emits. A leaf of src/push/, so
 * the importers and the sender can share it without importing each other.
 */
import type { Role } from '../types'

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
  | {
      kind: 'turn'
      line: number
      turn: WireTurn
      /** `JSON.stringify(turn.content)` as it stands in the source line, when it does. */
      contentJson?: string
      /**
       * A line held back goes out as the end of the file would send it (its reply's tokens
       * on it), with the events of a later record or at the end.
       */
      released?: true
    }
  /** A record that becomes no turn and is not folded into one, counted by its type. */
  | { kind: 'skip'; line: number; type: string }
  /** A malformed or truncated source line: reported and skipped. */
  | { kind: 'error'; line: number; message: string }

export interface Converter {
  feed(record: SourceRecord): ImportEvent[]
  /**
   * The file is over (for now): what is still held back goes out. The Claude Code importer
   * holds the latest line of a reply for one record (see claude-code.ts); the others hold
   * nothing.
   */
  end(): ImportEvent[]
}

export type Format = 'claude-code' | 'codex'

/** Which session counts a reply's tokens, or a Codex token count (kept by replies.ts). */
export interface ReplyLedger {
  /** The session that counts the reply `key`: `session` itself if none did before. */
  claim(key: string, session: string): string
}

/**
 * `replies`: who counts a reply's tokens across the files of a push and the pushes before it
 * (a resumed session copies replies into its own file); without it, each file counts its own.
 */
export type ConverterContext = { path: string; host: string; replies?: ReplyLedger }
