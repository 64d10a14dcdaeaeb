/**
 * A model of the ingest contract, for the property tests: random bodies as fast-check
 * arbitraries, and an oracle that says, from the contract alone (the README), what the
 * summary and the database must be after a run, also a run cut short after some bytes.
 *
 * The oracle never calls the code it checks: it splits lines, applies the caps, groups chunks
 * and splits a refused chunk in halves by its own reading of the rules.
 */
import fc from 'fast-check'
import type { LineError, Summary } from '../../src/types'

const encoder = new TextEncoder()

/** Content values the test database refuses (a trigger): a DB_CONSTRAINT line. */
export const POISON = 'poison'

export type ValidSpec = {
  kind: 'valid'
  session: number
  turn: number
  seq: number
  role: 'user' | 'assistant' | 'system' | 'tool'
  /** Milliseconds after 2026-01-01T00:00:00Z. */
  at: number
  content: string
  tokensIn: number | null
  metadata: Record<string, string | number> | null
  meta: { startedAt: number | null; workingDir: string | null } | null
  poison: boolean
  /** Pad `content` so the line is exactly maxLineBytes + padTo bytes (0: at the cap). */
  padTo: number | null
}

export type LineSpec =
  | ValidSpec
  | { kind: 'blank'; text: string }
  | { kind: 'invalidJson'; text: string }
  | { kind: 'notObject'; text: string }
  | { kind: 'invalidField'; field: string; override: Record<string, unknown> }
  | { kind: 'badUtf8'; bytes: readonly number[] }
  | { kind: 'tooLarge'; fill: 'json' | 'blank' | 'badUtf8'; extra: number }

export type BodySpec = {
  bom: boolean
  lines: Array<{ spec: LineSpec; crlf: boolean }>
  /** How the last line ends. */
  last: 'lf' | 'crlf' | 'none'
}

const unit = fc.constantFrom('a', 'b', ' ', 'é', '€', '😀', '"', '\\', '\n', 'ß')

const valid: fc.Arbitrary<ValidSpec> = fc.record({
  kind: fc.constant('valid' as const),
  session: fc.nat(2),
  turn: fc.nat(5),
  seq: fc.nat(1_000_000),
  role: fc.constantFrom('user', 'assistant', 'system', 'tool'),
  at: fc.nat(10_000_000),
  content: fc.string({ unit, maxLength: 12 }),
  tokensIn: fc.option(fc.nat(100_000), { nil: null }),
  metadata: fc.option(
    fc.dictionary(
      fc.constantFrom('k', 'branch', 'é'),
      fc.oneof(fc.nat(), fc.string({ unit, maxLength: 4 })),
      { maxKeys: 2 },
    ),
    { nil: null },
  ),
  meta: fc.option(
    fc.record({
      startedAt: fc.option(fc.nat(10_000_000), { nil: null }),
      workingDir: fc.option(fc.constantFrom('/a', '/b', '/é'), { nil: null }),
    }),
    { nil: null },
  ),
  poison: fc.nat(6).map((n) => n === 0),
  padTo: fc.option(fc.constantFrom(-1, 0, 1, 2), { nil: null, freq: 4 }),
})

const invalidFields: Array<{ field: string; override: Record<string, unknown> }> = [
  { field: 'seq', override: { seq: -1 } },
  { field: 'seq', override: { seq: 1.5 } },
  { field: 'role', override: { role: 'robot' } },
  { field: 'timestamp', override: { timestamp: '2026-02-30T00:00:00Z' } },
  { field: 'tool', override: { tool: '' } },
  { field: 'session_id', override: { session_id: 'a\u0000b' } },
  { field: 'content', override: { content: '\ud800' } },
  { field: 'cost_usd', override: { cost_usd: -0.5 } },
  { field: 'session_meta.started_at', override: { session_meta: { started_at: 'yesterday' } } },
  { field: 'metadata', override: { metadata: [1, 2] } },
]

export const lineSpec: fc.Arbitrary<LineSpec> = fc.oneof(
  { weight: 8, arbitrary: valid },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('blank' as const),
      text: fc.constantFrom('', ' ', '\t', '  \t '),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('invalidJson' as const),
      text: fc.constantFrom('{"tool":', '{bad', 'nul', '{"a":1}}', "{'a':1}"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('notObject' as const),
      text: fc.constantFrom('[1,2]', '42', '"text"', 'null', 'true', '[]'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(...invalidFields)
      .map((f) => ({ kind: 'invalidField' as const, ...f })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('badUtf8' as const),
      // a stray continuation byte, an overlong '/', a UTF-16 surrogate, a cut 3-byte character
      bytes: fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tooLarge' as const),
      fill: fc.constantFrom('json', 'blank', 'badUtf8'),
      extra: fc.integer({ min: 1, max: 40 }),
    }),
  },
)

export const bodySpec: fc.Arbitrary<BodySpec> = fc.record({
  bom: fc.boolean(),
  lines: fc.array(fc.record({ spec: lineSpec, crlf: fc.boolean() }), {
    maxLength: 30,
    size: 'max',
  }),
  last: fc.constantFrom('lf', 'crlf', 'none'),
})

// ---------------------------------------------------------------------------------------------
// Building the bytes

const BASE = Date.UTC(2026, 0, 1)
export const isoAt = (ms: number) => new Date(BASE + ms).toISOString()

export const TOOL = 'claude-code'
export const HOST = 'host-1'
const sessionId = (n: number) => `s${n}`
const turnId = (n: number) => `t${n}`

function validObject(spec: ValidSpec): Record<string, unknown> {
  return {
    tool: TOOL,
    host: HOST,
    session_id: sessionId(spec.session),
    turn_id: turnId(spec.turn),
    seq: spec.seq,
    role: spec.role,
    timestamp: isoAt(spec.at),
    content: spec.poison ? POISON : spec.content,
    ...(spec.tokensIn === null ? {} : { tokens_in: spec.tokensIn }),
    ...(spec.metadata === null ? {} : { metadata: spec.metadata }),
    ...(spec.meta === null
      ? {}
      : {
          session_meta: {
            ...(spec.meta.startedAt === null ? {} : { started_at: isoAt(spec.meta.startedAt) }),
            ...(spec.meta.workingDir === null ? {} : { working_dir: spec.meta.workingDir }),
          },
        }),
    owner: 'someone-else', // never reaches the database
  }
}

const baseInvalid = {
  tool: TOOL,
  host: HOST,
  session_id: 's0',
  turn_id: 't0',
  seq: 1,
  role: 'user',
  timestamp: isoAt(0),
}

/** A line as the body carries it (without its terminator), and the content it stores. */
function lineBytes(spec: LineSpec, maxLineBytes: number): { bytes: Uint8Array; content?: string } {
  switch (spec.kind) {
    case 'valid': {
      const object = validObject(spec)
      let text = JSON.stringify(object)
      let content = object.content as string
      if (spec.padTo !== null && !spec.poison) {
        const missing = maxLineBytes + spec.padTo - encoder.encode(text).length
        if (missing > 0) {
          content += 'x'.repeat(missing)
          text = JSON.stringify({ ...object, content })
        }
      }
      return { bytes: encoder.encode(text), content }
    }
    case 'blank':
    case 'invalidJson':
    case 'notObject':
      return { bytes: encoder.encode(spec.text) }
    case 'invalidField':
      return { bytes: encoder.encode(JSON.stringify({ ...baseInvalid, ...spec.override })) }
    case 'badUtf8': {
      const head = encoder.encode(JSON.stringify({ ...baseInvalid, content: 'ab' }).slice(0, -2))
      return { bytes: concat([head, Uint8Array.from(spec.bytes), encoder.encode('"}')]) }
    }
    case 'tooLarge': {
      const size = maxLineBytes + spec.extra
      if (spec.fill === 'blank') return { bytes: encoder.encode(' '.repeat(size)) }
      if (spec.fill === 'badUtf8') return { bytes: new Uint8Array(size).fill(0xff) }
      const head = JSON.stringify({ ...baseInvalid, content: '' })
      const pad = 'y'.repeat(Math.max(0, size - head.length))
      return { bytes: encoder.encode(JSON.stringify({ ...baseInvalid, content: pad })) }
    }
  }
}

export const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** What the contract says of one physical line. */
export type Outcome =
  | { kind: 'blank' }
  | { kind: 'rejected'; code: LineError['code']; field?: string }
  /** Valid on the wire; `poison` lines are then refused by the database. */
  | { kind: 'valid'; spec: ValidSpec; content: string; bytes: number }

export type BuiltLine = {
  line: number
  outcome: Outcome
  /** Offset in the body just past this line's terminator (complete once that many bytes arrived). */
  end: number
  /** The last line without a newline: complete only when the body ends. */
  needsEnd: boolean
}

export type Built = {
  body: Uint8Array
  lines: BuiltLine[]
  /** Offsets where a cut is interesting: inside a multi-byte character, a CRLF, the BOM. */
  interesting: number[]
}

const BOM = [0xef, 0xbb, 0xbf]

/** The body bytes of `spec`, and what each of its lines must become under `maxLineBytes`. */
export function buildBody(spec: BodySpec, maxLineBytes: number): Built {
  const parts: Uint8Array[] = []
  const lines: BuiltLine[] = []
  const interesting: number[] = []
  let offset = 0
  if (spec.bom) {
    parts.push(Uint8Array.from(BOM))
    interesting.push(1, 2)
    offset = 3
  }
  spec.lines.forEach(({ spec: lineSpecValue, crlf }, i) => {
    const isLast = i === spec.lines.length - 1
    const { bytes, content } = lineBytes(lineSpecValue, maxLineBytes)
    const terminator = isLast
      ? spec.last === 'none'
        ? ''
        : spec.last === 'crlf'
          ? '\r\n'
          : '\n'
      : crlf
        ? '\r\n'
        : '\n'
    for (let b = 0; b < bytes.length; b++) {
      const byte = bytes[b] as number
      if (byte >= 0x80 && (byte & 0xc0) === 0x80 && b > 0) interesting.push(offset + b)
    }
    if (terminator === '\r\n') interesting.push(offset + bytes.length + 1)
    parts.push(bytes, encoder.encode(terminator))
    // An empty last line without a newline is no line: "a\n" has one line, not two.
    if (terminator === '' && bytes.length === 0) return
    offset += bytes.length + terminator.length
    lines.push({
      line: i + 1,
      outcome: outcomeOf(lineSpecValue, bytes, maxLineBytes, content),
      end: offset,
      needsEnd: terminator === '',
    })
  })
  return { body: concat(parts), lines, interesting }
}

function outcomeOf(
  spec: LineSpec,
  bytes: Uint8Array,
  maxLineBytes: number,
  content: string | undefined,
): Outcome {
  // The cap comes first, whatever the line holds (blank, bad UTF-8 or JSON).
  if (bytes.length > maxLineBytes) return { kind: 'rejected', code: 'LINE_TOO_LARGE' }
  switch (spec.kind) {
    case 'valid':
      return { kind: 'valid', spec, content: content ?? '', bytes: bytes.length }
    case 'blank':
      return { kind: 'blank' }
    case 'invalidJson':
      return { kind: 'rejected', code: 'INVALID_JSON' }
    case 'notObject':
      return { kind: 'rejected', code: 'NOT_AN_OBJECT' }
    case 'invalidField':
      return { kind: 'rejected', code: 'INVALID_FIELD', field: spec.field }
    case 'badUtf8':
      return { kind: 'rejected', code: 'INVALID_UTF8' }
    case 'tooLarge':
      // Only reached when the fill came out under the cap: cannot happen by construction.
      throw new Error('a tooLarge line under the cap')
  }
}

// ---------------------------------------------------------------------------------------------
// The oracle

export type Limits = { chunkLines: number; chunkBytes: number; maxErrors: number }

export type ExpectedTurn = {
  session_id: string
  turn_id: string
  seq: number
  role: string
  timestamp: string
  content: string
  tokens_in: number | null
  metadata: string | null
}

export type ExpectedSession = {
  session_id: string
  started_at: string
  ended_at: string
  working_dir: string | null
}

export type Expected = {
  summary: Summary
  /** Errors without their messages, in line order. */
  errors: Array<{ line: number; code: string; field?: string }>
  turns: ExpectedTurn[]
  sessions: ExpectedSession[]
}

type Valid = Extract<Outcome, { kind: 'valid' }> & { line: number }

/** A chunk counts as committed when any of its lines is: the refused ones are left out of it. */
const commits = (chunk: Valid[]): number => (chunk.some((v) => !v.spec.poison) ? 1 : 0)

/**
 * What must come of `built` when `delivered` bytes of it arrived (`ended`: then the body ended;
 * otherwise the request was cut short there: the partial chunk is dropped).
 * `bytesRead` is the `bytes` the summary reports.
 */
export function expectOutcome(
  built: Built,
  limits: Limits,
  delivered: number,
  ended: boolean,
  bytesRead: number,
): Expected {
  const complete = built.lines.filter((l) =>
    l.needsEnd ? ended && delivered >= l.end : delivered >= l.end,
  )
  const errors: Array<{ line: number; code: string; field?: string }> = []
  const committed: Valid[] = []
  let chunks = 0
  let chunk: Valid[] = []
  let chunkBytes = 0
  const close = () => {
    chunks += commits(chunk)
    for (const v of chunk) {
      if (v.spec.poison) errors.push({ line: v.line, code: 'DB_CONSTRAINT' })
      else committed.push(v)
    }
    chunk = []
    chunkBytes = 0
  }
  for (const l of complete) {
    const o = l.outcome
    if (o.kind === 'blank') continue
    if (o.kind === 'rejected') {
      errors.push({
        line: l.line,
        code: o.code,
        ...(o.field === undefined ? {} : { field: o.field }),
      })
      continue
    }
    chunk.push({ ...o, line: l.line })
    chunkBytes += o.bytes
    if (chunk.length >= limits.chunkLines || chunkBytes >= limits.chunkBytes) close()
  }
  if (ended) close() // cut short: the partial chunk is dropped
  errors.sort((a, b) => a.line - b.line)

  const turns = new Map<string, ExpectedTurn>()
  const sessions = new Map<string, ExpectedSession>()
  for (const v of committed) {
    const s = v.spec
    const sid = sessionId(s.session)
    turns.set(`${sid}/${turnId(s.turn)}`, {
      session_id: sid,
      turn_id: turnId(s.turn),
      seq: s.seq,
      role: s.role,
      timestamp: isoAt(s.at),
      content: v.content,
      tokens_in: s.tokensIn,
      metadata: s.metadata === null ? null : JSON.stringify(s.metadata),
    })
    const started = isoAt(s.meta?.startedAt ?? s.at)
    const ended = isoAt(s.at)
    const old = sessions.get(sid)
    if (old === undefined) {
      sessions.set(sid, {
        session_id: sid,
        started_at: started,
        ended_at: ended,
        working_dir: s.meta?.workingDir ?? null,
      })
    } else {
      if (started < old.started_at) old.started_at = started
      if (ended > old.ended_at) old.ended_at = ended
      old.working_dir ??= s.meta?.workingDir ?? null
    }
  }
  const byKey = <T extends { session_id: string }>(a: T, b: T, key: (x: T) => string) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0
  return {
    summary: {
      accepted: committed.length,
      rejected: errors.length,
      lines: complete.length,
      bytes: bytesRead,
      chunks,
      errors: [],
      errors_truncated: errors.length > limits.maxErrors,
    },
    errors: errors.slice(0, limits.maxErrors),
    turns: [...turns.values()].sort((a, b) => byKey(a, b, (x) => `${x.session_id}/${x.turn_id}`)),
    sessions: [...sessions.values()].sort((a, b) => byKey(a, b, (x) => x.session_id)),
  }
}

/**
 * The body cut at `cuts` (offsets, deduplicated and sorted) into the pieces a stream delivers.
 */
export function piecesOf(body: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < body.length))].sort((a, b) => a - b)
  const pieces: Uint8Array[] = []
  let from = 0
  for (const point of [...points, body.length]) {
    if (point > from) pieces.push(body.subarray(from, point))
    from = point
  }
  return pieces
}

/** A number in [0, 1): where in a body something happens. */
export const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

/** A body that delivers `pieces` one read at a time, then ends or fails after `failAfter`. */
export function pieceStream(pieces: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (failAfter !== undefined && i === failAfter) {
          controller.error(new Error('the client went away'))
          return
        }
        const piece = pieces[i++]
        if (piece === undefined) controller.close()
        // A copy: the reader may keep what it is handed.
        else controller.enqueue(piece.slice())
      },
    },
    { highWaterMark: 0 },
  )
}
