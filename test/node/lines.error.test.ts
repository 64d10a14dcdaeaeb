import v8 from 'node:v8'
import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { type LineEvent, LineSplitter } from '../../src/ingest/lines'
import { parseTurnLine } from '../../src/ingest/turn'
import { BOM, bytesOf, feed, MAX } from '../helpers/lines'

const encoder = new TextEncoder()

const oneByteChunks = (body: string | number[]): Uint8Array[] =>
  Array.from(bytesOf(body), (byte) => Uint8Array.of(byte))

const line = (n: number, text: string): LineEvent => ({
  kind: 'line',
  line: n,
  text,
  bytes: encoder.encode(text).length,
})

const invalidUtf8 = (n: number) => ({ kind: 'invalid', line: n, code: 'INVALID_UTF8' })
const tooLarge = (n: number) => ({ kind: 'invalid', line: n, code: 'LINE_TOO_LARGE' })

describe('LineSplitter: invalid UTF-8 is rejected line by line', () => {
  const bad: Array<[string, number[]]> = [
    ['overlong 2-byte "/" (C0 AF)', [0xc0, 0xaf]],
    ['overlong 2-byte NUL (C1 81)', [0xc1, 0x81]],
    ['overlong 3-byte "/" (E0 80 AF)', [0xe0, 0x80, 0xaf]],
    ['overlong 4-byte "/" (F0 80 80 AF)', [0xf0, 0x80, 0x80, 0xaf]],
    ['a lone continuation byte (80)', [0x80]],
    ['a UTF-8-encoded high surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['a UTF-8-encoded low surrogate (ED BF BF)', [0xed, 0xbf, 0xbf]],
    ['a code point above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['a byte that never appears in UTF-8 (FF)', [0xff]],
    ['a 3-byte sequence cut short before the newline (E2 82)', [0xe2, 0x82]],
    ['a 4-byte sequence cut short before the newline (F0 9F 98)', [0xf0, 0x9f, 0x98]],
  ]

  for (const [name, bytes] of bad) {
    it(`rejects ${name} alone while the lines around it pass`, () => {
      const body = [
        ...encoder.encode('{"a":1}\n{"s":"'),
        ...bytes,
        ...encoder.encode('"}\n{"b":"é"}\n'),
      ]
      const { events, lines } = feed([body])
      expect(events).toMatchObject([line(1, '{"a":1}'), invalidUtf8(2), line(3, '{"b":"é"}')])
      expect(events).toHaveLength(3)
      expect(lines).toBe(3)
      // The same result when the bad bytes arrive one at a time.
      expect(feed(oneByteChunks(body))).toEqual({ events, lines })
    })
  }

  it('rejects a multi-byte sequence truncated at the very end of the body', () => {
    const { events, lines } = feed(['{"a":1}\n{"s":"x', [0xe2, 0x82]])
    expect(events).toMatchObject([line(1, '{"a":1}'), invalidUtf8(2)])
    expect(events).toHaveLength(2)
    expect(lines).toBe(2)
  })

  it('does not let one invalid line poison the decoder for the next line', () => {
    const { events } = feed([[0xe2, 0x82, 0x0a, 0x82, 0xac, 0x0a]])
    // E2 82 | LF | 82 AC: neither half is valid alone, and they must not be joined across lines.
    expect(events).toMatchObject([invalidUtf8(1), invalidUtf8(2)])
    expect(feed([[0xe2, 0x82, 0x0a], encoder.encode('€\n')]).events).toMatchObject([
      invalidUtf8(1),
      line(2, '€'),
    ])
  })

  it('gives a message that never echoes the line', () => {
    const { events } = feed([[...encoder.encode('sk-live-SECRET123 '), 0xff, 0x0a]])
    const [event] = events
    expect(event).toMatchObject(invalidUtf8(1))
    expect(event?.kind === 'invalid' && event.message).toBe('line is not valid UTF-8')
  })

  it('rejects a body that is only the first bytes of a BOM as one INVALID_UTF8 line', () => {
    expect(feed([[0xef]])).toMatchObject({ events: [invalidUtf8(1)], lines: 1 })
    expect(feed([[0xef, 0xbb]])).toMatchObject({ events: [invalidUtf8(1)], lines: 1 })
    expect(feed([[0xef], [0xbb]])).toMatchObject({ events: [invalidUtf8(1)], lines: 1 })
  })

  it('rejects a partial BOM followed by data as line 1, and keeps going', () => {
    expect(feed([[0xef, 0xbb, ...encoder.encode('{"a":1}\nok\n')]])).toMatchObject({
      events: [invalidUtf8(1), line(2, 'ok')],
      lines: 2,
    })
    expect(feed([[0xef], [0xbb], [0x0a], 'ok'])).toMatchObject({
      events: [invalidUtf8(1), line(2, 'ok')],
      lines: 2,
    })
  })

  it('keeps a BOM that is not at the very start as part of the line: valid UTF-8, but not JSON', () => {
    const body = [...encoder.encode('{"a":1}\n'), ...BOM, ...encoder.encode('{"b":2}\n')]
    const { events } = feed([body])
    expect(events).toEqual([line(1, '{"a":1}'), line(2, '\ufeff{"b":2}')])
    expect(events[1]?.kind === 'line' && parseTurnLine(events[1].text)).toMatchObject({
      ok: false,
      code: 'INVALID_JSON',
    })
  })

  it('ignores only the first of two BOMs at the start: the second one belongs to line 1', () => {
    expect(feed([[...BOM, ...BOM, ...encoder.encode('{}\n')]]).events).toEqual([
      line(1, '\ufeff{}'),
    ])
  })
})

describe('LineSplitter: line cap', () => {
  it('rejects a line of maxLineBytes + 1 as LINE_TOO_LARGE, the lines around it pass', () => {
    const { events, lines } = feed([`a\n${'x'.repeat(MAX + 1)}\nb\n`])
    expect(events).toMatchObject([line(1, 'a'), tooLarge(2), line(3, 'b')])
    expect(events).toHaveLength(3)
    expect(lines).toBe(3)
  })

  it('rejects a line of maxLineBytes + 1 even when it ends in CRLF', () => {
    expect(feed([`${'x'.repeat(MAX + 1)}\r\nb\r\n`]).events).toMatchObject([
      tooLarge(1),
      line(2, 'b'),
    ])
  })

  it('rejects a last line of maxLineBytes + 1 without a newline', () => {
    expect(feed([`a\n${'x'.repeat(MAX + 1)}`])).toMatchObject({
      events: [line(1, 'a'), tooLarge(2)],
      lines: 2,
    })
  })

  it('counts bytes: a line of maxLineBytes - 1 ASCII bytes plus a 2-byte character is too large', () => {
    expect(feed([`${'x'.repeat(MAX - 1)}é\n`]).events).toMatchObject([tooLarge(1)])
  })

  it('checks the cap before UTF-8: an over-long invalid line is LINE_TOO_LARGE', () => {
    const body = [...Array.from({ length: MAX + 10 }, () => 0xff), 0x0a]
    expect(feed([body]).events).toMatchObject([tooLarge(1)])
  })

  it('rejects an over-long line when the cap is hit in the middle of one chunk', () => {
    const { events, lines } = feed([`ok\n${'x'.repeat(5 * MAX)}\n\n{"after":1}\n`])
    expect(events).toMatchObject([line(1, 'ok'), tooLarge(2), line(4, '{"after":1}')])
    expect(events).toHaveLength(3)
    expect(lines).toBe(4)
  })

  it('rejects an over-long line fed one byte at a time, and numbers the next line right', () => {
    const max = 16
    const body = `first\n${'y'.repeat(3 * max)}\r\n\nnext\n${'z'.repeat(max + 1)}\nlast`
    const { events, lines } = feed(oneByteChunks(body), max)
    expect(events).toMatchObject([
      line(1, 'first'),
      tooLarge(2),
      line(4, 'next'),
      tooLarge(5),
      line(6, 'last'),
    ])
    expect(events).toHaveLength(5)
    expect(lines).toBe(6)
    // Same events as one-chunk feeding.
    expect(feed([body], max)).toEqual({ events, lines })
  })

  it('rejects an over-long line spread over many chunks as one event, with the cap in its message', () => {
    const { events } = feed([...Array.from({ length: 100 }, () => 'x'.repeat(100)), '\nok'], 1000)
    expect(events).toEqual([
      {
        kind: 'invalid',
        line: 1,
        code: 'LINE_TOO_LARGE',
        message: 'line is longer than the 1000-byte line cap',
      },
      line(2, 'ok'),
    ])
  })

  it('rejects an over-long whitespace-only line as LINE_TOO_LARGE (the cap is checked before blankness)', () => {
    expect(feed([`${' '.repeat(MAX + 1)}\nok\n`]).events).toMatchObject([
      tooLarge(1),
      line(2, 'ok'),
    ])
  })
})

describe('LineSplitter: memory stays bounded by the line cap', () => {
  it('drops 50 MB of one over-long line as it arrives: one LINE_TOO_LARGE, nothing retained', async () => {
    v8.setFlagsFromString('--expose_gc')
    const gc = vm.runInNewContext('gc') as () => void

    const chunkSize = 64 * 1024
    const chunkCount = Math.ceil((50 * 1024 * 1024) / chunkSize) // 800 chunks, 50 MiB
    const splitter = new LineSplitter(1024)
    const events: LineEvent[] = []

    gc()
    const before = process.memoryUsage().arrayBuffers
    let firstChunk: WeakRef<Uint8Array> | undefined
    for (let i = 0; i < chunkCount; i++) {
      // A fresh buffer each time: if the splitter kept any of them, they could not be collected.
      const chunk = new Uint8Array(chunkSize).fill(0x61)
      firstChunk ??= new WeakRef(chunk)
      events.push(...splitter.push(chunk))
    }
    expect(events).toEqual([])
    // V8 frees ArrayBuffer backing stores a cycle late, so collect a few times (after a macrotask,
    // so WeakRef targets are collectable) until the garbage is gone. Had the splitter kept the
    // chunks, 50 MiB would stay reachable however often this runs.
    const limit = 4 * 1024 * 1024
    let grown = Number.POSITIVE_INFINITY
    for (let round = 0; round < 5 && grown >= limit; round++) {
      await new Promise((resolve) => setTimeout(resolve, 0))
      gc()
      grown = process.memoryUsage().arrayBuffers - before
    }
    expect(firstChunk?.deref()).toBeUndefined()
    expect(grown).toBeLessThan(limit)

    events.push(...splitter.push(encoder.encode('\n{"next":1}\n')))
    events.push(...splitter.end())
    expect(events).toMatchObject([tooLarge(1), line(2, '{"next":1}')])
    expect(events).toHaveLength(2)
    expect(splitter.lines).toBe(2)
  })
})
