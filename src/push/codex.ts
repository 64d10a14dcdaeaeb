/**
 * Codex CLI rollouts (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`) as wire turns, in both
 * layouts: the current one (`{timestamp, type, payload}` lines: session_meta, response_item,
 * event_msg, turn_context) and the older one (a first line `{id, timestamp, instructions}`,
 * then bare Responses API items without timestamps).
 *
 * One turn per message (`developer` -> `system`), tool call (`assistant` with `tool_calls`)
 * and call output (`tool`). Reasoning goes to the metadata of the assistant turn that follows
 * it. Token usage comes from `token_count` events: each new count is added to the latest
 * assistant turn, which is emitted again with its tokens; an event that repeats the previous
 * `total_token_usage` is counted once, so a session's sums equal its final total.
 *
 * A forked or subagent rollout opens with its parent's history copied in (the parent's
 * session_meta, messages and token counts, re-stamped to the fork's time). Each count is
 * claimed in the push's ledger by its running totals and its own usage; in a fork, a count
 * an earlier session claimed is a copy until the fork's first count of its own:
 * the turn it follows carries `tokens_counted_in` instead of its tokens. A root session's
 * counts are never copies (a scripted run repeated may match an earlier one exactly).
 */

import { isObject, num, parseRecord, put, str, validTimestamp, wellFormed } from './records'
import type { Converter, ConverterContext, ImportEvent, SourceRecord, WireTurn } from './types'

const TOOL = 'codex'

const ENVELOPE_TYPES = new Set(['session_meta', 'response_item', 'event_msg', 'turn_context'])

type Usage = { input: number; cached: number; output: number; reasoning: number; total: number }

function usageOf(value: unknown): Usage | undefined {
  if (!isObject(value)) return undefined
  const input = num(value.input_tokens) ?? 0
  const output = num(value.output_tokens) ?? 0
  return {
    input,
    cached: num(value.cached_input_tokens) ?? num(value.cache_read_input_tokens) ?? 0,
    output,
    reasoning: num(value.reasoning_output_tokens) ?? 0,
    total: num(value.total_tokens) ?? input + output,
  }
}

const minus = (a: Usage, b: Usage | undefined): Usage => ({
  input: Math.max(a.input - (b?.input ?? 0), 0),
  cached: Math.max(a.cached - (b?.cached ?? 0), 0),
  output: Math.max(a.output - (b?.output ?? 0), 0),
  reasoning: Math.max(a.reasoning - (b?.reasoning ?? 0), 0),
  total: Math.max(a.total - (b?.total ?? 0), 0),
})

/** A token count's ledger key: its running totals and its own usage. */
const countKey = (total: Usage, last: Usage | undefined): string =>
  `codex:${[total, last ?? total]
    .map((u) => `${u.input},${u.cached},${u.output},${u.reasoning},${u.total}`)
    .join(':')}`

const sameUsage = (a: Usage, b: Usage | undefined): boolean =>
  b !== undefined &&
  a.input === b.input &&
  a.cached === b.cached &&
  a.output === b.output &&
  a.reasoning === b.reasoning &&
  a.total === b.total

/** The text of a message's content blocks, and the blocks that are not text. */
function messageText(content: unknown): { text: string | undefined; other: unknown[] } {
  if (typeof content === 'string') return { text: content, other: [] }
  if (!Array.isArray(content)) return { text: undefined, other: [] }
  const texts: string[] = []
  const other: unknown[] = []
  for (const block of content) {
    if (isObject(block) && typeof block.text === 'string') texts.push(block.text)
    else if (isObject(block) && block.type === 'input_image') {
      const url = typeof block.image_url === 'string' ? block.image_url : ''
      other.push({ type: 'input_image', omitted_chars: url.length })
    } else other.push(block)
  }
  return { text: texts.length > 0 ? texts.join('\n') : undefined, other }
}

/** A call's `arguments`: the JSON they encode, or the raw text when it is not JSON. */
function parsedArguments(value: unknown): unknown {
  if (typeof value !== 'string') return value
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

/** A call output: Codex often wraps it as the JSON text `{"output": …, "metadata": …}`. */
function outputOf(value: unknown): { text: string; metadata?: unknown } {
  if (typeof value === 'string') {
    if (value.startsWith('{')) {
      const inner = parsedArguments(value)
      if (isObject(inner) && typeof inner.output === 'string') {
        return inner.metadata === undefined
          ? { text: inner.output }
          : { text: inner.output, metadata: inner.metadata }
      }
    }
    return { text: value }
  }
  if (isObject(value) && typeof value.content === 'string') {
    const { content, ...rest } = value
    return Object.keys(rest).length > 0 ? { text: content, metadata: rest } : { text: content }
  }
  return { text: JSON.stringify(value ?? null) }
}

/** A copy of a turn that later token counts (which change the held turn) do not reach. */
const snapshot = (turn: WireTurn): WireTurn =>
  turn.metadata === undefined ? { ...turn } : { ...turn, metadata: { ...turn.metadata } }

const CWD_TAG = /<cwd>([^<]+)<\/cwd>/

export function openCodex(ctx: ConverterContext): Converter {
  let sessionId: string | undefined
  let sessionStart: string | undefined
  let sessionMetadata: Record<string, unknown> = {}
  let cwd: string | undefined
  let metaSent = false
  let cwdSent = false
  let latest: string | undefined
  let model: string | undefined
  let effort: string | undefined
  let reasoning: string[] = []
  let reasoningEncrypted = false
  let reasoningLine = 0
  let lastAssistant: WireTurn | undefined
  let lastTurn: WireTurn | undefined
  let pending: Usage | undefined
  let previousTotal: Usage | undefined
  /** A fork or subagent rollout, until its first token count of its own. */
  let replaying = false

  const skip = (line: number, type: string): ImportEvent[] => [{ kind: 'skip', line, type }]

  function openSession(payload: Record<string, unknown>, line: number): ImportEvent[] {
    const id = str(payload.id) ?? str(payload.session_id)
    if (id === undefined) return [{ kind: 'error', line, message: 'session record without an id' }]
    if (sessionId !== undefined) {
      if (id !== sessionId && previousTotal === undefined) replaying = true
      return skip(line, 'session_meta') // a fork quoting its parent
    }
    sessionId = id
    // A fork, or a subagent of any kind (a spawned thread, a review): there a count an
    // earlier session claimed can only be a copy, and one that copied nothing loses nothing.
    const source = isObject(payload.source) ? payload.source : undefined
    const forked = str(payload.forked_from_id) ?? str(payload.parent_thread_id)
    if (forked !== undefined || (source?.subagent ?? null) !== null) replaying = true
    sessionStart = validTimestamp(payload.timestamp) ?? latest
    cwd = str(payload.cwd)
    model = str(payload.model) ?? model
    sessionMetadata = {}
    for (const key of ['cli_version', 'originator', 'source', 'model_provider', 'git']) {
      const value = payload[key]
      if (value !== undefined && value !== null) sessionMetadata[key] = value
    }
    return []
  }

  /** Adds one model call's usage to the latest assistant turn (else the latest turn). */
  function addUsage(usage: Usage): ImportEvent[] {
    const holder = lastAssistant ?? lastTurn
    if (holder === undefined) {
      pending = pending === undefined ? usage : sumUsage(pending, usage)
      return []
    }
    applyUsage(holder, usage)
    return [{ kind: 'turn', line: holder.seq, turn: snapshot(holder) }]
  }

  function sumUsage(a: Usage, b: Usage): Usage {
    return {
      input: a.input + b.input,
      cached: a.cached + b.cached,
      output: a.output + b.output,
      reasoning: a.reasoning + b.reasoning,
      total: a.total + b.total,
    }
  }

  function applyUsage(turn: WireTurn, usage: Usage) {
    const metadata = turn.metadata ?? {}
    turn.tokens_in = (turn.tokens_in ?? 0) + usage.input
    turn.tokens_out = (turn.tokens_out ?? 0) + usage.output
    metadata.cached_input_tokens = ((metadata.cached_input_tokens as number) ?? 0) + usage.cached
    metadata.reasoning_output_tokens =
      ((metadata.reasoning_output_tokens as number) ?? 0) + usage.reasoning
    metadata.total_tokens = ((metadata.total_tokens as number) ?? 0) + usage.total
    turn.metadata = metadata
  }

  function tokenCount(payload: Record<string, unknown>): ImportEvent[] {
    const info = isObject(payload.info) ? payload.info : undefined
    if (info === undefined) return []
    const total = usageOf(info.total_token_usage)
    if (total !== undefined && sameUsage(total, previousTotal)) return [] // a repeated event
    const last = usageOf(info.last_token_usage)
    const usage = last ?? (total && minus(total, previousTotal))
    if (total !== undefined) previousTotal = total
    if (usage === undefined) return []
    if (total !== undefined && sessionId !== undefined && ctx.replies !== undefined) {
      const counter = ctx.replies.claim(countKey(total, last), sessionId)
      if (replaying && counter !== sessionId) return copied(counter)
    }
    replaying = false
    return addUsage(usage)
  }

  /** A count copied from `counter`'s history: the turn it follows is marked, not counted. */
  function copied(counter: string): ImportEvent[] {
    const holder = lastAssistant ?? lastTurn
    if (holder === undefined || holder.metadata?.tokens_counted_in === counter) return []
    holder.metadata = { ...holder.metadata, tokens_counted_in: counter }
    return [{ kind: 'turn', line: holder.seq, turn: snapshot(holder) }]
  }

  /** One Responses API item (a response_item's payload, or a bare item of the older layout). */
  function item(
    payload: Record<string, unknown>,
    line: number,
    timestamp: string | undefined,
  ): ImportEvent[] {
    const type = typeof payload.type === 'string' ? payload.type : '(no type)'
    if (type === 'reasoning') {
      const summary = Array.isArray(payload.summary) ? payload.summary : []
      for (const part of [...summary, ...(Array.isArray(payload.content) ? payload.content : [])]) {
        if (isObject(part) && typeof part.text === 'string') reasoning.push(part.text)
      }
      if (typeof payload.encrypted_content === 'string') reasoningEncrypted = true
      if (reasoningLine === 0) reasoningLine = line
      return []
    }

    const events: ImportEvent[] = []
    let role: WireTurn['role']
    const metadata: Record<string, unknown> = {}
    let content: string | undefined
    let toolCalls: unknown[] | undefined
    switch (type) {
      case 'message': {
        const r = payload.role
        role = r === 'assistant' ? 'assistant' : r === 'user' ? 'user' : 'system'
        if (r !== 'assistant' && r !== 'user') metadata.codex_role = r
        const { text, other } = messageText(payload.content)
        content = text
        if (other.length > 0) metadata.blocks = other
        break
      }
      case 'function_call':
      case 'custom_tool_call':
        role = 'assistant'
        toolCalls = [
          {
            id: payload.call_id,
            name: payload.name,
            input: type === 'function_call' ? parsedArguments(payload.arguments) : payload.input,
          },
        ]
        if (type === 'custom_tool_call') metadata.call_type = 'custom'
        break
      case 'local_shell_call':
        role = 'assistant'
        toolCalls = [{ id: payload.call_id, name: 'local_shell', input: payload.action }]
        break
      case 'web_search_call':
        role = 'assistant'
        toolCalls = [{ id: payload.id, name: 'web_search', input: payload.action }]
        break
      case 'function_call_output':
      case 'custom_tool_call_output':
      case 'local_shell_call_output': {
        role = 'tool'
        const output = outputOf(payload.output)
        content = output.text
        metadata.call_id = payload.call_id
        if (output.metadata !== undefined) metadata.output_metadata = output.metadata
        break
      }
      default:
        return skip(line, `response_item/${type}`)
    }
    put(metadata, 'status', str(payload.status))
    put(metadata, 'item_id', str(payload.id))

    if (sessionId === undefined) {
      return [{ kind: 'error', line, message: `${type} before the session record` }]
    }
    const at = timestamp ?? latest ?? sessionStart
    if (at === undefined) {
      return [{ kind: 'error', line, message: `${type} without a valid timestamp` }]
    }

    if (role === 'user' && cwd === undefined && content !== undefined) {
      const found = CWD_TAG.exec(content)?.[1]?.trim()
      if (found !== undefined && found !== '') cwd = found
    }
    if (role === 'assistant') {
      put(metadata, 'effort', effort)
      if (reasoning.length > 0) metadata.reasoning = reasoning.join('\n\n')
      if (reasoningEncrypted) metadata.reasoning_encrypted = true
      reasoning = []
      reasoningEncrypted = false
      reasoningLine = 0
    } else if (reasoningLine !== 0) {
      // Reasoning that no assistant turn followed: nothing to attach it to.
      events.push({ kind: 'skip', line: reasoningLine, type: 'response_item/reasoning' })
      reasoning = []
      reasoningEncrypted = false
      reasoningLine = 0
    }

    const turn: WireTurn = {
      tool: TOOL,
      host: ctx.host,
      session_id: sessionId,
      turn_id: `${sessionId}:${line}`,
      seq: line,
      role,
      timestamp: at,
    }
    if (content !== undefined) turn.content = wellFormed(content)
    if (role === 'assistant' && model !== undefined) turn.model = model
    if (toolCalls !== undefined) turn.tool_calls = toolCalls
    if (Object.keys(metadata).length > 0) turn.metadata = metadata
    if (!metaSent || (!cwdSent && cwd !== undefined)) {
      const meta: NonNullable<WireTurn['session_meta']> = {
        source_file: wellFormed(ctx.path),
        metadata: sessionMetadata,
      }
      put(meta, 'started_at', sessionStart ?? at)
      if (cwd !== undefined) meta.working_dir = wellFormed(cwd)
      turn.session_meta = meta
      metaSent = true
      cwdSent = cwd !== undefined
    }
    if (pending !== undefined && (role === 'assistant' || lastTurn === undefined)) {
      applyUsage(turn, pending)
      pending = undefined
    }
    if (role === 'assistant') lastAssistant = turn
    lastTurn = turn
    events.push({ kind: 'turn', line, turn: snapshot(turn) })
    return events
  }

  function feed({ line, text }: SourceRecord): ImportEvent[] {
    if (text.trim() === '') return []
    const parsed = parseRecord(text)
    if (!parsed.ok) return [{ kind: 'error', line, message: parsed.message }]
    const r = parsed.record
    const timestamp = validTimestamp(r.timestamp)
    if (timestamp !== undefined) latest = timestamp

    const type = r.type
    if (typeof type === 'string' && isObject(r.payload)) {
      if (!ENVELOPE_TYPES.has(type)) return skip(line, type) // compacted, and kinds to come
      const payload = r.payload
      const kind = typeof payload.type === 'string' ? payload.type : '(no type)'
      switch (type) {
        case 'session_meta':
          return openSession(payload, line)
        case 'turn_context':
          model = str(payload.model) ?? model
          effort = str(payload.effort) ?? effort
          if (cwd === undefined) cwd = str(payload.cwd)
          return []
        case 'event_msg':
          return kind === 'token_count' ? tokenCount(payload) : skip(line, `event_msg/${kind}`)
        default:
          return item(payload, line, timestamp)
      }
    }
    if (r.record_type === 'state') return skip(line, 'state')
    if (typeof type !== 'string' && typeof r.id === 'string' && sessionId === undefined) {
      return openSession(r, line) // the older layout's first line
    }
    if (typeof type === 'string') return item(r, line, timestamp)
    return skip(line, '(no type)')
  }

  return { feed, end: () => [] }
}
