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

  // A failure of the source is marked as it passes, so a decompressor error it caused is not
  // taken for a corrupt body.
  let sourceFailed = false
  const tagged = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await source.read()
          if (done) controller.close()
          else controller.enqueue(value)
        } catch (cause) {
          sourceFailed = true
          controller.error(cause)
        }
      },
      cancel(reason) {
        return source.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
  const inflated = tagged
    .pipeThrough(
      new DecompressionStream(encoding) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>,
    )
    .getReader()
  return {
    read: () =>
      inflated.read().catch((cause: unknown) => {
        throw sourceFailed ? incomplete(cause) : badEncoding(encoding, cause)
      }),
    cancel: () => inflated.cancel(),
  }
}
