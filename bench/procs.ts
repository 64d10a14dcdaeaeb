/**
 * Every process the benchmark starts is registered here and stopped at the end, however the run
 * ends: normally, by an exception, or by Ctrl-C; so is every temporary folder it makes. Each child runs in its own process group, so a
 * stop reaches what it started too (wrangler's workerd, for one).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { groupAlive, signalGroup } from '../src/node/procgroup'

type Stoppable = { name: string; stop(): Promise<void>; kill(): void }

const running = new Set<Stoppable>()
const folders = new Set<string>()

/** A new temporary folder, removed by removeFolder() or, at the latest, when the process exits. */
export function tempFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tributary-bench-${prefix}-`))
  folders.add(dir)
  return dir
}

export function removeFolder(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  folders.delete(dir)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Track a child spawned with `detached: true` (its own process group). `stop()` sends SIGTERM to
 * the group, SIGKILL after `graceMs`, and resolves when no member is left.
 */
export function track(name: string, child: ChildProcess, graceMs = 5000): Stoppable {
  const pgid = child.pid
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    child.once('exit', () => resolve())
  })
  let stopping: Promise<void> | undefined
  const entry: Stoppable = {
    name,
    stop() {
      stopping ??= (async () => {
        if (pgid !== undefined) {
          signalGroup(pgid, 'SIGTERM')
          const deadline = Date.now() + graceMs
          await Promise.race([exited, sleep(graceMs)])
          while (groupAlive(pgid) && Date.now() < deadline) await sleep(25)
          if (groupAlive(pgid)) signalGroup(pgid, 'SIGKILL')
          await Promise.race([exited, sleep(2000)])
        }
        running.delete(entry)
      })()
      return stopping
    },
    kill() {
      if (pgid !== undefined) signalGroup(pgid, 'SIGKILL')
    },
  }
  running.add(entry)
  return entry
}

/** Track anything else with a stop function (sqld from src/node/sqld.ts). */
export function trackStop(name: string, stop: () => Promise<void>, kill: () => void): Stoppable {
  const entry: Stoppable = {
    name,
    stop: async () => {
      await stop()
      running.delete(entry)
    },
    kill,
  }
  running.add(entry)
  return entry
}

/** Stop everything still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const entry of [...running].reverse()) {
    await entry.stop().catch(() => entry.kill())
  }
}

let installed = false

/** On Ctrl-C or SIGTERM stop everything and exit; on any exit SIGKILL what is left. */
export function installCleanup(): void {
  if (installed) return
  installed = true
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the servers the benchmark started…\n`)
    void stopAll().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.on('exit', () => {
    for (const entry of running) entry.kill()
    for (const dir of folders) rmSync(dir, { recursive: true, force: true })
  })
}

/** Current and peak resident memory of a process, in bytes, from /proc (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1])
    return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 }
  } catch {
    return undefined
  }
}
