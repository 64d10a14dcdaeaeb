/**
 * Database failures become domain errors here, at the boundary: callers never parse SQLite
 * messages. A `data` error is caused by the values of the statement (a constraint, a value
 * SQLite refuses) and would fail again with the same input; anything else (unreachable, timeout,
 * busy past its timeout, server error) is `unavailable`, a failure of the database itself.
 */
export class DatabaseError extends Error {
  override readonly name = 'DatabaseError'
  readonly kind: 'data' | 'unavailable'

  constructor(kind: 'data' | 'unavailable', message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.kind = kind
  }
}

const DATA_CODES = ['SQLITE_CONSTRAINT', 'SQLITE_TOOBIG', 'SQLITE_MISMATCH']

const codesOf = (error: unknown): string[] => {
  const codes: string[] = []
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 4; depth++) {
    const { code, extendedCode } = e as { code?: unknown; extendedCode?: unknown }
    if (typeof code === 'string') codes.push(code)
    if (typeof extendedCode === 'string') codes.push(extendedCode)
    e = (e as { cause?: unknown }).cause
  }
  return codes
}

/** What a line error may say of a data error: SQLite's own words, short, without values. */
const dataMessage = (error: unknown): string => {
  const text = error instanceof Error ? error.message : ''
  const constraint =
    /(CHECK|NOT NULL|UNIQUE|FOREIGN KEY|PRIMARY KEY) constraint failed(: [\w." ,]+)?/.exec(text)
  if (constraint !== null) return `the database refused this line: ${constraint[0]}`.slice(0, 200)
  return 'the database refused this line'
}

/** The most specific SQLite code in the error's cause chain (for logs and metrics), if any. */
export const databaseCodeOf = (error: unknown): string | undefined => {
  const codes = codesOf(error)
  return codes.find((code) => code.includes('_') && code !== 'SQLITE_ERROR') ?? codes[0]
}

/**
 * Another writer held the database's write lock (sqld refuses a write batch that would wait for
 * it). The batch was rolled back whole, so writing it again is safe.
 */
export const isBusy = (error: unknown): boolean =>
  codesOf(error).some((code) => code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))

export function toDatabaseError(error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error
  const codes = codesOf(error)
  if (codes.some((code) => DATA_CODES.some((data) => code.startsWith(data)))) {
    return new DatabaseError('data', dataMessage(error), error)
  }
  return new DatabaseError('unavailable', 'the database is unavailable', error)
}
