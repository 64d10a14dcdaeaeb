/**
 * What the sender side expects of a converter: source records in, wire turns, counted skips or
 * per-line errors out. The importers (Claude Code, Codex) implement it; so does the pass-through
 * for files already in tributary's wire format.
 */

/** One physical line of a source file, 1-based. */
export type SourceRecord = { line: number; text: string }

/** A turn as it goes on the wire: one JSON object per NDJSON line. */
export type WireTurn = Record<string, unknown>

export type ImportEvent =
  | { kind: 'turn'; line: number; turn: WireTurn }
  | { kind: 'skip'; line: number; type: string }
  | { kind: 'error'; line: number; message: string }

export interface Converter {
  feed(record: SourceRecord): ImportEvent[]
  end(): ImportEvent[]
}
