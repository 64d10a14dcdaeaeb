import { sql } from 'drizzle-orm'
import {
  check,
  foreignKey,
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
} from 'drizzle-orm/sqlite-core'
import { roles } from '../types'

/** The two tables, as drizzle-kit migrates them (drizzle/) and the upserts write them. */

/**
 * The database form of every timestamp: UTC with milliseconds, `YYYY-MM-DDTHH:MM:SS.sssZ`.
 * One fixed width and one zone make text order equal time order, so MIN/MAX merge correctly.
 */
const isTimestamp = (column: string) =>
  sql.raw(
    `${column} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9]Z'`,
  )

/** Keys are 1..max code points (SQLite's length() counts characters of text). */
const isKey = (column: string, max: number) =>
  sql.raw(`typeof(${column}) = 'text' AND length(${column}) BETWEEN 1 AND ${max}`)

const isJsonObject = (column: string) =>
  sql.raw(`${column} IS NULL OR (json_valid(${column}) AND json_type(${column}) = 'object')`)

const isCount = (column: string) =>
  sql.raw(`${column} IS NULL OR (typeof(${column}) = 'integer' AND ${column} >= 0)`)

export const sessions = sqliteTable(
  'sessions',
  {
    owner: text('owner').notNull(),
    tool: text('tool').notNull(),
    host: text('host').notNull(),
    sessionId: text('session_id').notNull(),
    startedAt: text('started_at').notNull(),
    endedAt: text('ended_at').notNull(),
    workingDir: text('working_dir'),
    sourceFile: text('source_file'),
    metadata: text('metadata'),
  },
  (t) => [
    primaryKey({ name: 'sessions_pk', columns: [t.owner, t.tool, t.host, t.sessionId] }),
    // Newest activity first, the key breaking ties: the read API's keyset order, read backwards.
    index('sessions_owner_activity_idx').on(t.owner, t.endedAt, t.tool, t.host, t.sessionId),
    check('sessions_owner_check', isKey('owner', 255)),
    check('sessions_tool_check', isKey('tool', 64)),
    check('sessions_host_check', isKey('host', 255)),
    check('sessions_session_id_check', isKey('session_id', 255)),
    check('sessions_started_at_check', isTimestamp('started_at')),
    check('sessions_ended_at_check', isTimestamp('ended_at')),
    check(
      'sessions_working_dir_check',
      sql`working_dir IS NULL OR (typeof(working_dir) = 'text' AND length(working_dir) <= 4096)`,
    ),
    check(
      'sessions_source_file_check',
      sql`source_file IS NULL OR (typeof(source_file) = 'text' AND length(source_file) <= 4096)`,
    ),
    check('sessions_metadata_check', isJsonObject('metadata')),
  ],
)

export const turns = sqliteTable(
  'turns',
  {
    owner: text('owner').notNull(),
    tool: text('tool').notNull(),
    host: text('host').notNull(),
    sessionId: text('session_id').notNull(),
    turnId: text('turn_id').notNull(),
    seq: integer('seq').notNull(),
    role: text('role', { enum: roles }).notNull(),
    timestamp: text('timestamp').notNull(),
    content: text('content'),
    model: text('model'),
    tokensIn: integer('tokens_in'),
    tokensOut: integer('tokens_out'),
    costUsd: real('cost_usd'),
    toolCalls: text('tool_calls'),
    metadata: text('metadata'),
  },
  (t) => [
    primaryKey({
      name: 'turns_pk',
      columns: [t.owner, t.tool, t.host, t.sessionId, t.turnId],
    }),
    foreignKey({
      name: 'turns_session_fk',
      columns: [t.owner, t.tool, t.host, t.sessionId],
      foreignColumns: [sessions.owner, sessions.tool, sessions.host, sessions.sessionId],
    }).onDelete('cascade'),
    // A session's turns in page order, carrying what the aggregates and usage read, so those
    // never touch the table (content stays out of the index).
    index('turns_session_order_idx').on(
      t.owner,
      t.tool,
      t.host,
      t.sessionId,
      t.seq,
      t.timestamp,
      t.turnId,
      t.model,
      t.tokensIn,
      t.tokensOut,
      t.costUsd,
    ),
    // An owner's turns in time order, carrying what usage totals: a day is one range of it.
    index('turns_owner_time_idx').on(
      t.owner,
      t.timestamp,
      t.tool,
      t.host,
      t.sessionId,
      t.model,
      t.tokensIn,
      t.tokensOut,
      t.costUsd,
    ),
    check('turns_turn_id_check', isKey('turn_id', 255)),
    check('turns_seq_check', sql`typeof(seq) = 'integer' AND seq >= 0`),
    check('turns_role_check', sql`role IN ('user', 'assistant', 'system', 'tool')`),
    check('turns_timestamp_check', isTimestamp('timestamp')),
    check('turns_content_check', sql`content IS NULL OR typeof(content) = 'text'`),
    check(
      'turns_model_check',
      sql`model IS NULL OR (typeof(model) = 'text' AND length(model) <= 255)`,
    ),
    check('turns_tokens_in_check', isCount('tokens_in')),
    check('turns_tokens_out_check', isCount('tokens_out')),
    check(
      'turns_cost_usd_check',
      sql`cost_usd IS NULL OR (typeof(cost_usd) IN ('real', 'integer') AND cost_usd >= 0)`,
    ),
    check('turns_tool_calls_check', sql`tool_calls IS NULL OR json_valid(tool_calls)`),
    check('turns_metadata_check', isJsonObject('metadata')),
  ],
)
