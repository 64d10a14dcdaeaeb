/**
 * Output lines built from pieces, so a long string of the source line is not escaped and copied
 * again: a string parsed from a source line is written as its JSON text in that line, when that
 * text is exactly what `JSON.stringify` gives for it (checked, else the caller stringifies).
 */
import type { WireTurn } from './types'

/** Shorter contents are stringified: finding and checking them would cost more than it saves. */
export const SPLICE_MIN_CHARS = 512

/** Keys whose string value may be a turn's whole content (tool result, message, text block). */
const KEYS = ['"content":"', '"text":"']

/** The one-character escapes `JSON.stringify` writes, by the letter after the backslash. */
const SHORT_ESCAPES = new Map<number, number>([
  [0x22, 0x22], // \"
  [0x5c, 0x5c], // \\
  [0x62, 0x08], // \b
  [0x66, 0x0c], // \f
  [0x6e, 0x0a], // \n
  [0x72, 0x0d], // \r
  [0x74, 0x09], // \t
])

/** Lower-case hex digit values; -1 for anything else (`JSON.stringify` writes lower case). */
const hexDigit = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1

/**
 * Whether `line` from `start` (just after an opening quote) holds the JSON text of `value` as
 * `JSON.stringify` writes it, up to an unescaped closing quote; the index of that quote, or -1.
 * Only the escapes `JSON.stringify` itself writes are accepted: `\u00XX` for the control
 * characters that have no short form, and none for `/`, non-ASCII or surrogates.
 */
export function canonicalStringEnd(line: string, start: number, value: string): number {
  let i = start
  let j = 0
  let quote = line.indexOf('"', i)
  let backslash = line.indexOf('\\', i)
  for (;;) {
    if (quote === -1) return -1
    const stop = backslash === -1 || backslash > quote ? quote : backslash
    const length = stop - i
    if (length > 0) {
      if (j + length > value.length) return -1
      if (line.slice(i, stop) !== value.slice(j, j + length)) return -1
      j += length
    }
    if (stop === quote) return j === value.length ? quote : -1
    // An escape at `backslash`: the character it stands for must be the next one of `value`.
    const letter = line.charCodeAt(backslash + 1)
    let decoded = SHORT_ESCAPES.get(letter)
    let width = 2
    if (decoded === undefined) {
      if (letter !== 0x75 || line.charCodeAt(backslash + 2) !== 0x30) return -1
      if (line.charCodeAt(backslash + 3) !== 0x30) return -1
      const high = hexDigit(line.charCodeAt(backslash + 4))
      const low = hexDigit(line.charCodeAt(backslash + 5))
      if (high < 0 || high > 1 || low < 0) return -1
      decoded = high * 16 + low
      // These have a short form, which is what JSON.stringify writes.
      if (decoded === 0x08 || decoded === 0x09 || decoded === 0x0a) return -1
      if (decoded === 0x0c || decoded === 0x0d) return -1
      width = 6
    }
    if (j >= value.length || value.charCodeAt(j) !== decoded) return -1
    j++
    i = backslash + width
    backslash = line.indexOf('\\', i)
    if (quote < i) quote = line.indexOf('"', i)
  }
}

/** Whether the character at `at` is escaped: preceded by an odd run of backslashes. */
function escaped(line: string, at: number): boolean {
  let n = 0
  for (let k = at - 1; k >= 0 && line.charCodeAt(k) === 0x5c; k--) n++
  return n % 2 === 1
}

/**
 * The JSON text (quotes included) of `value` as it stands in the source `line`, the value of a
 * `content` or `text` key, when it is byte for byte `JSON.stringify(value)`; else undefined.
 * `line` must be the valid JSON that `value` was parsed from: a quote not escaped opens or
 * closes a string, so a match of `"content":"` at one is that key with a string value.
 */
export function sourceJsonOf(line: string, value: string): string | undefined {
  for (const key of KEYS) {
    for (let at = line.indexOf(key); at !== -1; at = line.indexOf(key, at + 1)) {
      if (escaped(line, at)) continue
      const start = at + key.length
      const end = canonicalStringEnd(line, start, value)
      if (end !== -1) return line.slice(start - 1, end + 1)
    }
  }
  return undefined
}

const CONTENT_KEY = ',"content":'

/**
 * The turn's NDJSON line (without the newline) in pieces: `JSON.stringify(turn)` with
 * `contentJson`, the JSON text of `turn.content`, in place of stringifying the content.
 * Undefined when the turn's content does not stand where this expects it (then stringify).
 */
export function splicedLine(turn: WireTurn, contentJson: string): string[] | undefined {
  const head: Record<string, unknown> = {}
  let found = false
  for (const key in turn) {
    if (key === 'content') {
      found = true
      break
    }
    head[key] = turn[key as keyof WireTurn]
  }
  if (!found) return undefined
  const whole = JSON.stringify({ ...turn, content: '' })
  const open = JSON.stringify(head).slice(0, -1)
  const at = open.length + CONTENT_KEY.length
  if (open.length < 2 || !whole.startsWith(`${open}${CONTENT_KEY}""`)) return undefined
  return [whole.slice(0, at), contentJson, whole.slice(at + 2)]
}
