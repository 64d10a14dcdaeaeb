/**
 * The shape of src/: the import graph (parsed by TypeScript's own pre-processor) has no circle,
 * types.ts imports nothing of the project, no layer imports one above it, and no code runs from
 * a string.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const src = fileURLToPath(new URL('../../src/', import.meta.url))

/** Lowest first: a module may import its own layer and those below it, never one above. */
const layers: Array<[layer: string, matches: (file: string) => boolean]> = [
  ['types', (f) => f === 'types.ts'],
  ['errors', (f) => f === 'errors.ts'],
  ['config', (f) => f === 'config.ts'],
  ['db', (f) => f.startsWith('db/')],
  [
    'ingest, read, auth and ops',
    (f) =>
      f.startsWith('ingest/') ||
      f.startsWith('read/') ||
      f.startsWith('auth/') ||
      f.startsWith('ops/'),
  ],
  ['web page (shell, client, built assets)', (f) => f.startsWith('web/')],
  ['push', (f) => f.startsWith('push/')],
  ['routes', (f) => f.startsWith('routes/')],
  ['app', (f) => f === 'app.ts'],
  ['entries', (f) => f === 'index.ts' || f.startsWith('node/')],
]

const rankOf = (file: string): number => {
  const rank = layers.findIndex(([, matches]) => matches(file))
  if (rank === -1) throw new Error(`${file} belongs to no layer: add it to layout.happy.test.ts`)
  return rank
}

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return /\.(tsx?|mjs)$/.test(entry.name) ? [relative(src, path)] : []
  })

/** The project files `file` imports (static, dynamic and `import type` alike). */
function importsOf(file: string, files: ReadonlySet<string>): string[] {
  const text = readFileSync(join(src, file), 'utf8')
  const found: string[] = []
  for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue
    const base = relative(src, resolve(dirname(join(src, file)), fileName))
    // A generated module (git-ignored .js) is known by its committed .d.ts.
    const stem = base.replace(/\.js$/, '')
    const target = [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`, `${stem}.d.ts`].find(
      (name) => files.has(name),
    )
    if (target === undefined) throw new Error(`${file}: cannot resolve ${fileName}`)
    found.push(target)
  }
  return found
}

/** Every circle of `graph`, each as the path that closes it. */
function circlesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const circles: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (node: string) => {
    state.set(node, 'open')
    path.push(node)
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') circles.push([...path.slice(path.indexOf(next)), next])
      else if (state.get(next) === undefined) visit(next)
    }
    path.pop()
    state.set(node, 'done')
  }
  for (const node of graph.keys()) if (state.get(node) === undefined) visit(node)
  return circles
}

const files = sourceFiles(src)
const graph = new Map(files.map((file) => [file, importsOf(file, new Set(files))]))

describe('the import graph of src/', () => {
  it('is read from the real files', () => {
    expect(files).toContain('types.ts')
    expect(graph.get('app.ts')).toContain('routes/ingest.ts')
  })

  it('finds a circle when there is one (the check itself)', () => {
    const circular = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ])
    expect(circlesOf(circular)).toEqual([['a', 'b', 'c', 'a']])
  })

  it('has no circle', () => {
    expect(circlesOf(graph)).toEqual([])
  })

  it('has types.ts as a leaf: it imports nothing of the project', () => {
    expect(graph.get('types.ts')).toEqual([])
  })

  it('never imports a layer above (entry -> app -> routes -> pipeline -> db)', () => {
    const upward = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => rankOf(target) > rankOf(file))
        .map((target) => `${file} -> ${target}`),
    )
    expect(upward).toEqual([])
  })

  it('runs no code from a string', () => {
    const fromStrings = files.filter((file) =>
      /\beval\b|new Function\b/.test(readFileSync(join(src, file), 'utf8')),
    )
    expect(fromStrings).toEqual([])
  })
})
