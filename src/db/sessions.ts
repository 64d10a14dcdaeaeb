/**
 * The session merge: one session row per session of a chunk, merged in line order with the rules
 * the upsert applies on conflict (earliest start, latest end, first non-null), so a chunk writes
 * the same sessions as one row a line would, with fewer rows.
 */
import type { TurnRecord } from '../types'
import type { sessions } from './schema'

export type SessionValues = typeof sessions.$inferInsert

export class SessionMerge {
  readonly #owner: string
  readonly #merged = new Map<string, SessionValues>()

  constructor(owner: string) {
    this.#owner = owner
  }

  add(r: TurnRecord): void {
    const key = `${r.tool}\u0000${r.host}\u0000${r.sessionId}`
    const s = this.#merged.get(key)
    if (s === undefined) {
      this.#merged.set(key, lineSession(this.#owner, r))
      return
    }
    if (r.session.startedAt < s.startedAt) s.startedAt = r.session.startedAt
    if (r.timestamp > s.endedAt) s.endedAt = r.timestamp
    s.workingDir ??= r.session.workingDir
    s.sourceFile ??= r.session.sourceFile
    s.metadata ??= r.session.metadata
  }

  rows(): SessionValues[] {
    return [...this.#merged.values()]
  }
}

/** The session row one line alone makes: its own start, its timestamp as the end. */
export const lineSession = (owner: string, r: TurnRecord): SessionValues => ({
  owner,
  tool: r.tool,
  host: r.host,
  sessionId: r.sessionId,
  startedAt: r.session.startedAt,
  endedAt: r.timestamp,
  workingDir: r.session.workingDir,
  sourceFile: r.session.sourceFile,
  metadata: r.session.metadata,
})
