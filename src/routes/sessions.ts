/** `GET /v1/sessions`, one session, and its turns: owner-scoped, keyset-paginated. */
import { Hono } from 'hono'
import { requireOwner } from '../auth/middleware'
import { ApiError } from '../errors'
import {
  decodeSessionsCursor,
  decodeTurnsCursor,
  encodeSessionsCursor,
  encodeTurnsCursor,
} from '../read/cursor'
import {
  DEFAULT_LIMIT,
  invalidQuery,
  parseQuery,
  sessionDetailQuery,
  sessionsQuery,
  turnsQuery,
} from '../read/query'
import type { AppDeps, AppEnv, SessionKey } from '../types'
import { reading, withETag } from './read'

/** One body for a missing session and another owner's: nothing tells that one exists. */
const notFound = () => new ApiError('NOT_FOUND', 'No such session.')

const keyOf = (param: (name: string) => string | undefined): SessionKey => ({
  tool: param('tool') ?? '',
  host: param('host') ?? '',
  sessionId: param('session_id') ?? '',
})

export function sessionsRoutes(deps: AppDeps) {
  const { reads } = deps
  return new Hono<AppEnv>()
    .use(requireOwner(deps.verify))
    .get('/', async (c) => {
      const query = parseQuery(sessionsQuery, c.req.url)
      const after = query.cursor === undefined ? undefined : decodeSessionsCursor(query.cursor)
      if (query.cursor !== undefined && after === undefined) {
        throw invalidQuery('cursor', 'Query parameter cursor is not a cursor of this list.')
      }
      const limit = query.limit ?? DEFAULT_LIMIT
      const page = await reading(
        () =>
          reads.listSessions(c.var.owner, {
            limit,
            ...(query.tool === undefined ? {} : { tool: query.tool }),
            ...(query.host === undefined ? {} : { host: query.host }),
            ...(query.since === undefined ? {} : { since: query.since }),
            ...(query.until === undefined ? {} : { until: query.until }),
            ...(query.q === undefined ? {} : { q: query.q }),
            ...(after === undefined ? {} : { after }),
          }),
        deps.limits.retryAfterS,
      )
      const last = page.sessions[page.sessions.length - 1]
      return c.json({
        sessions: page.sessions,
        next_cursor:
          page.more && last !== undefined
            ? encodeSessionsCursor({
                endedAt: last.ended_at,
                tool: last.tool,
                host: last.host,
                sessionId: last.session_id,
              })
            : null,
      })
    })
    .get('/:tool/:host/:session_id', async (c) => {
      parseQuery(sessionDetailQuery, c.req.url)
      const session = await reading(
        () =>
          reads.getSession(
            c.var.owner,
            keyOf((n) => c.req.param(n)),
          ),
        deps.limits.retryAfterS,
      )
      if (session === undefined) throw notFound()
      return withETag(c, session)
    })
    .get('/:tool/:host/:session_id/turns', async (c) => {
      const query = parseQuery(turnsQuery, c.req.url)
      const after = query.cursor === undefined ? undefined : decodeTurnsCursor(query.cursor)
      if (query.cursor !== undefined && after === undefined) {
        throw invalidQuery('cursor', 'Query parameter cursor is not a cursor of this list.')
      }
      const limit = query.limit ?? DEFAULT_LIMIT
      const page = await reading(
        () =>
          reads.listTurns(
            c.var.owner,
            keyOf((n) => c.req.param(n)),
            {
              limit,
              ...(after === undefined ? {} : { after }),
            },
          ),
        deps.limits.retryAfterS,
      )
      if (page === undefined) throw notFound()
      const last = page.turns[page.turns.length - 1]
      return withETag(c, {
        turns: page.turns,
        next_cursor:
          page.more && last !== undefined
            ? encodeTurnsCursor({ seq: last.seq, timestamp: last.timestamp, turnId: last.turn_id })
            : null,
      })
    })
}
