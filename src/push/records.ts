/** Small helpers the importers share: parsing a source line, reading loosely typed JSON. */
import { normalizeTimestamp } from '../ingest/turn'

export type ParsedRecord =
  | { ok: true; record: Record<string, unknown> }
  | { ok: false; message: string }

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** One source line as a JSON object, or why it is not one (never echoing the line). */
export function parseRecord(text: string): ParsedRecord {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, message: 'malformed JSON (a truncated or partly written line?)' }
  }
  if (!isObject(value)) return { ok: false, message: 'not a JSON object' }
  return { ok: true, record: value }
}

export const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined

export const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined

/** A string the wire accepts: lone surrogates (which have no UTF-8 form) replaced. */
export const wellFormed = (text: string): string =>
  text.isWellFormed() ? text : text.toWellFormed()

/** A timestamp the wire accepts (RFC 3339 with an offset, a real date), else undefined. */
export const validTimestamp = (value: unknown): string | undefined =>
  typeof value === 'string' && normalizeTimestamp(value) !== undefined ? value : undefined

/** Which of two valid timestamps is earlier, by instant. */
export const earlier = (a: string, b: string): string =>
  (normalizeTimestamp(a) ?? a) <= (normalizeTimestamp(b) ?? b) ? a : b

/** Sets `key` on `target` unless `value` is undefined (keeps optional wire fields absent). */
export function put<T extends object, K extends keyof T>(
  target: T,
  key: K,
  value: T[K] | undefined,
) {
  if (value !== undefined) target[key] = value
}

/**
 * The fields of `record` that `keep` says yes to, in order, as a new object (a `__proto__` key
 * too, as an own field); undefined when there are none. No array per field, unlike
 * `Object.entries`: it runs for every record.
 */
export function pick(
  record: Record<string, unknown>,
  keep: (key: string, value: unknown) => boolean,
): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue
    const value = record[key]
    if (!keep(key, value)) continue
    out ??= {}
    if (key === '__proto__') {
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      })
    } else out[key] = value
  }
  return out
}
