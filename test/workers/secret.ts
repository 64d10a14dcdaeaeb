/** The JWT secret the workerd suite's worker is configured with (test/vitest.config.ts). */
export const WORKERS_TEST_SECRET = 'workerd-test-secret-0123456789abcdef'
