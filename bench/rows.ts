/**
 * The corpus as the database sees it: its valid lines parsed once (outside any timing) into the
 * records the pipeline would write, cut into chunks by the pipeline's own rule, and the exact
 * statements TurnStore builds for each chunk. The limit measurements replay these.
 */
import type { InStatement } from '@libsql/client'
import { chunkUpserts } from '../src/db/statements'
import { LineSplitter } from '../src/ingest/lines'
import { parseTurnLine } from '../src/ingest/turn'
import type { IngestLimits, TurnRecord } from '../src/types'

/** `rejected`: non-blank lines the pipeline rejects (the ones made invalid on purpose). */
export type Rows = { chunks: TurnRecord[][]; rows: number; rejected: number }

/** Valid lines of `body` as records, chunked like `ingest()` chunks them. */
export function corpusRows(body: Uint8Array, limits: IngestLimits): Rows {
  const splitter = new LineSplitter(limits.maxLineBytes)
  const chunks: TurnRecord[][] = []
  let current: TurnRecord[] = []
  let bytes = 0
  let rows = 0
  let rejected = 0
  const events = [...splitter.push(body), ...splitter.end()]
  for (const event of events) {
    if (event.kind !== 'line') {
      rejected++
      continue
    }
    const parsed = parseTurnLine(event.text)
    if (!parsed.ok) {
      rejected++
      continue
    }
    current.push(parsed.turn)
    bytes += event.bytes
    rows++
    if (current.length >= limits.chunkLines || bytes >= limits.chunkBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
  }
  if (current.length > 0) chunks.push(current)
  return { chunks, rows, rejected }
}

/** The statements TurnStore writes for each chunk, built once, before any clock starts. */
export function chunkStatements(owner: string, rows: Rows): InStatement[][] {
  return rows.chunks.map((records) => chunkUpserts(owner, records))
}
