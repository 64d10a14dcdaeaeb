/**
 * The Node server's request bodies, read from Node's own IncomingMessage and inflated by Node's
 * zlib: no web Request and no web streams in between, which cost the event loop real time.
 */
import type { Readable } from 'node:stream'
import { finished } from 'node:stream'
import { createGunzip, createInflate } from 'node:zlib'
import { ApiError } from '../errors'
import { badEncoding, incomplete } from '../ingest/body'
import type { BodyReader, ContentEncoding } from '../types'

/** zlib's output piece: larger pieces mean fewer line-splitter turns per byte than 16 KiB. */
const INFLATED_PIECE_BYTES = 64 * 1024

/**
 * Read `incoming` (a request's body), inflating it when `encoding` says so. `cancel` lets go of
 * the inflater but never destroys the request itself: a request cut short still gets its answer,
 * and @hono/node-server drains or closes what is left of the body once that answer is sent.
 */
export function nodeBody(incoming: Readable, encoding: ContentEncoding): BodyReader {
  if (encoding === undefined) {
    const pieces = incoming.iterator({ destroyOnReturn: false })
    return {
      read: () => nextPiece(pieces, incomplete),
      cancel: async () => {
        // Pending while a read waits (a stalled body): it ends when the request is closed.
        void pieces.return?.()
      },
    }
  }

  const options = { chunkSize: INFLATED_PIECE_BYTES }
  const inflater = encoding === 'gzip' ? createGunzip(options) : createInflate(options)
  finished(incoming, { writable: false }, (error) => {
    // pipe() does not carry the request's failure on: the inflater is stopped with it.
    if (error !== undefined && error !== null) inflater.destroy(incomplete(error))
  })
  const pieces = incoming.pipe(inflater).iterator({ destroyOnReturn: false })
  return {
    read: () => nextPiece(pieces, (cause) => badEncoding(encoding, cause)),
    cancel: async () => {
      // Unpipes it from the request, and ends a read still waiting.
      inflater.destroy()
    },
  }
}

/** The next piece (a Buffer: the streams here are bytes), its failure as an ApiError. */
async function nextPiece(
  pieces: AsyncIterator<Uint8Array>,
  failure: (cause: unknown) => ApiError,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  try {
    const next = await pieces.next()
    return next.done === true
      ? { done: true, value: undefined }
      : { done: false, value: next.value }
  } catch (cause) {
    throw cause instanceof ApiError ? cause : failure(cause)
  }
}
