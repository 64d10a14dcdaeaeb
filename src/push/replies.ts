/**
 * Which session counts each API reply's tokens. A resumed or forked Claude Code session starts
 * a new file with the conversation before it copied in: the same records under the new session
 * id, each reply with its `message.id`, `requestId` and usage. The copies are turns of the new
 * session, but their tokens were spent once: the first session seen with a reply keeps them.
 * A forked or subagent Codex rollout copies its parent's token counts the same way (codex.ts
 * claims each by its running totals).
 *
 * Kept beside the state file, per server (so a session resumed after its original was pushed
 * is still a copy), as 64-bit hashes of the reply keys, 11 characters each, concatenated per
 * session: each save appends a line of the claims made since the one before (a month of heavy
 * use is a few hundred KB in all), so the ledger is never rewritten whole.
 */
import type { ReplyLedger } from './types'

/** Characters of one hashed key. */
const HASH_CHARS = 11

const hashBytes = Buffer.alloc(8)

/** A reply key's 64-bit FNV-1a hash, as two 32-bit lanes. */
function hashKey(key: string): [number, number] {
  let a = 0x811c9dc5
  let b = 0x050c5d1f
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 15)
  }
  return [a >>> 0, b >>> 0]
}

/** A hash as it is saved: 11 base64url characters. */
function encode(hi: number, lo: number): string {
  hashBytes.writeUInt32BE(hi, 0)
  hashBytes.writeUInt32BE(lo, 4)
  return hashBytes.toString('base64url')
}

/**
 * Hashes → the index of the session counting them, an open-addressing table in typed arrays:
 * a few MB outside the JS heap for a year of replies, where a Map's entries would each be
 * objects the garbage collector walks (and a larger live heap lets V8 grow its heap more).
 */
class HashTable {
  #hi = new Uint32Array(1024)
  #lo = new Uint32Array(1024)
  /** The session's index plus one; 0 marks an empty slot. */
  #owner = new Uint32Array(1024)
  #size = 0

  #slot(hi: number, lo: number): number {
    const mask = this.#owner.length - 1
    let at = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask
    while (this.#owner[at] !== 0 && (this.#hi[at] !== hi || this.#lo[at] !== lo)) {
      at = (at + 1) & mask
    }
    return at
  }

  /** The owner's index of a hash that has one; else `owner` becomes it, and -1. One probe. */
  claim(hi: number, lo: number, owner: number): number {
    if ((this.#size + 1) * 2 > this.#owner.length) this.#grow()
    const at = this.#slot(hi, lo)
    const found = this.#owner[at] ?? 0
    if (found !== 0) return found - 1
    this.#hi[at] = hi
    this.#lo[at] = lo
    this.#owner[at] = owner + 1
    this.#size++
    return -1
  }

  #grow(): void {
    const [hi, lo, owner] = [this.#hi, this.#lo, this.#owner]
    this.#hi = new Uint32Array(hi.length * 2)
    this.#lo = new Uint32Array(lo.length * 2)
    this.#owner = new Uint32Array(owner.length * 2)
    for (let i = 0; i < owner.length; i++) {
      const o = owner[i] ?? 0
      if (o === 0) continue
      const at = this.#slot(hi[i] ?? 0, lo[i] ?? 0)
      this.#hi[at] = hi[i] ?? 0
      this.#lo[at] = lo[i] ?? 0
      this.#owner[at] = o
    }
  }
}

export class ReplyOwners implements ReplyLedger {
  readonly #table = new HashTable()
  readonly #sessions: string[] = []
  readonly #index = new Map<string, number>()
  /** Claims since the last `takeNew()`: session → its keys' hashes, concatenated. */
  #new = new Map<string, string>()

  #sessionIndex(session: string): number {
    let index = this.#index.get(session)
    if (index === undefined) {
      index = this.#sessions.push(session) - 1
      this.#index.set(session, index)
    }
    return index
  }

  /** Adds claims as `takeNew()` gave them (earlier claims win); malformed entries are left out. */
  load(saved: unknown): void {
    if (typeof saved !== 'object' || saved === null) return
    for (const [session, keys] of Object.entries(saved)) {
      if (typeof keys !== 'string' || keys.length % HASH_CHARS !== 0) continue
      const index = this.#sessionIndex(session)
      for (let i = 0; i < keys.length; i += HASH_CHARS) {
        const bytes = Buffer.from(keys.slice(i, i + HASH_CHARS), 'base64url')
        if (bytes.length !== 8) continue
        this.#table.claim(bytes.readUInt32BE(0), bytes.readUInt32BE(4), index)
      }
    }
  }

  claim(key: string, session: string): string {
    const [hi, lo] = hashKey(key)
    const owner = this.#table.claim(hi, lo, this.#sessionIndex(session))
    if (owner >= 0) return this.#sessions[owner] ?? session
    this.#new.set(session, (this.#new.get(session) ?? '') + encode(hi, lo))
    return session
  }

  /** The claims made since the last call, to be saved; undefined when there are none. */
  takeNew(): Record<string, string> | undefined {
    if (this.#new.size === 0) return undefined
    const claims = Object.fromEntries(this.#new)
    this.#new = new Map()
    return claims
  }
}
