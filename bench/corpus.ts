/**
 * The benchmark corpus: seeded, so every run (and every machine) sends the same bytes.
 *
 * ~1,000 sessions of coding-agent turns, one line each: user prompts, assistant answers with tool
 * calls, tool results. Lines average ~1.5 KB with a long tail of 20–100 KB tool outputs (a file
 * dump, a test log), a few percent invalid lines of the kinds clients really send, and a few blank
 * lines. Sessions are written one after another, each in `seq` order, as a log shipper would.
 */

/**
 * mulberry32: small, fast, good enough for test data, and the same everywhere (the load test
 * uses it too, so a failing run can be replayed with its seed).
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type CorpusOptions = {
  sessions: number
  seed: number
  /** Share of lines drawn from text with non-ASCII characters in it (default 0.25). */
  nonAsciiLines?: number
}

export type Corpus = {
  /** The NDJSON body, every line ending in `\n`. */
  body: Buffer
  /** Byte offset where each physical line starts (for cutting the body at line boundaries). */
  lineStarts: number[]
  /** Physical lines (blank ones included). */
  lines: number
  /** Lines generated invalid on purpose (each is rejected by the pipeline). */
  invalid: number
  blank: number
  /** Lines of 20 KB or more. */
  large: number
  sessions: number
}

const WORDS = (
  'the a to of and in is it for that on with as this be are not by or from at an use function ' +
  'const let return if else await async import export type interface class new value error test ' +
  'file line build run check fix bug query table index commit branch merge request response json ' +
  'schema stream chunk batch owner session turn token model cost latency memory worker thread ' +
  'parse validate insert update conflict transaction database server client header body status'
).split(' ')

const PUNCT = ['.', ',', ':', ';', '?', '!', ' -', '']
/** Typographic and non-Latin characters that turn up in agent transcripts. */
const NON_ASCII = ['é', 'ü', 'ß', 'ñ', '→', '✓', ' —', '日本', '😀', '€', 'Ω']

/**
 * A pool of prose and code-like text to slice from: generating every line's text word by word
 * would make corpus generation slower than the thing it measures. `nonAscii`: the share of
 * words that are one of NON_ASCII.
 */
function textPool(random: () => number, size: number, nonAscii: number): string {
  const parts: string[] = []
  let length = 0
  while (length < size) {
    const r = random()
    let piece: string
    if (r < 0.08) piece = '\n'
    else if (r < 0.1)
      piece = `    ${WORDS[Math.floor(random() * WORDS.length)]}("${random().toString(36).slice(2, 8)}")\n`
    else if (r < 0.11) piece = '"quoted"'
    else if (r < 0.115) piece = '\t'
    else if (r < 0.115 + nonAscii) piece = NON_ASCII[Math.floor(random() * NON_ASCII.length)] ?? ''
    else piece = WORDS[Math.floor(random() * WORDS.length)] ?? 'x'
    piece += random() < 0.1 ? (PUNCT[Math.floor(random() * PUNCT.length)] ?? '') : ''
    parts.push(piece, ' ')
    length += piece.length + 1
  }
  return parts.join('')
}

const TOOLS = ['claude-code', 'codex', 'cursor', 'aider']
const MODELS = ['claude-sonnet-4-5', 'claude-opus-4-1', 'gpt-5-codex', 'gemini-2.5-pro']
const TOOL_NAMES = ['bash', 'read_file', 'edit_file', 'grep', 'list_dir', 'web_fetch']

const pad2 = (n: number) => String(n).padStart(2, '0')

function uuid(random: () => number): string {
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('')
  return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`
}

/** An RFC 3339 timestamp, mostly `Z`, sometimes with an offset or microseconds. */
function timestamp(ms: number, random: () => number): string {
  const r = random()
  if (r < 0.7) return new Date(ms).toISOString()
  const offsetMin = r < 0.85 ? 60 : -300
  const d = new Date(ms + offsetMin * 60_000)
  const base = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(
    d.getUTCHours(),
  )}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`
  const frac = r < 0.95 ? `.${String(d.getUTCMilliseconds()).padStart(3, '0')}` : '.123456'
  const sign = offsetMin >= 0 ? '+' : '-'
  const abs = Math.abs(offsetMin)
  return `${base}${frac}${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`
}

/** One invalid line of a kind real clients send, built from a valid one. */
function spoil(line: Record<string, unknown>, json: string, random: () => number): string {
  const kind = Math.floor(random() * 8)
  switch (kind) {
    case 0:
      return json.slice(0, Math.max(10, Math.floor(json.length / 2))) // truncated: INVALID_JSON
    case 1:
      return JSON.stringify({ ...line, timestamp: '2026-02-30T10:00:00Z' })
    case 2: {
      const { turn_id: _, ...rest } = line
      return JSON.stringify(rest)
    }
    case 3:
      return JSON.stringify({ ...line, role: 'robot' })
    case 4:
      return JSON.stringify({ ...line, seq: -1 })
    case 5:
      return `[${JSON.stringify(line.seq)}]` // NOT_AN_OBJECT
    case 6:
      return JSON.stringify({ ...line, tokens_in: '12' })
    default:
      return JSON.stringify({ ...line, tool: 'x'.repeat(80) })
  }
}

/** Generate the corpus. ~49 lines per session on average (10–90). */
export function generateCorpus(options: CorpusOptions): Corpus {
  const random = rng(options.seed)
  // A quarter of the lines (by default) carry some non-ASCII text, which makes them two-byte strings in V8:
  // slower to decode and to parse. The rest are ASCII, as most of a coding session is.
  const nonAsciiLines = options.nonAsciiLines ?? 0.25
  const asciiPool = textPool(random, 512 * 1024, 0)
  const mixedPool = textPool(random, 512 * 1024, 0.03)
  let pool = asciiPool
  const isLowSurrogate = (at: number) => {
    const c = pool.charCodeAt(at)
    return c >= 0xdc00 && c <= 0xdfff
  }
  /** A slice of the pool that never cuts a surrogate pair (an emoji) in half. */
  const slice = (length: number) => {
    let at = Math.floor(random() * (pool.length - length - 1))
    let end = at + length
    if (isLowSurrogate(at)) at++
    if (isLowSurrogate(end)) end++
    return pool.slice(at, end)
  }
  const out: string[] = []
  let invalid = 0
  let blank = 0
  let large = 0
  const startMs = Date.UTC(2026, 10, 1)
  for (let s = 0; s < options.sessions; s++) {
    const tool = TOOLS[Math.floor(random() * TOOLS.length)] ?? 'claude-code'
    const host = `host-${pad2(Math.floor(random() * 40))}`
    const sessionId = uuid(random)
    const model = MODELS[Math.floor(random() * MODELS.length)] ?? 'm'
    const turnsInSession = 10 + Math.floor(random() * 81)
    let ms = startMs + Math.floor(random() * 30 * 86_400_000)
    const sessionMeta = {
      started_at: new Date(ms).toISOString(),
      working_dir: `/home/dev/src/project-${Math.floor(random() * 200)}`,
      source_file: `~/.${tool}/projects/${sessionId}.jsonl`,
      metadata: { client: `${tool}-collector/1.4.2`, os: random() < 0.5 ? 'linux' : 'darwin' },
    }
    for (let seq = 0; seq < turnsInSession; seq++) {
      pool = random() < nonAsciiLines ? mixedPool : asciiPool
      ms += 500 + Math.floor(random() * 60_000)
      const roleRoll = seq === 0 ? 0 : random()
      const role =
        roleRoll < 0.3 ? 'user' : roleRoll < 0.7 ? 'assistant' : roleRoll < 0.97 ? 'tool' : 'system'
      const line: Record<string, unknown> = {
        tool,
        host,
        session_id: sessionId,
        turn_id: `${sessionId}:${seq}`,
        seq,
        role,
        timestamp: timestamp(ms, random),
      }
      if (role === 'user') {
        line.content = slice(60 + Math.floor(random() * 500))
      } else if (role === 'assistant') {
        line.content = slice(200 + Math.floor(random() * 1400))
        line.model = model
        line.tokens_in = 500 + Math.floor(random() * 40_000)
        line.tokens_out = 20 + Math.floor(random() * 2000)
        line.cost_usd = Math.round(random() * 5000) / 100_000
        if (random() < 0.6) {
          line.tool_calls = [
            {
              id: `call_${random().toString(36).slice(2, 12)}`,
              name: TOOL_NAMES[Math.floor(random() * TOOL_NAMES.length)],
              input: { cmd: slice(20 + Math.floor(random() * 120)), timeout_ms: 120000 },
            },
          ]
        }
      } else if (role === 'tool') {
        // The long tail: about one tool result in thirty is a 20–100 KB dump.
        const big = random() < 0.033
        if (big) large++
        line.content = big
          ? slice(20_000 + Math.floor(random() * 80_000))
          : slice(100 + Math.floor(random() * 1500))
        line.metadata = {
          exit_code: random() < 0.9 ? 0 : 1,
          duration_ms: Math.floor(random() * 9000),
        }
      } else {
        line.content = slice(100 + Math.floor(random() * 300))
      }
      if (seq === 0 || random() < 0.05) line.session_meta = sessionMeta
      if (random() < 0.1) line.metadata = { ...(line.metadata as object), git_branch: 'main' }
      let json = JSON.stringify(line)
      if (random() < 0.03) {
        json = spoil(line, json, random)
        invalid++
      }
      out.push(json)
      if (random() < 0.003) {
        out.push(random() < 0.5 ? '' : '   ')
        blank++
      }
    }
  }
  const lineStarts: number[] = []
  const buffers: Buffer[] = []
  let at = 0
  for (const text of out) {
    const bytes = Buffer.from(`${text}\n`, 'utf8')
    lineStarts.push(at)
    buffers.push(bytes)
    at += bytes.length
  }
  return {
    body: Buffer.concat(buffers, at),
    lineStarts,
    lines: out.length,
    invalid,
    blank,
    large,
    sessions: options.sessions,
  }
}

/** Cut the body at line boundaries into pieces of about `target` bytes (a line is never split). */
export function splitBody(corpus: Corpus, target: number): Buffer[] {
  const pieces: Buffer[] = []
  let start = 0
  for (const lineStart of corpus.lineStarts) {
    if (lineStart - start >= target) {
      pieces.push(corpus.body.subarray(start, lineStart))
      start = lineStart
    }
  }
  if (start < corpus.body.length) pieces.push(corpus.body.subarray(start))
  return pieces
}
