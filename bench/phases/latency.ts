/**
 * Latency: p50 and p99 of 1,000 sequential 1-line requests and 200 100-line requests over one
 * keep-alive connection to a warmed-up `npm run serve` server.
 */
import { keepAlive, percentile, post } from '../client'
import { type Prepared, warmUp } from '../prepare'
import { type Figure, figures } from '../report'
import { startServe } from '../servers'
import { profileArgs, SECRET, serveEnv, token } from '../settings'

export async function latency(p: Prepared) {
  const server = await startServe({ secret: SECRET, env: serveEnv(), nodeArgs: profileArgs() })
  try {
    await warmUp(server, p)
    const jwt = await token('latency')
    const agent = keepAlive()
    const template = JSON.parse(
      p.corpus.body.subarray(0, p.corpus.lineStarts[1]).toString('utf8'),
    ) as Record<string, unknown>
    const oneLine = (i: number) =>
      Buffer.from(`${JSON.stringify({ ...template, turn_id: `latency-${i}`, seq: i })}\n`)
    const times = async (count: number, body: (i: number) => Buffer) => {
      const out: number[] = []
      for (let i = 0; i < count; i++) {
        const b = body(i)
        const answer = await post([b], { url: server.url, token: jwt, agent, length: b.length })
        if (answer.status !== 200 && answer.status !== 207) throw new Error(`HTTP ${answer.status}`)
        out.push(answer.ms)
      }
      return out.sort((a, b) => a - b)
    }
    await times(100, (i) => oneLine(1_000_000 + i)) // warm-up
    const single = await times(1000, oneLine)
    const starts = p.corpus.lineStarts
    const hundred = await times(200, (i) => {
      const from = starts[(i * 100) % (starts.length - 100)] ?? 0
      const to = starts[((i * 100) % (starts.length - 100)) + 100] ?? p.corpus.body.length
      return p.corpus.body.subarray(from, to)
    })
    agent.destroy()
    const row = (id: string, label: string, sorted: number[]): Figure => ({
      id,
      group: 'latency',
      label,
      p50Ms: Math.round(percentile(sorted, 50) * 100) / 100,
      p99Ms: Math.round(percentile(sorted, 99) * 100) / 100,
      note: `${sorted.length} sequential requests, keep-alive`,
    })
    figures.push(row('latency-1', 'Node: 1-line request', single))
    figures.push(row('latency-100', 'Node: 100-line request', hundred))
  } finally {
    await server.stop()
  }
}
