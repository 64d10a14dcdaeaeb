/**
 * The request body as a stream of decompressed bytes, with its failures told apart: the client
 * going away (BODY_INCOMPLETE) is not a corrupt compressed body (BAD_ENCODING). Nothing is
 * buffered: bytes flow through as the client sends them.
 */
import { ApiError } from '../errors'

export type ContentEncoding = 'gzip' | 'deflate' | undefined

/** What inflates a compressed body: bytes in on the writable side, inflated bytes out. */
export type Decompressor = (
  encoding: 'gzip' | 'deflate',
) => ReadableWritablePair<Uint8Array, Uint8Array>

/** The web platform's DecompressionStream: what a Worker has. */
export const webDecompressor: Decompressor = (encoding) =>
  new DecompressionStream(encoding) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>

const incomplete = (cause: unknown) =>
  new ApiError('BODY_INCOMPLETE', 'The request body ended before it was complete.', { cause })

export function openBody(
  raw: ReadableStream<Uint8Array>,
  encoding: ContentEncoding,
  decompress: Decompressor = webDecompressor,
): ReadableStream<Uint8Array> {
  const source = raw.getReader()
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
          controller.error(incomplete(cause))
        }
      },
      cancel(reason) {
        return source.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
  if (encoding === undefined) return tagged

  const inflated = tagged.pipeThrough<Uint8Array>(decompress(encoding)).getReader()
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await inflated.read()
          if (done) controller.close()
          else controller.enqueue(value)
        } catch (cause) {
          controller.error(
            sourceFailed
              ? incomplete(cause)
              : new ApiError('BAD_ENCODING', `The ${encoding} body is corrupt or truncated.`, {
                  cause,
                }),
          )
        }
      },
      cancel(reason) {
        return inflated.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}
