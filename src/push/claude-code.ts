/**
 * Claude Code transcripts (`~/.claude/projects/<dir>/<session>.jsonl` and the subagent files
 * under `<session>/subagents/`) as wire turns: one turn per `user`, `assistant` or `system`
 * record with a `uuid`; every other record type is a counted skip.
 *
 * Tokens are counted once per API message. Claude Code writes one reply as several lines (one
 * per content block) that share `message.id` and `requestId`, each repeating a usage that is
 * partial on the earlier lines. The usage goes on the latest line of the group seen so far.
 * That line is held back until the next record: if it is the group's next line, the held one
 * goes out without the tokens (so a reply written line after line is sent once per line), and
 * otherwise with them. When a later line of the group arrives after its holder went out (tool
 * results between them, or a watched file growing), it takes the tokens and the previous
 * holder is emitted again without them. A line written again later (resumed sessions replay
 * earlier replies into the same file) never takes them from the holder. The last emission of
 * each turn is what the database keeps, so its sums equal the sums over distinct messages of
 * their final usage.
 */
import { jsonValueProblem } from '../ingest/turn'
import { costOf, PRICE_TABLE_DATE } from './prices'
import {
  earlier,
  isObject,
  num,
  parseRecord,
  pick,
  put,
  str,
  validTimestamp,
  wellFormed,
} from './records'
import { SPLICE_MIN_CHARS, sourceJsonOf } from './splice'
import type { Converter, ConverterContext, ImportEvent, SourceRecord, WireTurn } from './types'

const TOOL = 'claude-code'

/** How many reply groups are kept open to move their tokens to a later line. */
const OPEN_GROUPS = 256

/** Longer strings inside `toolUseResult` (which repeats the tool result) keep only their length. */
const TOOL_RESULT_STRING_MAX = 2000

const TURN_TYPES = new Set(['user', 'assistant', 'system'])

/** Top-level fields the mapping reads; the rest of a turn record goes to `metadata.extra`. */
const MAPPED = new Set([
  'type',
  'uuid',
  'parentUuid',
  'sessionId',
  'timestamp',
  'message',
  'isSidechain',
  'cwd',
  'gitBranch',
  'version',
  'requestId',
  'costUSD',
  'toolUseResult',
])
const MESSAGE_MAPPED = new Set(['id', 'type', 'role', 'model', 'content', 'usage'])
const USAGE_MAPPED = new Set([
  'input_tokens',
  'output_tokens',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'cache_creation',
])
/** The text of a tool result's `content`: a string, or its text blocks joined. */
function resultText(content: unknown): { text: string; images: number } {
  if (typeof content === 'string') return { text: content, images: 0 }
  if (!Array.isArray(content)) return { text: '', images: 0 }
  const texts: string[] = []
  let images = 0
  for (const block of content) {
    if (!isObject(block)) continue
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text)
    else if (block.type === 'image') images++
  }
  return { text: texts.join('\n'), images }
}

/**
 * A block as kept in metadata: an image or document without its inline data, which keeps only
 * its media type and the size of what was left out (it would not fit a line).
 */
function blockStub(block: Record<string, unknown>): Record<string, unknown> {
  const source = isObject(block.source) ? block.source : undefined
  if (source === undefined || typeof source.data !== 'string') return block
  const { source: _, ...rest } = block
  const stub: Record<string, unknown> = { ...rest }
  if (typeof source.media_type === 'string') stub.media_type = source.media_type
  stub.omitted_chars = source.data.length
  return stub
}

/** `toolUseResult` with long strings replaced by `{ omitted_chars }` (they repeat `content`). */
function compact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return value.length > TOOL_RESULT_STRING_MAX ? { omitted_chars: value.length } : value
  }
  if (typeof value !== 'object' || value === null) return value
  if (depth > 16) return { omitted_chars: JSON.stringify(value).length }
  if (Array.isArray(value)) return value.map((item) => compact(item, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, item] of Object.entries(value)) out[k] = compact(item, depth + 1)
  return out
}

/** Metadata the wire accepts (at most 64 levels deep), else the same kept as JSON text. */
const safeMetadata = (value: Record<string, unknown>): Record<string, unknown> =>
  jsonValueProblem(value) === undefined ? value : { unstorable_json: JSON.stringify(value) }

/** Tool calls the wire accepts, else each kept as its JSON text. */
const safeCalls = (calls: unknown[]): unknown[] =>
  jsonValueProblem(calls) === undefined
    ? calls
    : calls.map((call) => ({ json: JSON.stringify(call) }))

type Blocks = {
  texts: string[]
  thinking: string[]
  redactedThinking: number
  toolCalls: unknown[]
  results: string[]
  toolResults: Record<string, unknown>[]
  other: unknown[]
  onlyToolResults: boolean
}

function readBlocks(content: unknown): Blocks {
  const b: Blocks = {
    texts: [],
    thinking: [],
    redactedThinking: 0,
    toolCalls: [],
    results: [],
    toolResults: [],
    other: [],
    onlyToolResults: false,
  }
  if (typeof content === 'string') {
    b.texts.push(content)
    return b
  }
  if (!Array.isArray(content)) return b
  let resultBlocks = 0
  for (const block of content) {
    if (!isObject(block)) {
      b.other.push(block)
      continue
    }
    switch (block.type) {
      case 'text':
        if (typeof block.text === 'string') b.texts.push(block.text)
        break
      case 'thinking':
        if (typeof block.thinking === 'string') b.thinking.push(block.thinking)
        break
      case 'redacted_thinking':
        b.redactedThinking++
        break
      case 'tool_use':
      case 'server_tool_use':
      case 'mcp_tool_use': {
        const call: Record<string, unknown> = { id: block.id, name: block.name, input: block.input }
        if (block.type !== 'tool_use') call.type = block.type
        b.toolCalls.push(call)
        break
      }
      case 'tool_result': {
        resultBlocks++
        const { text, images } = resultText(block.content)
        b.results.push(text)
        const meta: Record<string, unknown> = { tool_use_id: block.tool_use_id }
        if (block.is_error === true) meta.is_error = true
        if (images > 0) meta.images = images
        b.toolResults.push(meta)
        break
      }
      default:
        b.other.push(blockStub(block))
    }
  }
  b.onlyToolResults = resultBlocks > 0 && resultBlocks === content.length
  return b
}

type Usage = Record<string, unknown>

/**
 * One API message's lines: which holds the tokens and, once that line went out with them, its
 * turn as it reads without them.
 */
type Group = {
  holder: string
  base: WireTurn | undefined
  baseJson: string | undefined
  seen: Set<string>
}

/** The holder of an open group, held back a record, before its tokens are set. */
type Held = {
  key: string
  line: number
  turn: WireTurn
  metadata: Record<string, unknown>
  usage: Usage
  costUSD: unknown
  contentJson: string | undefined
}

/** Sets the group's tokens, cache counts and cost on `turn` from one line's usage. */
function applyUsage(
  turn: WireTurn,
  metadata: Record<string, unknown>,
  usage: Usage,
  costUSD: unknown,
) {
  put(turn, 'tokens_in', num(usage.input_tokens))
  put(turn, 'tokens_out', num(usage.output_tokens))
  const cacheWrite = num(usage.cache_creation_input_tokens)
  const cacheRead = num(usage.cache_read_input_tokens)
  if (cacheWrite !== undefined) metadata.cache_creation_input_tokens = cacheWrite
  if (cacheRead !== undefined) metadata.cache_read_input_tokens = cacheRead
  const split = isObject(usage.cache_creation) ? usage.cache_creation : undefined
  if (split !== undefined) metadata.cache_creation = split
  put(
    metadata,
    'usage_other',
    pick(usage, (k) => !USAGE_MAPPED.has(k)),
  )

  if (typeof costUSD === 'number' && Number.isFinite(costUSD) && costUSD >= 0) {
    turn.cost_usd = costUSD
    metadata.cost_source = 'reported'
    return
  }
  if (turn.model === undefined) return
  const w1h = num(split?.ephemeral_1h_input_tokens) ?? 0
  const w5m =
    split === undefined
      ? (cacheWrite ?? 0)
      : (num(split.ephemeral_5m_input_tokens) ?? Math.max((cacheWrite ?? 0) - w1h, 0))
  const cost = costOf(turn.model, {
    input: turn.tokens_in ?? 0,
    output: turn.tokens_out ?? 0,
    cacheRead: cacheRead ?? 0,
    cacheWrite5m: w5m,
    cacheWrite1h: w1h,
  })
  if (cost === undefined) return
  turn.cost_usd = cost
  metadata.cost_source = 'calculated'
  metadata.price_table = PRICE_TABLE_DATE
}

/** The event's `contentJson` field, absent when there is none. */
const spliced = (contentJson: string | undefined) =>
  contentJson === undefined ? {} : { contentJson }

/** The key of a reply's group: its `message.id` and `requestId`; none without a message id. */
const replyKey = (message: Record<string, unknown>, r: Record<string, unknown>) =>
  str(message.id) === undefined ? undefined : `${message.id}\u0000${str(r.requestId) ?? ''}`

export function openClaudeCode(ctx: ConverterContext): Converter {
  const sessions = new Map<string, string | undefined>() // session id -> its first cwd
  let earliest: string | undefined
  let latest: string | undefined
  /** Open reply groups, least recently seen first. */
  const groups = new Map<string, Group>()
  /** Groups that fell out of `groups`: the uuid of the line that kept their tokens. */
  const closed = new Map<string, string>()
  /** The holder of an open group, not emitted yet: the next record says with or without tokens. */
  let held: Held | undefined

  /** Emits a turn, its metadata made storable (`released`: a held line with its tokens). */
  function emit(
    events: ImportEvent[],
    line: number,
    turn: WireTurn,
    metadata: Record<string, unknown>,
    contentJson: string | undefined,
    released = false,
  ) {
    turn.metadata = safeMetadata(metadata)
    events.push({
      kind: 'turn',
      line,
      turn,
      ...spliced(contentJson),
      ...(released ? { released: true } : {}),
    })
  }

  /** The held line goes out with its group's tokens; the group keeps it as it reads without. */
  function release(events: ImportEvent[]) {
    if (held === undefined) return
    const { key, line, turn, metadata, usage, costUSD, contentJson } = held
    held = undefined
    const group = groups.get(key)
    if (group !== undefined) {
      group.base = { ...turn, metadata: safeMetadata({ ...metadata }) }
      group.baseJson = contentJson
    }
    applyUsage(turn, metadata, usage, costUSD)
    emit(events, line, turn, metadata, contentJson, true)
  }

  /** Whether `r` is a new line of the held line's group (which then goes out without tokens). */
  function continuesHeld(r: Record<string, unknown>): boolean {
    if (r.type !== 'assistant' || typeof r.uuid !== 'string' || str(r.sessionId) === undefined) {
      return false
    }
    const message = isObject(r.message) ? r.message : undefined
    if (message === undefined || !isObject(message.usage)) return false
    const key = replyKey(message, r)
    return key !== undefined && key === held?.key && groups.get(key)?.seen.has(r.uuid) === false
  }

  /**
   * What this line of a reply does with its group's tokens: `hold` takes them and is held
   * back a record, `take` takes them at once (the holder of a group closed long ago), `none`
   * leaves them. A new line of an open group takes them, and the previous holder goes out
   * without them: for the first time if it was held, again if it went out with them. A line
   * seen before in the group (a verbatim replay, as resumed sessions write) takes them only
   * if it is the holder, and so does a line of a closed group.
   */
  function claim(key: string, uuid: string, events: ImportEvent[]): 'hold' | 'take' | 'none' {
    const group = groups.get(key)
    if (group === undefined) {
      const holder = closed.get(key)
      if (holder !== undefined) return holder === uuid ? 'take' : 'none'
      groups.set(key, { holder: uuid, base: undefined, baseJson: undefined, seen: new Set([uuid]) })
      if (groups.size > OPEN_GROUPS) {
        const [oldest, evicted] = groups.entries().next().value ?? []
        if (oldest !== undefined && evicted !== undefined) {
          groups.delete(oldest)
          closed.set(oldest, evicted.holder)
        }
      }
      return 'hold'
    }
    groups.delete(key) // re-inserted below: most recently seen last
    groups.set(key, group)
    if (group.seen.has(uuid)) return group.holder === uuid ? 'hold' : 'none'
    group.seen.add(uuid)
    if (held?.key === key) {
      const previous = held
      held = undefined
      emit(events, previous.line, previous.turn, previous.metadata, previous.contentJson)
    } else if (group.base !== undefined) {
      events.push({
        kind: 'turn',
        line: group.base.seq,
        turn: group.base,
        ...spliced(group.baseJson),
      })
    }
    group.holder = uuid
    group.base = undefined
    group.baseJson = undefined
    return 'hold'
  }

  /** The last reply asked about and its counter: a reply's lines come one after another. */
  let asked: { key: string; session: string; counter: string } | undefined

  /**
   * The session counting the reply `key`'s tokens, by the push's ledger. Only a reply with a
   * `requestId` is matched across sessions: behind a gateway, replies may share a message id.
   */
  function counterOf(key: string, session: string, r: Record<string, unknown>): string {
    if (ctx.replies === undefined || str(r.requestId) === undefined) return session
    if (asked?.key !== key || asked.session !== session) {
      asked = { key, session, counter: ctx.replies.claim(key, session) }
    }
    return asked.counter
  }

  function feed({ line, text }: SourceRecord): ImportEvent[] {
    const events: ImportEvent[] = []
    const parsed = text.trim() === '' ? undefined : parseRecord(text)
    if (held !== undefined && !(parsed?.ok === true && continuesHeld(parsed.record))) {
      release(events)
    }
    if (parsed === undefined) return events
    if (!parsed.ok) {
      events.push({ kind: 'error', line, message: parsed.message })
      return events
    }
    const r = parsed.record

    const recordTime = validTimestamp(r.timestamp)
    if (recordTime !== undefined) {
      earliest = earliest === undefined ? recordTime : earlier(earliest, recordTime)
      latest = recordTime
    }

    const type = typeof r.type === 'string' ? r.type : '(no type)'
    if (!TURN_TYPES.has(type) || typeof r.uuid !== 'string') {
      events.push({ kind: 'skip', line, type })
      return events
    }
    const sessionId = str(r.sessionId)
    if (sessionId === undefined) {
      events.push({ kind: 'error', line, message: `${type} record without a sessionId` })
      return events
    }
    const timestamp = recordTime ?? latest
    if (timestamp === undefined) {
      events.push({ kind: 'error', line, message: `${type} record without a valid timestamp` })
      return events
    }

    const message = isObject(r.message) ? r.message : {}
    const blocks = readBlocks(
      type === 'system' && r.message === undefined ? r.content : message.content,
    )
    const role =
      type === 'assistant'
        ? 'assistant'
        : type === 'system'
          ? 'system'
          : blocks.onlyToolResults
            ? 'tool'
            : 'user'

    const turn: WireTurn = {
      tool: TOOL,
      host: ctx.host,
      session_id: sessionId,
      turn_id: r.uuid,
      seq: line,
      role,
      timestamp,
    }
    const parts = role === 'tool' ? blocks.results : blocks.texts
    const content = parts.join('\n')
    if (content !== '' || blocks.texts.length > 0 || role === 'tool')
      turn.content = wellFormed(content)
    // A long content that is one string of the line is written as its text there (splice.ts).
    const contentJson =
      parts.length === 1 && turn.content !== undefined && turn.content.length >= SPLICE_MIN_CHARS
        ? sourceJsonOf(text, turn.content)
        : undefined
    const model = str(message.model)
    if (model !== undefined) turn.model = wellFormed(model)
    if (blocks.toolCalls.length > 0) turn.tool_calls = safeCalls(blocks.toolCalls)

    const metadata: Record<string, unknown> = {}
    if ('parentUuid' in r) metadata.parent_uuid = r.parentUuid
    if (typeof r.isSidechain === 'boolean') metadata.is_sidechain = r.isSidechain
    put(metadata, 'git_branch', str(r.gitBranch))
    put(metadata, 'version', str(r.version))
    put(metadata, 'request_id', str(r.requestId))
    put(metadata, 'message_id', str(message.id))
    if (blocks.thinking.length > 0) metadata.thinking = blocks.thinking.join('\n\n')
    if (blocks.redactedThinking > 0) metadata.redacted_thinking = blocks.redactedThinking
    if (blocks.toolResults.length > 0) metadata.tool_results = blocks.toolResults
    if (role !== 'tool' && blocks.results.length > 0) metadata.tool_result_text = blocks.results
    if (blocks.other.length > 0) metadata.blocks = blocks.other
    if (r.toolUseResult !== undefined) metadata.tool_use_result = compact(r.toolUseResult)
    put(
      metadata,
      'message',
      pick(message, (k, value) => !MESSAGE_MAPPED.has(k) && value !== null),
    )
    const systemContent = type === 'system'
    put(
      metadata,
      'extra',
      pick(r, (k) => !MAPPED.has(k) && !(k === 'content' && systemContent)),
    )
    if (type === 'system' && r.message === undefined && typeof r.content !== 'string') {
      if (r.content !== undefined) metadata.content = r.content
    }

    const cwd = str(r.cwd)
    if (!sessions.has(sessionId)) {
      sessions.set(sessionId, cwd)
      const meta: NonNullable<WireTurn['session_meta']> = { source_file: wellFormed(ctx.path) }
      put(meta, 'started_at', earliest)
      if (cwd !== undefined) meta.working_dir = wellFormed(cwd)
      const sessionMetadata: Record<string, unknown> = {}
      put(sessionMetadata, 'version', str(r.version))
      put(sessionMetadata, 'git_branch', str(r.gitBranch))
      meta.metadata = sessionMetadata
      turn.session_meta = meta
    } else if (cwd !== undefined && cwd !== sessions.get(sessionId)) {
      metadata.cwd = cwd
    }

    const usage = type === 'assistant' && isObject(message.usage) ? message.usage : undefined
    const key = usage === undefined ? undefined : replyKey(message, r)
    const counter = key === undefined ? sessionId : counterOf(key, sessionId, r)
    if (counter !== sessionId) {
      // A copy of a reply another session counts (this one resumed or forked it).
      metadata.tokens_counted_in = counter
    } else if (usage !== undefined) {
      const tokens = key === undefined ? 'take' : claim(key, r.uuid, events)
      if (key !== undefined && tokens === 'hold') {
        held = { key, line, turn, metadata, usage, costUSD: r.costUSD, contentJson }
        return events
      }
      if (tokens === 'take') applyUsage(turn, metadata, usage, r.costUSD)
    }
    emit(events, line, turn, metadata, contentJson)
    return events
  }

  return {
    feed,
    end: () => {
      const events: ImportEvent[] = []
      release(events)
      return events
    },
  }
}
