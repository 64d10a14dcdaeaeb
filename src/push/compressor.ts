/**
 * The gzip behind each request body. Node's zlib is always there; ISA-L's `igzip` (Debian and
 * Ubuntu package `isal`), when on PATH, writes the same format for about a quarter of zlib's CPU
 * at level 1 (300 MB of turns: 0.55 s against 2.2 s here) and compresses a little better. With
 * zlib, deflate is about half of what a push costs the client, so igzip is used when found.
 * `TRIBUTARY_GZIP=zlib` or `=igzip` picks one; `igzip` then must be there.
 */
import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process'
import { Duplex, type Readable, type Writable } from 'node:stream'
import { createGzip } from 'node:zlib'

export type Compressor = {
  readonly name: 'zlib' | 'igzip'
  /** A new gzip stream: the body in, one gzip member out. */
  open(): Duplex
}

const zlib: Compressor = {
  name: 'zlib',
  // Large output chunks: one callback per 128 KB of compressed body, not per 16 KB.
  open: () => createGzip({ level: 1, chunkSize: 128 * 1024 }),
}

/**
 * A gzip member from an `igzip` child: the body into its stdin, its stdout out. The stream ends
 * only once igzip has exited 0, so a request is never ended on the output of a failed igzip.
 */
class IgzipStream extends Duplex {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>

  constructor() {
    super()
    const child = spawn('igzip', ['-1', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.#child = child
    let said = ''
    child.stderr.on('data', (piece: Buffer) => {
      said = `${said}${piece.toString('utf8')}`.slice(-500)
    })
    child.stdout.on('data', (piece: Buffer) => {
      if (!this.push(piece)) child.stdout.pause()
    })
    const fail = (error: Error) => this.destroy(error)
    child.stdin.on('error', fail)
    child.stdout.on('error', fail)
    child.once('error', fail)
    // After its stdout ended: everything it wrote has been pushed.
    child.once('close', (code, signal) => {
      if (code === 0) this.push(null)
      else fail(new Error(`igzip exited with ${signal ?? code}${said ? `: ${said.trim()}` : ''}`))
    })
  }

  override _read(): void {
    this.#child.stdout.resume()
  }

  override _write(piece: Buffer, _: BufferEncoding, done: (error?: Error | null) => void): void {
    // Done once the pipe took it: igzip's pace is the body's backpressure, as zlib's would be.
    this.#child.stdin.write(piece, done)
  }

  override _final(done: (error?: Error | null) => void): void {
    this.#child.stdin.end(done)
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#child.kill()
    done(error)
  }
}

const igzip: Compressor = { name: 'igzip', open: () => new IgzipStream() }

/** Whether `igzip` runs here (asked once per process). */
let found: boolean | undefined
const igzipRuns = (): boolean => {
  found ??= spawnSync('igzip', ['-V'], { stdio: 'ignore' }).status === 0
  return found
}

export const compressors = { zlib, igzip }

/** The compressor `TRIBUTARY_GZIP` asks for; by default igzip when it runs here, zlib otherwise. */
export function findCompressor(
  wanted = process.env.TRIBUTARY_GZIP,
  runs: () => boolean = igzipRuns,
): Compressor {
  if (wanted === 'zlib') return zlib
  if (wanted === 'igzip') {
    if (!runs()) {
      throw new Error('TRIBUTARY_GZIP=igzip, but igzip is not on PATH (apt-get install isal)')
    }
    return igzip
  }
  if (wanted !== undefined && wanted !== '' && wanted !== 'auto') {
    throw new Error(`TRIBUTARY_GZIP must be zlib, igzip or auto, not ${JSON.stringify(wanted)}`)
  }
  return runs() ? igzip : zlib
}
