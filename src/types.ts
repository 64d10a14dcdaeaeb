/**
 * The domain types every layer speaks. A leaf: it imports nothing of the project, so routes,
 * the pipeline, the stores and the entries can all depend on it without depending on each other.
 */
import type { Context } from 'hono'

export const roles = ['user', 'assistant', 'system', 'tool'] as const
export type Role = (typeof roles)[number]

/** One validated turn, normalized: timestamps in the stored form, JSON values as text. */
export type TurnRecord = {
  tool: string
  host: string
  sessionId: string
  turnId: string
  seq: number
  role: Role
  timestamp: string
  content: string | null
  model: string | null
  tokensIn: number | null
  tokensOut: number | null
  costUsd: number | null
  toolCalls: string | null
  metadata: string | null
  /** The line's own session fields; the store merges them per session. */
  session: {
    startedAt: string
    workingDir: string | null
    sourceFile: string | null
    metadata: string | null
  }
}

export type LineErrorCode =
  | 'INVALID_JSON'
  | 'NOT_AN_OBJECT'
  | 'INVALID_FIELD'
  | 'INVALID_UTF8'
  | 'LINE_TOO_LARGE'
  | 'DB_CONSTRAINT'

export type LineError = {
  line: number
  code: LineErrorCode
  /** Dotted path of the offending field, for INVALID_FIELD. */
  field?: string
  message: string
}

/** The partial-accept summary of one ingest request. */
export type Summary = {
  accepted: number
  rejected: number
  lines: number
  bytes: number
  /** Chunks committed (each one transaction, less its refused lines). */
  chunks: number
  errors: LineError[]
  errors_truncated: boolean
}

/**
 * Where the decompressed body is read from, one piece at a time (a web stream's reader is one).
 * Its read errors must already be ApiErrors.
 */
export type BodyReader = {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>
  /** No more will be read (the request failed): let go of the body. */
  cancel(): Promise<void>
}

export type ContentEncoding = 'gzip' | 'deflate' | undefined

/** A record the database refused: its index in the records written, and why. */
export type Refusal = { index: number; code: 'DB_CONSTRAINT'; message: string }

/** What a sink did with a write: every record not refused is committed. */
export type WriteResult = { refused: Refusal[] }

/**
 * Where validated records go. `write` stores `records` of `owner` as one transaction, leaving out
 * (and naming) the ones the database refuses; it throws a DatabaseError `unavailable` when the
 * database fails, and then nothing of this write is committed. `records` may still be arriving
 * (the pipeline streams a chunk in as it is parsed); when its iteration throws, nothing is written.
 */
export interface Sink {
  write(
    owner: string,
    records: Iterable<TurnRecord> | AsyncIterable<TurnRecord>,
  ): Promise<WriteResult>
}

export type IngestLimits = {
  chunkLines: number
  chunkBytes: number
  maxBodyBytes: number
  maxLineBytes: number
  maxErrors: number
  idleTimeoutMs: number
  /** Commits (transactions, splits included) one request may make; 0 = no limit. */
  maxChunks: number
  /** Deadline of a whole request's body, besides the idle window. */
  requestTimeoutMs: number
  /** Ingests in flight in this process (isolate), and per owner; beyond, 503 / 429. */
  maxConcurrent: number
  maxConcurrentPerOwner: number
  /** `Retry-After` of every 503 and 429. */
  retryAfterS: number
}

/** Resolves the verified owner of an `Authorization` header value, or throws an ApiError. */
export type Verifier = (authorization: string | undefined) => Promise<string>

/** The Hono environment shared by the app, its sub-apps and middleware. */
export type AppEnv = {
  Variables: {
    /** The verified owner (JWT claim), set by the auth middleware; never from the payload. */
    owner: string
    requestId: string
  }
}

// ---------------------------------------------------------------------------------------------
// The read API: what the read routes ask of a store (db/reads.ts), every call owner first.

/** A session's key within its owner. */
export type SessionKey = { tool: string; host: string; sessionId: string }

export type SessionOut = {
  tool: string
  host: string
  session_id: string
  started_at: string
  ended_at: string
  working_dir: string | null
  source_file: string | null
  metadata: Record<string, unknown> | null
  turns: number
  tokens_in: number
  tokens_out: number
  cost_usd: number
  models: string[]
}

export type TurnOut = {
  turn_id: string
  seq: number
  role: string
  timestamp: string
  content: string | null
  model: string | null
  tokens_in: number | null
  tokens_out: number | null
  cost_usd: number | null
  tool_calls: unknown
  metadata: Record<string, unknown> | null
}

export type SessionFilter = {
  tool?: string
  host?: string
  /** Stored-form instants: sessions overlapping [since, until). */
  since?: string
  until?: string
  q?: string
  after?: { endedAt: string; tool: string; host: string; sessionId: string }
  limit: number
}

export type TurnPage = {
  after?: { seq: number; timestamp: string; turnId: string }
  limit: number
}

export type UsageKey = 'day' | 'model' | 'tool' | 'host'

/** A range of stored-form timestamps, [from, to): one bucket of usage, e.g. a local day. */
export type UsageBucket = { from: string; to: string }

export type Totals = {
  turns: number
  tokens_in: number
  tokens_out: number
  cost_usd: number
  sessions: number
}

/** An owner-scoped read store: owner is the first parameter of every call. */
export interface Reads {
  listSessions(
    owner: string,
    filter: SessionFilter,
  ): Promise<{ sessions: SessionOut[]; more: boolean }>
  getSession(owner: string, key: SessionKey): Promise<SessionOut | undefined>
  listTurns(
    owner: string,
    key: SessionKey,
    page: TurnPage,
  ): Promise<{ turns: TurnOut[]; more: boolean } | undefined>
  turnRange(
    owner: string,
    from: string | undefined,
    to: string | undefined,
  ): Promise<{ first: string; last: string } | undefined>
  usage(
    owner: string,
    filter: { buckets: UsageBucket[]; keys: Exclude<UsageKey, 'day'>[] },
  ): Promise<{ bucket: number; keys: (string | null)[]; totals: Totals }[]>
  sessionsWithTurns(owner: string, from: string, to: string): Promise<number>
}

/** What createApp is built from: the entries pass real parts, the tests test ones. */
export type AppDeps = {
  limits: IngestLimits
  store: Sink & { ping(): Promise<void> }
  verify: Verifier
  /** The owner-scoped reads of the read API. */
  reads: Reads
  /**
   * How a request's body is read and inflated: by default from the web Request through
   * DecompressionStream (the Worker); the Node server reads its IncomingMessage instead.
   */
  readBody?: (c: Context<AppEnv>, encoding: ContentEncoding) => BodyReader | null
  /** Runs after each chunk commit (the Node entry yields to the event loop there). */
  afterCommit?: () => Promise<void>
  /** Aborted when the server shuts down: ingests in flight stop reading and answer 503. */
  shutdown?: AbortSignal
  /** Where ordinary client mistakes are noted (a client gone mid-body); console.info by default. */
  info?: (message: string) => void
  /** Where unexpected errors are reported; console.error by default. */
  log?: (message: string, error: unknown) => void
}
