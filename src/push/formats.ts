/**
 * The formats a push reads, detected per file from its content: tributary's own wire format
 * (passed through as it is) and the importers' formats (Claude Code, Codex).
 */
import { detectFormat, openConverter } from './importer'
import { isWireFormat, openPassthrough } from './passthrough'
import type { Converter, ConverterContext, Format } from './types'

export type SourceFormat = Format | 'tributary'

/** The format of a file from its first non-blank lines; null when it is none we read. */
export function detectSourceFormat(firstLines: string[]): SourceFormat | null {
  if (isWireFormat(firstLines)) return 'tributary'
  return detectFormat(firstLines)
}

/** Whether a converter of this format keeps no state between lines (so it may start mid-file). */
export const isStateless = (format: SourceFormat): boolean => format === 'tributary'

export function openSourceConverter(format: SourceFormat, ctx: ConverterContext): Converter {
  return format === 'tributary' ? openPassthrough() : openConverter(format, ctx)
}
