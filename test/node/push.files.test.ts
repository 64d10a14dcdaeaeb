/**
 * readLines reads one buffer again and again: lines that span reads, a line longer than the
 * buffer, CRLF, an unterminated last line and a resume offset come out as the file holds them,
 * each with the byte offset after it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLines } from '../../src/push/files'

const dir = mkdtempSync(join(tmpdir(), 'tributary-files-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Every line read from `start`, its text decoded as the importers do: in its own batch. */
async function linesOf(path: string, start = 0, firstLine = 1) {
  const out: Array<{ line: number; text: string; end: number; terminated: boolean }> = []
  for await (const batch of readLines(path, start, firstLine)) {
    for (const l of batch)
      out.push({ line: l.line, text: l.text, end: l.end, terminated: l.terminated })
  }
  return out
}

/** What the file holds, split the same way by hand. */
function expected(content: string, start = 0, firstLine = 1) {
  const bytes = Buffer.from(content, 'utf8')
  const out: Array<{ line: number; text: string; end: number; terminated: boolean }> = []
  let from = start
  let line = firstLine
  while (from < bytes.length) {
    const at = bytes.indexOf(0x0a, from)
    const stopAt = at === -1 ? bytes.length : at
    const text = bytes.toString('utf8', from, stopAt).replace(/\r$/, '')
    out.push({ line: line++, text, end: at === -1 ? bytes.length : at + 1, terminated: at !== -1 })
    from = stopAt + 1
  }
  return out
}

describe('readLines', () => {
  it('reads lines across reads, a line longer than the buffer, CRLF and a last unterminated line', async () => {
    const lines: string[] = []
    for (let i = 0; i < 30_000; i++) lines.push(`{"n":${i},"text":"${'é€'.repeat(i % 40)}"}`)
    lines.splice(12_000, 0, `{"long":"${'x'.repeat(3 * 1024 * 1024 + 7)}"}`)
    lines.splice(20_000, 0, '{"crlf":true}\r', '', '{"after":"blank"}')
    const content = `${lines.join('\n')}\n{"cut":"mid-wr`
    const path = join(dir, 'many.jsonl')
    writeFileSync(path, content)
    const got = await linesOf(path)
    expect(Buffer.byteLength(content)).toBeGreaterThan(4 * 1024 * 1024)
    expect(got).toEqual(expected(content))
    expect(got.at(-1)).toMatchObject({ text: '{"cut":"mid-wr', terminated: false })
    expect(got.find((l) => l.text.startsWith('{"crlf"'))?.text).toBe('{"crlf":true}')
  })

  it('starts at a byte offset with the line number it is given', async () => {
    const content = Array.from({ length: 5000 }, (_, i) => `{"i":${i}}`)
      .join('\n')
      .concat('\n')
    const path = join(dir, 'resume.jsonl')
    writeFileSync(path, content)
    const all = await linesOf(path)
    const from = all[2999]?.end as number
    const got = await linesOf(path, from, 3001)
    expect(got).toEqual(expected(content, from, 3001))
    expect(got[0]).toMatchObject({ line: 3001, text: '{"i":3000}' })
    expect(got).toHaveLength(2000)
  })

  it('yields nothing for an empty file', async () => {
    const path = join(dir, 'empty.jsonl')
    writeFileSync(path, '')
    expect(await linesOf(path)).toEqual([])
  })
})
