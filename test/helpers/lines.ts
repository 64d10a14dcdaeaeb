/** Feeding the line splitter in the reader tests. */
import { type LineEvent, LineSplitter } from '../../src/ingest/lines'

const encoder = new TextEncoder()

export const BOM = [0xef, 0xbb, 0xbf]

/** The line cap the reader tests use unless they say otherwise. */
export const MAX = 1024

export const bytesOf = (body: string | Uint8Array | number[]): Uint8Array =>
  typeof body === 'string'
    ? encoder.encode(body)
    : body instanceof Uint8Array
      ? body
      : Uint8Array.from(body)

/** Feeds `chunks` in order, then ends: every event and the final physical line count. */
export function feed(
  chunks: Array<string | Uint8Array | number[]>,
  max = MAX,
): { events: LineEvent[]; lines: number } {
  const splitter = new LineSplitter(max)
  const events: LineEvent[] = []
  for (const chunk of chunks) events.push(...splitter.push(bytesOf(chunk)))
  events.push(...splitter.end())
  return { events, lines: splitter.lines }
}
