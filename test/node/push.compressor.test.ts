/**
 * The gzip behind push's request bodies: each compressor here writes one gzip member that
 * inflates to exactly the body, and the choice between them follows TRIBUTARY_GZIP and whether
 * igzip runs; a sender closed mid-request leaves no gzip (nor igzip child) behind. (A failing
 * igzip's request is in push.error.test.ts.)
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { type Compressor, compressors, findCompressor } from '../../src/push/compressor'
import { Sender } from '../../src/push/sender'

/** igzip comes from Debian's `isal` (CI installs it); without it only zlib is exercised here. */
const igzipHere = spawnSync('igzip', ['-V'], { stdio: 'ignore' }).status === 0
const here: Compressor[] = igzipHere ? [compressors.zlib, compressors.igzip] : [compressors.zlib]

async function compress(compressor: Compressor, pieces: Buffer[]): Promise<Buffer> {
  const stream = compressor.open()
  const out: Buffer[] = []
  stream.on('data', (piece: Buffer) => out.push(piece))
  const done = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve)
    stream.once('error', reject)
  })
  for (const piece of pieces) {
    if (!stream.write(piece)) await new Promise((resolve) => stream.once('drain', resolve))
  }
  stream.end()
  await done
  return Buffer.concat(out)
}

describe.each(here.map((c) => [c.name, c] as const))('the %s compressor', (_, compressor) => {
  it('writes one gzip member that inflates to the body, across pieces and its 1 MiB blocks', async () => {
    // Text that compresses, and random bytes that do not, in pieces of odd sizes.
    const words = Buffer.from('{"role":"tool","content":"ok ok retry the chunk"}\n'.repeat(60_000))
    const pieces = [
      words.subarray(0, 777),
      randomBytes(1_500_000),
      words.subarray(777),
      Buffer.from('end\n'),
    ]
    const body = Buffer.concat(pieces)
    const gz = await compress(compressor, pieces)
    expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
    expect(gz.length).toBeLessThan(body.length - words.length / 2)
    expect(gunzipSync(gz).equals(body)).toBe(true)
  })

  it('writes a valid member for an empty body', async () => {
    expect(gunzipSync(await compress(compressor, [])).length).toBe(0)
  })
})

describe('choosing the compressor', () => {
  it('takes igzip when it runs and zlib when it does not, unless TRIBUTARY_GZIP says', () => {
    expect(findCompressor(undefined, () => true).name).toBe('igzip')
    expect(findCompressor(undefined, () => false).name).toBe('zlib')
    expect(findCompressor('auto', () => true).name).toBe('igzip')
    expect(findCompressor('zlib', () => true).name).toBe('zlib')
    expect(findCompressor('igzip', () => true).name).toBe('igzip')
  })

  it('refuses igzip when it is not there, and an unknown name', () => {
    expect(() => findCompressor('igzip', () => false)).toThrow(/apt-get install isal/)
    expect(() => findCompressor('zstd', () => true)).toThrow(/must be zlib, igzip or auto/)
  })

  it('finds igzip on this machine exactly when it runs', () => {
    expect(findCompressor('auto').name).toBe(igzipHere ? 'igzip' : 'zlib')
  })
})

describe.each(here.map((c) => [c.name, c] as const))(
  'a push stopped mid-request (%s)',
  (_, compressor) => {
    it('closes the streaming body, so no gzip (or igzip child) outlives the sender', async () => {
      // A stand-in server that takes the body and never answers.
      const server = createServer((req) => req.resume())
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const opened: Duplex[] = []
      const watching: Compressor = {
        name: compressor.name,
        open: () => {
          const stream = compressor.open()
          opened.push(stream)
          return stream
        },
      }
      const sender = new Sender<number>({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        token: 't',
        compressor: watching,
        onCovered: () => {},
      })
      try {
        for (let i = 1; i <= 100; i++) await sender.add({ text: `{"n":${i}}`, tag: i })
        expect(opened).toHaveLength(1)
        const closed = new Promise<void>((resolve) => opened[0]?.once('close', resolve))
        sender.close()
        await closed
        expect(opened[0]?.destroyed).toBe(true)
      } finally {
        sender.close()
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
    })
  },
)
