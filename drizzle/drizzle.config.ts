import { defineConfig } from 'drizzle-kit'

// Generation only: `npm run db:generate` diffs src/db/schema.ts against drizzle/meta and writes
// a new migration here. Applying migrations is `npm run migrate` (src/node/migrate.ts).
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './drizzle',
})
