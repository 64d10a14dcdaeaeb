/**
 * The formats a push reads, detected per file from its content: tributary's own wire format
 * (passed through) and the importers' formats.
 */
import type { Converter } from './contract'
import { isWireFormat, openPassthrough } from './passthrough'

export type SourceFormat = 'tributary'

/** The format of a file from its first non-blank lines; null when it is none we read. */
export function detectSourceFormat(firstLines: string[]): SourceFormat | null {
  if (isWireFormat(firstLines)) return 'tributary'
  return null
}

/** Whether a converter of this format keeps no state between lines (so it may start mid-file). */
export const isStateless = (format: SourceFormat): boolean => format === 'tributary'

export function openSourceConverter(
  _format: SourceFormat,
  _ctx: { path: string; host: string },
): Converter {
  return openPassthrough()
}
