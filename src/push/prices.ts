/**
 * A bundled, dated price table of Claude models in USD per million tokens, and the cost of one
 * API message from its usage. Cache writes are priced by lifetime (5 minutes or 1 hour), and
 * models with a long-context surcharge switch to their higher band when the prompt crosses it.
 */

/** The day the table was checked against Anthropic's published prices. */
export const PRICE_TABLE_DATE = '2026-12-06'

export const PRICE_TABLE_SOURCE = 'https://platform.claude.com/docs/en/about-claude/pricing'

export type Rates = {
  input: number
  output: number
  cacheRead: number
  cacheWrite5m: number
  cacheWrite1h: number
}

type ModelPrice = Rates & {
  /** Above this many prompt tokens (input + cache reads + cache writes) `long` applies. */
  longAbove?: number
  long?: Rates
}

const rates = (
  input: number,
  output: number,
  cacheWrite5m: number,
  cacheWrite1h: number,
  cacheRead: number,
): Rates => ({ input, output, cacheRead, cacheWrite5m, cacheWrite1h })

const opus3x = rates(15, 75, 18.75, 30, 1.5)
const opus45 = rates(5, 25, 6.25, 10, 0.5)
const sonnet3x = rates(3, 15, 3.75, 6, 0.3)
const sonnetLong = rates(6, 22.5, 7.5, 12, 0.6)
const sonnet5 = rates(2, 10, 2.5, 4, 0.2)
const haiku45 = rates(1, 5, 1.25, 2, 0.1)

/** Keyed by the model id without provider prefix, date or version suffix (see `modelKey`). */
const PRICES: Record<string, ModelPrice> = {
  'claude-fable-5-1': rates(10, 50, 12.5, 20, 0.25),
  'claude-mythos-5-1': rates(10, 50, 12.5, 20, 0.25),
  'claude-fable-5': rates(10, 50, 12.5, 20, 1),
  'claude-mythos-5': rates(10, 50, 12.5, 20, 1),
  'claude-opus-5-5': rates(4, 20, 5, 8, 0.2),
  'claude-opus-5': opus45,
  'claude-opus-4-8': opus45,
  'claude-opus-4-7': opus45,
  'claude-opus-4-6': opus45,
  'claude-opus-4-5': opus45,
  'claude-opus-4-1': opus3x,
  'claude-opus-4': opus3x,
  'claude-opus-4-0': opus3x,
  'claude-3-opus': opus3x,
  'claude-sonnet-5-5': rates(2, 10, 2.5, 4, 0.1),
  'claude-sonnet-5': sonnet5,
  'claude-sonnet-4-6': sonnet3x,
  'claude-sonnet-4-5': { ...sonnet3x, longAbove: 200_000, long: sonnetLong },
  'claude-sonnet-4': { ...sonnet3x, longAbove: 200_000, long: sonnetLong },
  'claude-sonnet-4-0': { ...sonnet3x, longAbove: 200_000, long: sonnetLong },
  'claude-3-7-sonnet': sonnet3x,
  'claude-3-5-sonnet': sonnet3x,
  'claude-haiku-5-5': {
    ...rates(0.1, 0.5, 0.125, 0.2, 0.01),
    longAbove: 100_000,
    long: rates(0.5, 2.5, 0.625, 1, 0.05),
  },
  'claude-haiku-4-5': haiku45,
  'claude-3-5-haiku': rates(0.8, 4, 1, 1.6, 0.08),
  'claude-3-haiku': rates(0.25, 1.25, 0.3, 0.5, 0.03),
}

/**
 * The table key of a model id as the API, Bedrock or Vertex spell it:
 * `us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `claude-sonnet-4-5@20250929` and
 * `claude-sonnet-4-5-20250929` are all `claude-sonnet-4-5`.
 */
export function modelKey(model: string): string {
  let key = model.trim().toLowerCase()
  const at = key.indexOf('claude-')
  if (at > 0) key = key.slice(at)
  key = key.replace(/\[[^\]]*\]$/, '') // Claude Code's "[1m]" context marker
  key = key.replace(/@.*$/, '')
  key = key.replace(/-v\d+(:\d+)?$/, '')
  key = key.replace(/-\d{8}$/, '')
  key = key.replace(/-latest$/, '')
  return key
}

/** The rates of a model, or undefined when the table does not know it. */
export function pricesOf(model: string): ModelPrice | undefined {
  return PRICES[modelKey(model)]
}

export type MessageUsage = {
  input: number
  output: number
  cacheRead: number
  /** Cache writes with a 5-minute lifetime (all cache writes when the split is not recorded). */
  cacheWrite5m: number
  cacheWrite1h: number
}

/** The cost in USD of one API message, or undefined for a model the table does not know. */
export function costOf(model: string, usage: MessageUsage): number | undefined {
  const price = pricesOf(model)
  if (price === undefined) return undefined
  const prompt = usage.input + usage.cacheRead + usage.cacheWrite5m + usage.cacheWrite1h
  const r =
    price.long !== undefined && price.longAbove !== undefined && prompt > price.longAbove
      ? price.long
      : price
  const micro =
    usage.input * r.input +
    usage.output * r.output +
    usage.cacheRead * r.cacheRead +
    usage.cacheWrite5m * r.cacheWrite5m +
    usage.cacheWrite1h * r.cacheWrite1h
  return micro / 1_000_000
}
