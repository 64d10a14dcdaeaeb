/**
 * Which session counts each API reply's tokens. A resumed or forked Claude Code session starts
 * a new file with the conversation before it copied in: the same records under the new session
 * id, each reply with its `message.id`, `requestId` and usage. The copies are turns of the new
 * session, but their tokens were spent once: the first session seen with a reply keeps them.
 *
 * Kept in the state file per server (so a session resumed after its original was pushed is
 * still a copy), as 64-bit hashes of the reply keys, 11 characters each, concatenated per
 * session: a month of heavy use is a few hundred KB, rewritten with the state.
 */
import type { ReplyLedger } from './types'

/** Characters of one hashed key. */
const HASH_CHARS = 11

const hashBytes = Buffer.alloc(8)

/** A reply key's 64-bit FNV-1a hash (two 32-bit lanes), as 11 base64url characters. */
function hashKey(key: string): string {
  let a = 0x811c9dc5
  let b = 0x050c5d1f
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 15)
  }
  hashBytes.writeUInt32BE(a >>> 0, 0)
  hashBytes.writeUInt32BE(b >>> 0, 4)
  return hashBytes.toString('base64url')
}

export class ReplyOwners implements ReplyLedger {
  /** Hashed key → the session counting it. */
  readonly #owner = new Map<string, string>()
  /** Session → its keys' hashes, concatenated, as saved. */
  readonly #keys = new Map<string, string>()

  /** The ledger saved as `toJSON()` wrote it; a malformed entry is left out. */
  static from(saved: unknown): ReplyOwners {
    const owners = new ReplyOwners()
    if (typeof saved !== 'object' || saved === null) return owners
    for (const [session, keys] of Object.entries(saved)) {
      if (typeof keys !== 'string' || keys.length % HASH_CHARS !== 0) continue
      owners.#keys.set(session, keys)
      for (let i = 0; i < keys.length; i += HASH_CHARS) {
        const hash = keys.slice(i, i + HASH_CHARS)
        if (!owners.#owner.has(hash)) owners.#owner.set(hash, session)
      }
    }
    return owners
  }

  claim(key: string, session: string): string {
    const hash = hashKey(key)
    const owner = this.#owner.get(hash)
    if (owner !== undefined) return owner
    this.#owner.set(hash, session)
    this.#keys.set(session, (this.#keys.get(session) ?? '') + hash)
    return session
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries(this.#keys)
  }
}
