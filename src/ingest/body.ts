/**
 * The request body as decompressed bytes, with its failures told apart: the client going away
 * (BODY_INCOMPLETE) is not a corrupt compressed body (BAD_ENCODING). Nothing is buffered: bytes
 * flow through as the client sends them.
 */
import { ApiError } from '../errors'
import type { BodyReader, ContentEncoding } from '../types'

/** The client stopped sending before the body was complete. */
export const incomplete = (cause: unknown) =>
  new ApiError('BODY_INCOMPLETE', 'The request body ended before it was complete.', { cause })

/** The body arrived whole, but does not inflate. */
export const badEncoding = (encoding: 'gzip' | 'deflate', cause: unknown) =>
  new ApiError('BAD_ENCODING', `The ${encoding} body is corrupt or truncated.`, { cause })

/** A web Request's body (the Worker's), inflated by the platform's DecompressionStream. */
export function openBody(raw: ReadableStream<Uint8Array>, encoding: ContentEncoding): BodyReader {
  const source = raw.getReader()
  if (encoding === undefined) {
    return {
      read: () =>
        source.read().catch((cause: unknown) => {
          throw incomplete(cause)
        }),
      cancel: () => source.cancel(),
    }
  }

  // Fed by hand, not piped: every promise of the writing side is handled here (workerd reports
  // a pipe's rejected close() on a truncated body as uncaught); the read below is where the
  // failure is answered. A failure of the source is marked, so a decompressor error it caused
  // is not taken for a corrupt body.
  const inflater = new DecompressionStream(encoding) as unknown as ReadableWritablePair<
    Uint8Array,
    Uint8Array
  >
  const writer = inflater.writable.getWriter()
  writer.closed.catch(() => {})
  let sourceFailed = false
  void (async () => {
    try {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>
        try {
          next = await source.read()
        } catch (cause) {
          sourceFailed = true
          throw cause
        }
        if (next.done) return await writer.close()
        await writer.write(next.value)
      }
    } catch (cause) {
      writer.abort(cause).catch(() => {})
      source.cancel(cause).catch(() => {})
    }
  })()
  const inflated = inflater.readable.getReader()
  return {
    read: () =>
      inflated.read().catch((cause: unknown) => {
        throw sourceFailed ? incomplete(cause) : badEncoding(encoding, cause)
      }),
    cancel: () => inflated.cancel(),
  }
}
