/** Wire lines for tests: valid turns by default, with overrides, and NDJSON bodies. */

export type WireTurn = Record<string, unknown>

let turnCounter = 0

/** A valid wire line (README, the field table); `overrides` win, `undefined` removes a field. */
export function wireTurn(overrides: WireTurn = {}): WireTurn {
  const n = ++turnCounter
  const turn: WireTurn = {
    tool: 'claude-code',
    host: 'laptop-7',
    session_id: 'session-1',
    turn_id: `turn-${n}`,
    seq: n,
    role: 'assistant',
    timestamp: '2026-11-22T14:22:26.123+01:00',
    content: `answer ${n}`,
    model: 'claude-sonnet-4-5',
    tokens_in: 10,
    tokens_out: 20,
    cost_usd: 0.0117,
    ...overrides,
  }
  for (const [key, value] of Object.entries(turn)) if (value === undefined) delete turn[key]
  return turn
}

/** NDJSON text: objects are serialized, strings are taken as raw lines. */
export const ndjson = (lines: Array<WireTurn | string>, end = '\n'): string =>
  lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n') + end

const encoder = new TextEncoder()

/** A ReadableStream of the given pieces, each a stream chunk (strings are UTF-8 encoded). */
export function streamOf(pieces: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = pieces[i++]
      if (piece === undefined) controller.close()
      else controller.enqueue(typeof piece === 'string' ? encoder.encode(piece) : piece)
    },
  })
}

/**
 * A body the test writes to while the request is in flight: `push` a piece, `close` to end,
 * `error` to cut it off as a client that goes away would.
 */
export function controlledStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
    },
  })
  return {
    stream,
    push: (piece: string | Uint8Array) =>
      controller.enqueue(typeof piece === 'string' ? encoder.encode(piece) : piece),
    close: () => controller.close(),
    error: (reason: unknown = new Error('client went away')) => controller.error(reason),
  }
}
