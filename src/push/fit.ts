/**
 * A turn made to fit one line of the server's default cap (`INGEST_MAX_LINE_BYTES`, 1 MiB),
 * which refuses a longer line as `LINE_TOO_LARGE`: a record of a huge paste, tool result or
 * written file still becomes its turn, its longest strings cut to a head that fits. What was
 * cut is said in `metadata.truncated`: each string's place (`content`, `tool_calls.0.input.content`,
 * …) and its length before, in UTF-16 units.
 */
import type { WireTurn } from './types'

/** The server's default line cap (src/config.ts `maxLineBytes`). */
export const MAX_LINE_BYTES = 1024 * 1024

/** Room kept for `metadata.truncated` and the escapes a cut head may still need. */
const SLACK_BYTES = 16 * 1024
/** No string is cut shorter than this many UTF-16 units. */
const MIN_HEAD = 1024
/** Fields that identify or place the turn: never cut. */
const KEPT = new Set(['tool', 'host', 'session_id', 'turn_id', 'role', 'timestamp', 'model'])

type Leaf = { holder: Record<string, unknown> | unknown[]; key: string | number; path: string }

/** Every string below `value` (a turn at depth 0, its KEPT fields left out) that may be cut. */
function leaves(value: unknown, path: string, out: Leaf[], depth = 0): void {
  if (typeof value !== 'object' || value === null || depth > 64) return
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : Object.entries(value)
  for (const [key, item] of entries) {
    if (depth === 0 && typeof key === 'string' && KEPT.has(key)) continue
    const at = path === '' ? String(key) : `${path}.${key}`
    if (typeof item === 'string') {
      if (item.length > MIN_HEAD) out.push({ holder: value as Leaf['holder'], key, path: at })
    } else leaves(item, at, out, depth + 1)
  }
}

const bytesOf = (turn: WireTurn) => Buffer.byteLength(JSON.stringify(turn))

/**
 * `turn` as a line of at most `maxBytes` UTF-8 bytes: itself when it fits, else a copy with its
 * longest strings cut, longest first, and the places cut. Undefined when even that does not fit
 * (its kept fields alone are too long).
 */
export function fitTurn(
  turn: WireTurn,
  maxBytes = MAX_LINE_BYTES,
): { turn: WireTurn; cut: string[] } | undefined {
  let size = bytesOf(turn)
  if (size <= maxBytes) return { turn, cut: [] }
  const fitted = structuredClone(turn)
  const found: Leaf[] = []
  leaves(fitted, '', found)
  const read = (leaf: Leaf) => (leaf.holder as Record<string | number, string>)[leaf.key] ?? ''
  found.sort((a, b) => read(b).length - read(a).length)
  const truncated: Array<{ field: string; chars: number }> = []
  const target = maxBytes - SLACK_BYTES
  for (const leaf of found) {
    if (size <= target) break
    const text = read(leaf)
    const bytes = Buffer.byteLength(JSON.stringify(text))
    // Keep what the line has room for, in proportion to this string's bytes per unit.
    const keepBytes = Math.max(bytes - (size - target), 0)
    const head = Math.max(Math.floor((text.length * keepBytes) / bytes), MIN_HEAD)
    if (head >= text.length) continue
    ;(leaf.holder as Record<string | number, string>)[leaf.key] = text.slice(0, head).toWellFormed()
    truncated.push({ field: leaf.path, chars: text.length })
    size = bytesOf(fitted)
  }
  if (truncated.length === 0) return undefined
  fitted.metadata = { ...fitted.metadata, truncated }
  return bytesOf(fitted) <= maxBytes
    ? { turn: fitted, cut: truncated.map((t) => t.field) }
    : undefined
}
