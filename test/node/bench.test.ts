/**
 * The benchmark's own parts that its figures rest on: the corpus is the same bytes for the same
 * seed and has the shape the issue asks for, its invalid lines are exactly the ones the pipeline
 * rejects (so the limit and the end-to-end runs write the same rows), its 1 MB bodies are whole
 * lines, and the server it measures is started with the flags `npm run serve` uses.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateCorpus, splitBody } from '../../bench/corpus'
import { corpusRows } from '../../bench/rows'
import { root, serveCommand } from '../../bench/servers'
import { defaultLimits } from '../../src/config'

const KB = 1024

describe('the benchmark corpus', () => {
  const corpus = generateCorpus({ sessions: 120, seed: 3 })

  it('is the same bytes for the same seed, and other bytes for another', () => {
    expect(generateCorpus({ sessions: 120, seed: 3 }).body.equals(corpus.body)).toBe(true)
    expect(generateCorpus({ sessions: 120, seed: 4 }).body.equals(corpus.body)).toBe(false)
  })

  it('has ~1.5 KB lines, a tail of 20-100 KB tool outputs and a few percent invalid lines', () => {
    const lengths = corpus.lineStarts.map(
      (start, i) => (corpus.lineStarts[i + 1] ?? corpus.body.length) - start,
    )
    const average = corpus.body.length / corpus.lines
    expect(average).toBeGreaterThan(1 * KB)
    expect(average).toBeLessThan(2.5 * KB)
    const large = lengths.filter((n) => n >= 20 * KB)
    expect(large.length).toBe(corpus.large)
    expect(corpus.large).toBeGreaterThan(0)
    expect(Math.max(...large)).toBeLessThanOrEqual(101 * KB)
    expect(corpus.invalid / corpus.lines).toBeGreaterThan(0.01)
    expect(corpus.invalid / corpus.lines).toBeLessThan(0.06)
  })

  it('has exactly the invalid lines the pipeline rejects', () => {
    const rows = corpusRows(corpus.body, defaultLimits)
    expect(rows.rejected).toBe(corpus.invalid)
    expect(rows.rows).toBe(corpus.lines - corpus.invalid - corpus.blank)
  })

  it('cuts into bodies of about a given size (1 MB in the bench) that are whole lines', () => {
    const pieces = splitBody(corpus, 64 * KB)
    expect(pieces.length).toBeGreaterThan(2)
    expect(Buffer.concat(pieces).equals(corpus.body)).toBe(true)
    for (const piece of pieces) expect(piece.at(-1)).toBe(0x0a)
    for (const piece of pieces.slice(0, -1)) expect(piece.length).toBeGreaterThanOrEqual(64 * KB)
  })
})

describe('the server the benchmark measures', () => {
  it('is started with the environment, flags and bundle of `npm run serve`', () => {
    const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    const { env, flags, entry } = serveCommand()
    const command = [
      ...Object.entries(env).map(([name, value]) => `${name}=${value}`),
      'exec node',
      ...flags,
      entry.slice(root.length),
    ].join(' ')
    expect(scripts.serve).toMatch(/^npm run -s build && /)
    expect(scripts.serve?.replace(/^npm run -s build && /, '')).toBe(command)
    expect(flags).toContain('--single-threaded-gc')
  })
})
