/**
 * Files already in tributary's wire format (NDJSON turns) pass through as they are: each line is
 * parsed only to check it is a JSON object and re-sent as written. The server validates it.
 */
import type { Converter, ImportEvent, SourceRecord, WireTurn } from './types'

const required = ['tool', 'session_id', 'turn_id', 'seq', 'role', 'timestamp'] as const

/** True when the first non-blank line is a JSON object with the wire format's required fields. */
export function isWireFormat(firstLines: string[]): boolean {
  const first = firstLines.find((line) => line.trim() !== '')
  if (first === undefined) return false
  try {
    const value: unknown = JSON.parse(first)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
    return required.every((field) => field in value)
  } catch {
    return false
  }
}

/** Keeps no state between lines, so a resumed file can start at its saved offset. */
export function openPassthrough(): Converter {
  return {
    feed(record: SourceRecord): ImportEvent[] {
      const text = record.text
      if (text.trim() === '') return []
      try {
        const turn: unknown = JSON.parse(text)
        if (typeof turn !== 'object' || turn === null || Array.isArray(turn)) {
          return [{ kind: 'error', line: record.line, message: 'not a JSON object' }]
        }
        return [{ kind: 'turn', line: record.line, turn: turn as WireTurn }]
      } catch {
        return [{ kind: 'error', line: record.line, message: 'not valid JSON (truncated line?)' }]
      }
    },
    end: () => [],
  }
}
