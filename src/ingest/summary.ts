/** The summary's status code and the per-line errors it carries. */
import type { LineError, Summary } from '../types'

/** 200 when nothing was rejected, 207 for a mix, 422 when lines were sent and none was accepted. */
export const summaryStatus = (summary: Summary): 200 | 207 | 422 =>
  summary.rejected === 0 ? 200 : summary.accepted === 0 ? 422 : 207

/**
 * Keeps the first `max` rejected lines in line order while counting all of them. Errors may
 * arrive out of order (a chunk's DB_CONSTRAINT lines are known only after later lines were
 * validated), so each is inserted in place and the largest line number falls off the end.
 */
export class ErrorList {
  readonly #max: number
  readonly #errors: LineError[] = []
  #count = 0

  constructor(max: number) {
    this.#max = max
  }

  get count(): number {
    return this.#count
  }

  add(error: LineError): void {
    this.#count++
    if (this.#max === 0) return
    const errors = this.#errors
    const last = errors[errors.length - 1]
    if (errors.length === this.#max && last !== undefined && last.line < error.line) return
    let at = errors.length
    while (at > 0 && (errors[at - 1]?.line ?? 0) > error.line) at--
    errors.splice(at, 0, error)
    if (errors.length > this.#max) errors.pop()
  }

  snapshot(): LineError[] {
    return [...this.#errors]
  }
}
