/**
 * The responses a Node server has not finished yet, so a graceful shutdown knows when the
 * requests in flight have had their answers.
 */
import type { EventEmitter } from 'node:events'

export class Drain {
  /** Set when the shutdown begins: requests that still arrive are refused. */
  closing = false
  #open = 0
  #waiters: Array<() => void> = []

  /** Count `response` until it closes (sent, or its connection gone). */
  track(response: EventEmitter): void {
    this.#open++
    response.once('close', () => {
      this.#open--
      if (this.#open === 0) for (const wake of this.#waiters.splice(0)) wake()
    })
  }

  /** True once nothing is in flight; false when `ms` passed first. */
  idle(ms = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.#open === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => resolve(false), ms) : undefined
      this.#waiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }
}
