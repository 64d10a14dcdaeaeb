import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'
import { WORKERS_TEST_SECRET } from './workers/secret.js'

/**
 * wrangler.toml as it is, copied into a git-ignored folder of its own with `main` made absolute:
 * wrangler reads `.dev.vars` (or `.env`) beside the config it is given, and a developer's own
 * must not reach these tests.
 */
function isolatedWranglerConfig(): string {
  const text = readFileSync('wrangler.toml', 'utf8')
  const main = /^main = "([^"]+)"$/m.exec(text)?.[1]
  if (main === undefined) throw new Error('wrangler.toml has no main = "…" line')
  const dir = resolve('.wrangler', 'vitest')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, 'wrangler.toml')
  const temporary = `${path}.${process.pid}`
  writeFileSync(temporary, text.replace(/^main = .*$/m, `main = ${JSON.stringify(resolve(main))}`))
  renameSync(temporary, path)
  return path
}

/**
 * vitest-pool-workers 0.15 closes its runner's WebSocket as it disposes workerd, which then logs
 * this benign line at the end of a test file; the pool's own filter has it only from
 * cloudflare/workers-sdk#13833 on, and it writes to stdout itself, so only that line is dropped.
 */
const teardownNoise =
  /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected\n$/
const writeStdout = process.stdout.write.bind(process.stdout)
process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
  (typeof chunk === 'string' && teardownNoise.test(chunk)) ||
  (writeStdout as (...args: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stdout.write

/**
 * Every configuration variable set explicitly, so that one in the shell (with
 * CLOUDFLARE_INCLUDE_PROCESS_ENV) cannot change what these tests see either. An empty value
 * means unset to the worker's config parser.
 */
const unset = Object.fromEntries(
  [
    'LIBSQL_AUTH_TOKEN',
    'JWT_JWKS_URL',
    'JWT_PUBLIC_KEY',
    'JWT_ISSUER',
    'JWT_AUDIENCE',
    'JWT_ALGORITHMS',
    'JWT_OWNER_CLAIM',
    'JWT_CLOCK_TOLERANCE_S',
    'INGEST_CHUNK_BYTES',
    'INGEST_MAX_LINE_BYTES',
    'INGEST_MAX_ERRORS',
    'INGEST_IDLE_TIMEOUT_MS',
    'LIBSQL_TIMEOUT_MS',
    'INGEST_MAX_CHUNKS',
    'INGEST_REQUEST_TIMEOUT_MS',
    'INGEST_MAX_CONCURRENT',
    'INGEST_MAX_CONCURRENT_PER_OWNER',
    'RETRY_AFTER_S',
    'LOG_LEVEL',
    'LOG_FORMAT',
    'METRICS_TOKEN',
    'RATE_LIMIT_REQUESTS',
    'RATE_LIMIT_PERIOD_S',
  ].map((name) => [name, '']),
)

export default defineConfig({
  test: {
    // The servers under test log every request; show what a test printed only when it fails.
    silent: 'passed-only',
    projects: [
      {
        test: {
          name: 'node',
          root: '.',
          include: ['test/node/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/helpers/web-assets.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            // The real worker entry and its wrangler.toml; the bindings a deployment would set.
            wrangler: { configPath: isolatedWranglerConfig() },
            miniflare: {
              bindings: {
                ...unset,
                LIBSQL_URL: inject('sqldUrl'),
                JWT_SECRET: WORKERS_TEST_SECRET,
                INGEST_CHUNK_LINES: '2',
                INGEST_MAX_BODY_BYTES: '65536',
              },
              // A small limiter for test/workers/ops.test.ts (the entry is handed it as RATE_LIMITER).
              ratelimits: { RATE_LIMITER_TEST: { simple: { limit: 3, period: 60 } } },
            },
          })),
        ],
        test: {
          name: 'workers',
          root: '.',
          include: ['test/workers/**/*.test.ts'],
          globalSetup: ['test/helpers/web-assets.ts', 'test/workers/global-setup.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
})
