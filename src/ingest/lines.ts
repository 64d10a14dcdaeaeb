/**
 * Bytes -> numbered lines. Splits on the newline byte (never on decoded text: a multi-byte
 * character can straddle two stream chunks, and decoding line by line keeps one non-ASCII line
 * from slowing every other), decodes each line as strict UTF-8, and enforces the line cap while
 * the line is still arriving, so an over-long line costs at most `maxLineBytes` of memory.
 */

const LF = 0x0a
const CR = 0x0d

export type LineEvent =
  /** A non-blank line, decoded. `bytes` is its length without the terminator. */
  | { kind: 'line'; line: number; text: string; bytes: number }
  | { kind: 'invalid'; line: number; code: 'INVALID_UTF8' | 'LINE_TOO_LARGE'; message: string }

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const isBlank = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // JSON whitespace plus the other ASCII blanks a text editor leaves behind.
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0b && c !== 0x0c) return false
  }
  return true
}

const joinBytes = (pieces: Uint8Array[], length: number): Uint8Array => {
  if (pieces.length === 1 && pieces[0] !== undefined) return pieces[0]
  const out = new Uint8Array(length)
  let at = 0
  for (const piece of pieces) {
    out.set(piece, at)
    at += piece.length
  }
  return out
}

/**
 * A push parser: feed it the body's chunks in order with `push`, then call `end`. Each call
 * returns the events of the lines it completed. Line numbers are 1-based and count every
 * physical line, blank ones included; blank lines produce no event.
 */
export class LineSplitter {
  readonly #maxLineBytes: number
  /** Pieces of the line still open at the end of the last chunk (empty when it is too large). */
  #pieces: Uint8Array[] = []
  #pendingBytes = 0
  /** The open line already passed the cap: its bytes are counted and dropped, not kept. */
  #tooLarge = false
  #lineNumber = 0
  #atStart = true
  #bomBytes = 0

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes
  }

  /** Physical lines completed so far. */
  get lines(): number {
    return this.#lineNumber
  }

  push(chunk: Uint8Array): LineEvent[] {
    const events: LineEvent[] = []
    let start = this.#atStart ? this.#skipBom(chunk) : 0
    if (start < 0) return events
    for (;;) {
      const newline = chunk.indexOf(LF, start)
      if (newline === -1) {
        if (start < chunk.length) this.#append(chunk.subarray(start))
        return events
      }
      this.#append(chunk.subarray(start, newline))
      this.#finish(events)
      start = newline + 1
    }
  }

  /** The body ended: the last line needs no newline. */
  end(): LineEvent[] {
    const events: LineEvent[] = []
    if (this.#atStart && this.#bomBytes > 0) {
      // The body was only the start of a BOM: those bytes are its one (invalid) line.
      this.#append(Uint8Array.from([0xef, 0xbb, 0xbf].slice(0, this.#bomBytes)))
    }
    this.#atStart = false
    if (this.#pendingBytes > 0 || this.#tooLarge) this.#finish(events)
    return events
  }

  /**
   * A UTF-8 BOM at the very start of the body is ignored; it may arrive split over chunks.
   * Returns where the data starts in `chunk`, or -1 when the whole chunk was BOM so far.
   */
  #skipBom(chunk: Uint8Array): number {
    const bom = [0xef, 0xbb, 0xbf]
    let i = 0
    while (i < chunk.length && this.#bomBytes < 3 && chunk[i] === bom[this.#bomBytes]) {
      this.#bomBytes++
      i++
    }
    if (this.#bomBytes === 3) {
      this.#atStart = false
      return i
    }
    if (i === chunk.length) return -1
    // Not a BOM after all: the bytes taken so far belong to the first line.
    this.#atStart = false
    if (this.#bomBytes > 0) this.#append(Uint8Array.from(bom.slice(0, this.#bomBytes)))
    return i
  }

  #append(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.#pendingBytes += bytes.length
    if (this.#tooLarge) return
    // One byte of slack: a trailing \r is part of the terminator, not of the line.
    if (this.#pendingBytes > this.#maxLineBytes + 1) {
      this.#tooLarge = true
      this.#pieces = []
      return
    }
    this.#pieces.push(bytes)
  }

  #finish(events: LineEvent[]): void {
    const line = ++this.#lineNumber
    let length = this.#pendingBytes
    const pieces = this.#pieces
    const tooLarge = this.#tooLarge
    this.#pieces = []
    this.#pendingBytes = 0
    this.#tooLarge = false

    if (!tooLarge) {
      let bytes = joinBytes(pieces, length)
      if (length > 0 && bytes[length - 1] === CR) {
        length--
        bytes = bytes.subarray(0, length)
      }
      if (length > this.#maxLineBytes) {
        events.push(tooLargeEvent(line, this.#maxLineBytes))
        return
      }
      if (length === 0) return
      let text: string
      try {
        text = decoder.decode(bytes)
      } catch {
        events.push({
          kind: 'invalid',
          line,
          code: 'INVALID_UTF8',
          message: 'line is not valid UTF-8',
        })
        return
      }
      if (!isBlank(text)) events.push({ kind: 'line', line, text, bytes: length })
      return
    }
    events.push(tooLargeEvent(line, this.#maxLineBytes))
  }
}

const tooLargeEvent = (line: number, max: number): LineEvent => ({
  kind: 'invalid',
  line,
  code: 'LINE_TOO_LARGE',
  message: `line is longer than the ${max}-byte line cap`,
})
