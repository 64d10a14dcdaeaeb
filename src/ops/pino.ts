/**
 * Node's log: one JSON line per request and per database failure on a stream (stdout for
 * `npm run serve`), through pino; LOG_FORMAT=pretty renders them for a person (pino-pretty).
 * Only the fields of RequestLine and DatabaseFailureLine are written: never a header or a line.
 */
import pino, { type DestinationStream } from 'pino'
import pretty from 'pino-pretty'
import type { LogLevel } from '../config'
import type { Telemetry } from './telemetry'

export type NodeLog = Telemetry & {
  /** Unexpected errors (the app's `log` dependency): message, error name and message, stack. */
  error(message: string, error: unknown): void
  flush(): void
}

export function pinoLog(options: {
  level: LogLevel
  format: 'json' | 'pretty'
  destination: DestinationStream
}): NodeLog {
  const stream =
    options.format === 'pretty'
      ? pretty({ destination: options.destination, sync: true, ignore: 'pid,hostname' })
      : options.destination
  const logger = pino(
    {
      level: options.level,
      base: null,
      // Each line carries its own `time` (when it was answered), ISO 8601.
      timestamp: false,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  )
  return {
    request(line) {
      logger.info(line, 'request')
    },
    chunkCommitted() {},
    databaseFailure(line) {
      logger.warn(line, 'database failure')
    },
    error(message, error) {
      const err = error instanceof Error ? error : new Error(String(error))
      logger.error(
        {
          time: new Date().toISOString(),
          err: { type: err.name, message: err.message, stack: err.stack },
        },
        message,
      )
    },
    flush() {
      logger.flush()
    },
  }
}
