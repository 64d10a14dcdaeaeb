/**
 * A libSQL server that hangs on cue: an HTTP proxy on 127.0.0.1 in front of a real sqld that
 * forwards every request, except one whose body holds HANG_MARKER (a turn's content): that one is
 * read and not answered, as a server that stopped mid-commit, until `close` answers it 503.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export const HANG_MARKER = 'the server hangs on this line'

export type HangProxy = {
  url: string
  /** Requests read and left unanswered so far. */
  held(): number
  close(): Promise<void>
}

const readAll = async (req: IncomingMessage): Promise<Buffer> => {
  const pieces: Buffer[] = []
  for await (const piece of req) pieces.push(piece as Buffer)
  return Buffer.concat(pieces)
}

export async function startHangProxy(target: string): Promise<HangProxy> {
  const held: ServerResponse[] = []
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req)
      if (body.includes(HANG_MARKER)) {
        held.push(res)
        return
      }
      const headers: Record<string, string> = {}
      for (const name of ['content-type', 'authorization']) {
        const value = req.headers[name]
        if (typeof value === 'string') headers[name] = value
      }
      const answer = await fetch(new URL(req.url ?? '/', target), {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body: new Uint8Array(body) } : {}),
      })
      const bytes = Buffer.from(await answer.arrayBuffer())
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/octet-stream',
      })
      res.end(bytes)
    })().catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    held: () => held.length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held.splice(0)) res.writeHead(503).end()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
