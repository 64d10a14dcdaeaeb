/**
 * Summarize a V8 CPU profile (`node --cpu-prof`): self time per function and per file, the top
 * entries only. Enough to see where a run spends its time without opening DevTools.
 *
 *   npx tsx bench/profile.ts bench/profiles/serve-*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parseArgs } from 'node:util'

type Node = {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] }

export function summarize(path: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    self.set(id, (self.get(id) ?? 0) + dt)
    total += dt
  })
  const perFunction = new Map<string, number>()
  const perFile = new Map<string, number>()
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    const file = frame.url === '' ? '(native)' : shorten(frame.url)
    const name = `${frame.functionName || '(anonymous)'}  ${file}:${frame.lineNumber + 1}`
    perFunction.set(name, (perFunction.get(name) ?? 0) + us)
    perFile.set(file, (perFile.get(file) ?? 0) + us)
  }
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n')
  return [
    `${path}: ${(total / 1e6).toFixed(2)} s sampled`,
    '-- self time by function --',
    rows(perFunction),
    '-- self time by file --',
    rows(perFile),
  ].join('\n')
}

function shorten(url: string): string {
  const path = url.startsWith('file://') ? new URL(url).pathname : url
  const inModules = path.lastIndexOf('node_modules/')
  if (inModules !== -1) return path.slice(inModules + 'node_modules/'.length)
  return path.startsWith('/') ? relative(process.cwd(), path) : path
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' } },
  })
  for (const path of positionals) console.log(`${summarize(path, Number(values.top))}\n`)
}
