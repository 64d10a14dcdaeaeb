/**
 * Whole-request failures. Every one leaves the app through `toProblem()` as RFC 7807
 * `application/problem+json`; per-line problems are data in the summary, never an ApiError.
 */
import type { Summary } from './types'

/** Default of RETRY_AFTER_S; answers take theirs from `limits.retryAfterS`, the one setting. */
export const RETRY_AFTER_SECONDS = 5

export const problemCodes = {
  UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  NOT_FOUND: { status: 404, title: 'Not Found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed' },
  BODY_TIMEOUT: { status: 408, title: 'Request body timed out' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  TOO_MANY_REQUESTS: { status: 429, title: 'Too many ingests for this owner' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  BAD_ENCODING: { status: 400, title: 'Bad content encoding' },
  BODY_INCOMPLETE: { status: 400, title: 'Request body incomplete' },
  INVALID_QUERY: { status: 400, title: 'Invalid query parameter' },
  CONFIG_INVALID: { status: 500, title: 'Worker configuration invalid' },
  INTERNAL: { status: 500, title: 'Internal error' },
  DATABASE_UNAVAILABLE: { status: 503, title: 'Database unavailable' },
  AUTH_UNAVAILABLE: { status: 503, title: 'Key source unavailable' },
  OVERLOADED: { status: 503, title: 'Too many ingests in flight' },
  SHUTTING_DOWN: { status: 503, title: 'Server shutting down' },
} as const satisfies Record<string, { status: number; title: string }>

export type ProblemCode = keyof typeof problemCodes

/** Stable, documented `type` URI of each kind of problem (README "Problems"). */
export const problemType = (code: ProblemCode): string =>
  `urn:tributary:problem:${code.toLowerCase().replaceAll('_', '-')}`

export type Problem = {
  type: string
  title: string
  status: number
  detail: string
  code: ProblemCode
  committed?: Summary
  /** The query or path parameter an INVALID_QUERY problem is about. */
  parameter?: string
}

export type ApiErrorOptions = {
  /** What landed before the failure, for failures found after the body started to be read. */
  committed?: Summary
  /** Extra response headers: `Retry-After`, `Allow`, `WWW-Authenticate`. */
  headers?: Record<string, string>
  /** The query or path parameter at fault (INVALID_QUERY). */
  parameter?: string
  cause?: unknown
}

export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly code: ProblemCode
  readonly status: number
  readonly committed: Summary | undefined
  readonly headers: Record<string, string>
  readonly parameter: string | undefined

  constructor(code: ProblemCode, detail: string, options: ApiErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = problemCodes[code].status
    this.committed = options.committed
    this.headers = options.headers ?? {}
    this.parameter = options.parameter
  }

  /** The same failure, now carrying the summary of what was committed before it. */
  withCommitted(committed: Summary): ApiError {
    return new ApiError(this.code, this.message, {
      committed,
      headers: this.headers,
      cause: this.cause,
    })
  }
}

export const toProblem = (error: ApiError): Problem => ({
  type: problemType(error.code),
  title: problemCodes[error.code].title,
  status: error.status,
  detail: error.message,
  code: error.code,
  ...(error.committed === undefined ? {} : { committed: error.committed }),
  ...(error.parameter === undefined ? {} : { parameter: error.parameter }),
})

export const problemResponse = (error: ApiError): Response =>
  new Response(JSON.stringify(toProblem(error)), {
    status: error.status,
    headers: { 'content-type': 'application/problem+json', ...error.headers },
  })
