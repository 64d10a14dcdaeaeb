import { fileURLToPath } from 'node:url'
import type { Client } from '@libsql/client'
import { drizzle } from 'drizzle-orm/libsql'
import { migrate } from 'drizzle-orm/libsql/migrator'

/** drizzle/ at the repository root, wherever the caller runs from. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

/**
 * Apply the drizzle-kit migrations in drizzle/ that the database has not seen yet. Idempotent:
 * drizzle records applied migrations in `__drizzle_migrations`. Node only: the Worker never reads
 * migration files.
 */
export async function applyMigrations(client: Client): Promise<void> {
  await migrate(drizzle(client), { migrationsFolder })
}
