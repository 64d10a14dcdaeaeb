/**
 * For the push client's end-to-end tests: push() in this process with a temporary state file
 * and no progress output, and a tiny HTTP proxy in front of the real server that injects the
 * faults a network and an overloaded server produce.
 */
import { mkdtempSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { silentProgress } from '../../src/push/progress'
import { type PushOptions, type PushSummary, push } from '../../src/push/run'
import { tokenFor } from './app'

export const tempDir = (prefix = 'tributary-push-') => mkdtempSync(join(tmpdir(), prefix))

/** Push `paths` to `url` as `owner`; `options` override the defaults. */
export async function pushAs(
  url: string,
  owner: string,
  paths: string[],
  options: Partial<PushOptions> = {},
): Promise<PushSummary> {
  return push({
    paths,
    url,
    token: await tokenFor(owner),
    host: 'test-host',
    statePath: join(tempDir(), 'state.json'),
    watch: false,
    dryRun: false,
    out: new PassThrough(),
    progress: silentProgress,
    signal: new AbortController().signal,
    baseDelayMs: 20,
    ...options,
  })
}

/** The NDJSON a dry run prints for `paths`, parsed. */
export async function dryRun(paths: string[]): Promise<Record<string, unknown>[]> {
  const out = new PassThrough()
  let text = ''
  out.on('data', (piece: Buffer) => {
    text += piece.toString('utf8')
  })
  await push({
    paths,
    url: 'http://127.0.0.1:1',
    token: undefined,
    host: 'test-host',
    statePath: join(tempDir(), 'state.json'),
    watch: false,
    dryRun: true,
    out,
    progress: silentProgress,
    signal: new AbortController().signal,
  })
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

/**
 * What the proxy does with the n-th request (1-based): pass it on, answer 503 with a
 * Retry-After itself, or pass it on and cut both connections after `afterBytes` body bytes.
 */
export type Fault =
  | { kind: 'pass' }
  | { kind: '503'; retryAfter: number }
  | { kind: 'kill'; afterBytes: number }

export type FaultProxy = {
  url: string
  /** Requests seen so far, with what was done to each. */
  log: Fault['kind'][]
  close(): Promise<void>
}

export async function startFaultProxy(
  target: string,
  faultFor: (n: number) => Fault,
): Promise<FaultProxy> {
  const log: Fault['kind'][] = []
  const server = createServer((req, res) => {
    const fault = faultFor(log.length + 1)
    log.push(fault.kind)
    if (fault.kind === '503') {
      // Answer once the body is read, as the server does: an answer sent while the client is
      // still writing races the reset of the closed socket, and the client may see only that.
      req.resume()
      req.on('end', () =>
        res
          .writeHead(503, {
            'content-type': 'application/problem+json',
            'retry-after': String(fault.retryAfter),
            connection: 'close',
          })
          .end(JSON.stringify({ status: 503, code: 'DATABASE_UNAVAILABLE', detail: 'injected' })),
      )
      return
    }
    const upstream = request(`${target}${req.url}`, {
      method: req.method,
      headers: req.headers,
    })
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    let seen = 0
    req.on('data', (piece: Buffer) => {
      if (fault.kind === 'kill' && seen + piece.length >= fault.afterBytes) {
        upstream.write(piece.subarray(0, Math.max(0, fault.afterBytes - seen)))
        upstream.destroy()
        req.socket.destroy()
        return
      }
      seen += piece.length
      upstream.write(piece)
    })
    req.on('end', () => upstream.end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
