import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'
import { WORKERS_TEST_SECRET } from './workers/secret'

/**
 * Every variable of SPEC §5 set explicitly: vitest-pool-workers also reads a developer's
 * .dev.vars, and a JWT_ISSUER or INGEST_* left there must not change what these tests see.
 * An empty value means unset to the worker's config parser.
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
  ].map((name) => [name, '']),
)

export default defineConfig({
  test: {
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
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ...unset,
                LIBSQL_URL: inject('sqldUrl'),
                JWT_SECRET: WORKERS_TEST_SECRET,
                INGEST_CHUNK_LINES: '2',
                INGEST_MAX_BODY_BYTES: '65536',
              },
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
