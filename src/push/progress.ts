/**
 * Progress on stderr: a live bar on a terminal (files, turns, MB, rate, ETA), otherwise one
 * plain line per file. Data never goes here; it goes to stdout.
 */
import { SingleBar } from 'cli-progress'

export type FileReport = {
  path: string
  format: string
  records: number
  turns: number
  skipped: number
  malformed: number
  /** Why the file was read from the start, or that it was resumed. */
  from: string
}

export interface Progress {
  /** A pass over `files` files with `bytes` bytes to read is starting. */
  begin(totals: { files: number; bytes: number }): void
  read(bytes: number): void
  turns(sent: number, accepted: number): void
  fileDone(report: FileReport): void
  /** A diagnostic line (a retry, an unrecognized file). */
  note(message: string): void
  end(): void
}

const MB = 1024 * 1024

/**
 * The bar for terminals: redrawn at most 10 times a second. A dry run counts the turns it
 * converted, since none is sent to be accepted.
 */
export function barProgress(
  stream: NodeJS.WriteStream,
  options: { dryRun?: boolean } = {},
): Progress {
  const dryRun = options.dryRun === true
  let bar: SingleBar | undefined
  let files = 0
  let done = 0
  let read = 0
  let sent = 0
  let accepted = 0
  let started = Date.now()
  const payload = () => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000)
    return {
      files: `${done}/${files}`,
      turns: dryRun ? `${sent}` : `${accepted}/${sent}`,
      mb: (read / MB).toFixed(1),
      rate: (read / MB / seconds).toFixed(1),
    }
  }
  return {
    begin(totals) {
      files = totals.files
      done = 0
      read = 0
      started = Date.now()
      if (totals.files === 0) return
      bar = new SingleBar({
        stream,
        fps: 10,
        hideCursor: true,
        clearOnComplete: false,
        format: `push {bar} {percentage}% | files {files} | turns {turns} ${dryRun ? 'converted' : 'accepted'} | {mb}/{totalMb} MB | {rate} MB/s | ETA {eta_formatted}`,
      })
      bar.start(Math.max(1, totals.bytes), 0, {
        ...payload(),
        totalMb: (totals.bytes / MB).toFixed(1),
      })
    },
    read(bytes) {
      read += bytes
      bar?.update(read, payload())
    },
    turns(s, a) {
      sent = s
      accepted = a
      bar?.update(read, payload())
    },
    fileDone() {
      done++
      bar?.update(read, payload())
    },
    note(message) {
      if (bar === undefined) stream.write(`${message}\n`)
      else {
        // Clear the bar's line, print the note, and let the bar redraw below it.
        stream.write(`\r\x1b[2K${message}\n`)
        bar.update(read, payload())
      }
    },
    end() {
      bar?.update(read, payload())
      bar?.stop()
      bar = undefined
    },
  }
}

/** For pipes and logs: one line per file read, and the notes. */
export function lineProgress(stream: NodeJS.WritableStream): Progress {
  return {
    begin() {},
    read() {},
    turns() {},
    fileDone(r) {
      stream.write(
        `${r.path}: ${r.format}, ${r.from}, ${r.records} records, ${r.turns} turns, ${r.skipped} skipped, ${r.malformed} malformed\n`,
      )
    },
    note(message) {
      stream.write(`${message}\n`)
    },
    end() {},
  }
}

/** Nothing at all (tests, `--json` scripts that want a quiet stderr can still pick this). */
export const silentProgress: Progress = {
  begin() {},
  read() {},
  turns() {},
  fileDone() {},
  note() {},
  end() {},
}
