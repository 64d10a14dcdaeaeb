import { describe, expect, it } from 'vitest'
import { type LineEvent, LineSplitter } from '../../src/ingest/lines'
import { BOM, feed, MAX } from '../helpers/lines'

const encoder = new TextEncoder()

/** Cuts `bytes` at the given offsets (ascending) into chunks. */
const cut = (bytes: Uint8Array, offsets: number[]): Uint8Array[] => {
  const out: Uint8Array[] = []
  let from = 0
  for (const at of offsets) {
    out.push(bytes.slice(from, at))
    from = at
  }
  out.push(bytes.slice(from))
  return out
}

const line = (n: number, text: string): LineEvent => ({
  kind: 'line',
  line: n,
  text,
  bytes: encoder.encode(text).length,
})

/** mulberry32: a tiny seeded PRNG, so a failing seed can be replayed. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('LineSplitter: line endings', () => {
  it('splits on LF and numbers lines from 1', () => {
    expect(feed(['{"a":1}\n{"b":2}\n'])).toEqual({
      events: [line(1, '{"a":1}'), line(2, '{"b":2}')],
      lines: 2,
    })
  })

  it('drops the CR of a CRLF ending: neither in the text nor in the byte count', () => {
    const { events, lines } = feed(['{"a":1}\r\n{"b":2}\r\n'])
    expect(events).toEqual([
      { kind: 'line', line: 1, text: '{"a":1}', bytes: 7 },
      { kind: 'line', line: 2, text: '{"b":2}', bytes: 7 },
    ])
    expect(lines).toBe(2)
  })

  it('keeps a lone CR in the middle of a line as data', () => {
    expect(feed(['a\rb\n']).events).toEqual([{ kind: 'line', line: 1, text: 'a\rb', bytes: 3 }])
  })

  it('keeps all but the last CR of a line ending in CR CR LF', () => {
    expect(feed(['ab\r\r\n']).events).toEqual([{ kind: 'line', line: 1, text: 'ab\r', bytes: 3 }])
  })

  it('completes a last line that has no newline, only at end()', () => {
    const splitter = new LineSplitter(MAX)
    expect(splitter.push(encoder.encode('first\nlast'))).toEqual([line(1, 'first')])
    expect(splitter.lines).toBe(1)
    expect(splitter.end()).toEqual([line(2, 'last')])
    expect(splitter.lines).toBe(2)
    expect(splitter.end()).toEqual([])
    expect(splitter.lines).toBe(2)
  })

  it('handles \\r\\n split between two chunks', () => {
    expect(feed(['one\r', '\ntwo\r', '\n'])).toEqual({
      events: [line(1, 'one'), line(2, 'two')],
      lines: 2,
    })
    expect(feed(['one', '\r', '\n', 'two'])).toEqual({
      events: [line(1, 'one'), line(2, 'two')],
      lines: 2,
    })
  })

  it('emits events only for the lines a push completed', () => {
    const splitter = new LineSplitter(MAX)
    expect(splitter.push(encoder.encode('{"a"'))).toEqual([])
    expect(splitter.push(encoder.encode(':1}'))).toEqual([])
    expect(splitter.push(encoder.encode('\n{"b"'))).toEqual([line(1, '{"a":1}')])
    expect(splitter.push(new Uint8Array(0))).toEqual([])
    expect(splitter.end()).toEqual([line(2, '{"b"')])
  })
})

describe('LineSplitter: physical line numbers and blank lines', () => {
  it('counts blank and whitespace-only lines in the numbering but emits nothing for them', () => {
    const { events, lines } = feed(['a\n\n  \t\n\r\n\u000b\u000c\nb\n \r\n'])
    expect(events).toEqual([line(1, 'a'), line(6, 'b')])
    expect(lines).toBe(7)
  })

  it('counts lines exactly: empty body, lone newline, trailing newline or not', () => {
    expect(feed([])).toEqual({ events: [], lines: 0 })
    expect(feed([''])).toEqual({ events: [], lines: 0 })
    expect(feed(['\n'])).toEqual({ events: [], lines: 1 })
    expect(feed(['\n\n'])).toEqual({ events: [], lines: 2 })
    expect(feed(['a'])).toEqual({ events: [line(1, 'a')], lines: 1 })
    expect(feed(['a\n'])).toEqual({ events: [line(1, 'a')], lines: 1 })
    expect(feed(['a\n\n'])).toEqual({ events: [line(1, 'a')], lines: 2 })
    expect(feed(['\n\na'])).toEqual({ events: [line(3, 'a')], lines: 3 })
    // A trailing whitespace-only last line without a newline is still a physical line.
    expect(feed(['a\n  '])).toEqual({ events: [line(1, 'a')], lines: 2 })
  })

  it('keeps surrounding whitespace of a non-blank line in its text', () => {
    expect(feed(['  {"a":1}\t\n']).events).toEqual([line(1, '  {"a":1}\t')])
  })

  it('does not treat non-ASCII spaces (NBSP, U+2028) as blank', () => {
    expect(feed(['\u00a0\n\u2028\n']).events).toEqual([line(1, '\u00a0'), line(2, '\u2028')])
  })
})

describe('LineSplitter: byte order mark', () => {
  it('ignores a UTF-8 BOM at the very start of the body', () => {
    expect(feed([[...BOM, ...encoder.encode('{"a":1}\n')]])).toEqual({
      events: [{ kind: 'line', line: 1, text: '{"a":1}', bytes: 7 }],
      lines: 1,
    })
  })

  it('ignores the BOM however it is split over the first chunks (1, 2 or 3 chunks)', () => {
    const body = Uint8Array.from([...BOM, ...encoder.encode('{"a":1}\nb\n')])
    const expected = { events: [line(1, '{"a":1}'), line(2, 'b')], lines: 2 }
    for (let i = 1; i <= 4; i++) {
      expect(feed(cut(body, [i])), `cut at ${i}`).toEqual(expected)
      for (let j = i + 1; j <= 5; j++) {
        expect(feed(cut(body, [i, j])), `cut at ${i},${j}`).toEqual(expected)
      }
    }
    expect(feed([[0xef], [0xbb], [0xbf], '{"a":1}\nb\n'])).toEqual(expected)
    expect(feed([[], [0xef], [], [0xbb, 0xbf], [], '{"a":1}\nb\n'])).toEqual(expected)
  })

  it('a body that is only a BOM has no lines', () => {
    expect(feed([BOM])).toEqual({ events: [], lines: 0 })
    expect(feed([[0xef], [0xbb], [0xbf]])).toEqual({ events: [], lines: 0 })
  })

  it('a BOM followed by a blank line still counts that line as line 1', () => {
    expect(feed([[...BOM, 0x0a, ...encoder.encode('x\n')]])).toEqual({
      events: [line(2, 'x')],
      lines: 2,
    })
  })
})

describe('LineSplitter: multi-byte characters across chunks', () => {
  const text = '{"c":"é€😀 ok"}'
  const body = encoder.encode(`${text}\n{"d":"ü"}\n`)
  const expected = { events: [line(1, text), line(2, '{"d":"ü"}')], lines: 2 }

  it('has 2, 3 and 4-byte characters in the test body', () => {
    expect(encoder.encode('é')).toHaveLength(2)
    expect(encoder.encode('€')).toHaveLength(3)
    expect(encoder.encode('😀')).toHaveLength(4)
  })

  it('decodes the same lines whatever single byte offset the body is cut at', () => {
    for (let i = 0; i <= body.length; i++) {
      expect(feed(cut(body, [i])), `cut at ${i}`).toEqual(expected)
    }
  })

  it('decodes the same lines whatever two byte offsets the body is cut at', () => {
    for (let i = 0; i <= body.length; i++) {
      for (let j = i; j <= body.length; j++) {
        expect(feed(cut(body, [i, j])), `cut at ${i},${j}`).toEqual(expected)
      }
    }
  })

  it('decodes the same lines when fed one byte at a time', () => {
    expect(
      feed(
        cut(
          body,
          Array.from({ length: body.length - 1 }, (_, i) => i + 1),
        ),
      ),
    ).toEqual(expected)
  })

  it('counts bytes, not characters: a line of exactly the cap in 4-byte characters is kept', () => {
    const emoji = '😀'.repeat(256) // 1024 bytes
    expect(feed([`${emoji}\n`], 1024).events).toEqual([
      { kind: 'line', line: 1, text: emoji, bytes: 1024 },
    ])
  })
})

describe('LineSplitter: line cap', () => {
  it('accepts a line of exactly maxLineBytes', () => {
    const text = 'x'.repeat(MAX)
    expect(feed([`${text}\nok\n`]).events).toEqual([
      { kind: 'line', line: 1, text, bytes: MAX },
      line(2, 'ok'),
    ])
  })

  it('accepts a line of exactly maxLineBytes followed by \\r\\n (the terminator is not counted)', () => {
    const text = 'x'.repeat(MAX)
    expect(feed([`${text}\r\nok\r\n`]).events).toEqual([
      { kind: 'line', line: 1, text, bytes: MAX },
      line(2, 'ok'),
    ])
    // ... also when the CR and LF arrive one byte at a time.
    expect(feed([text, '\r', '\n', 'ok']).events).toEqual([
      { kind: 'line', line: 1, text, bytes: MAX },
      line(2, 'ok'),
    ])
  })

  it('accepts a last line of exactly maxLineBytes without a newline', () => {
    const text = 'y'.repeat(MAX)
    expect(feed(['a\n', text]).events).toEqual([
      line(1, 'a'),
      { kind: 'line', line: 2, text, bytes: MAX },
    ])
  })

  it('accepts a maxLineBytes line after a leading BOM (the BOM is not counted)', () => {
    const text = 'z'.repeat(MAX)
    expect(feed([[...BOM, ...encoder.encode(`${text}\n`)]]).events).toEqual([
      { kind: 'line', line: 1, text, bytes: MAX },
    ])
  })
})

describe('LineSplitter: chunking never changes the result (seeded property loop)', () => {
  const pieces: Array<(rand: () => number) => number[]> = [
    () => [...encoder.encode('{"tool":"t","seq":1}')],
    () => [...encoder.encode('{"c":"é€😀"}')],
    () => [],
    () => [...encoder.encode('  \t ')],
    () => [0x0d],
    () => [...encoder.encode('a\rb')],
    () => [0xc0, 0xaf], // overlong
    () => [0xed, 0xa0, 0x80], // encoded surrogate
    () => [0x80], // lone continuation
    () => [0xe2, 0x82], // truncated
    () => [...BOM, ...encoder.encode('{}')], // a BOM that is not at the start
    (rand) => Array.from({ length: 60 + Math.floor(rand() * 10) }, () => 0x61), // around the cap
    (rand) => Array.from({ length: 200 + Math.floor(rand() * 200) }, () => 0x62), // over the cap
    (rand) => [...Array.from({ length: 63 }, () => 0x63), ...(rand() < 0.5 ? [0x0d] : [])],
  ]

  const randomBody = (rand: () => number): Uint8Array => {
    const out: number[] = rand() < 0.3 ? [...BOM] : []
    const count = Math.floor(rand() * 12)
    for (let i = 0; i < count; i++) {
      const make = pieces[Math.floor(rand() * pieces.length)]
      if (make !== undefined) out.push(...make(rand))
      const end = rand()
      if (end < 0.6) out.push(0x0a)
      else if (end < 0.9) out.push(0x0d, 0x0a)
      // else: no terminator, the next piece joins this line (or it is the last line)
    }
    return Uint8Array.from(out)
  }

  it('gives the events of one-chunk feeding for 500 random bodies cut at random boundaries', () => {
    const max = 64
    for (let seed = 1; seed <= 500; seed++) {
      const rand = prng(seed)
      const body = randomBody(rand)
      const whole = feed([body], max)
      const offsets: number[] = []
      for (let at = 0; at < body.length; ) {
        at += 1 + Math.floor(rand() * (rand() < 0.5 ? 4 : 80))
        if (at < body.length) offsets.push(at)
      }
      expect(feed(cut(body, offsets), max), `seed ${seed}`).toEqual(whole)
      // Events are in strictly increasing line order and within the counted lines.
      let previous = 0
      for (const event of whole.events) {
        expect(event.line, `seed ${seed}`).toBeGreaterThan(previous)
        previous = event.line
      }
      expect(previous).toBeLessThanOrEqual(whole.lines)
      // Accepted lines never exceed the cap and never contain a newline.
      for (const event of whole.events) {
        if (event.kind === 'line') {
          expect(event.bytes).toBeLessThanOrEqual(max)
          expect(event.text).not.toContain('\n')
        }
      }
    }
  })
})
