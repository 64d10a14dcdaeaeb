/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of every route, generated from the valibot
 * schemas that validate the wire format and the query parameters, and those of the answers.
 */
import { toJsonSchema } from '@valibot/to-json-schema'
import { Hono } from 'hono'
import type * as v from 'valibot'
import * as valibot from 'valibot'
import { problemCodes } from '../errors'
import { turnSchema } from '../ingest/turn'
import { sessionDetailQuery, sessionsQuery, turnsQuery, usageQuery } from '../read/query'
import {
  healthShape,
  problemShape,
  sessionPageShape,
  sessionShape,
  summaryShape,
  turnPageShape,
  turnShape,
  usageShape,
} from '../read/responses'
import type { AppEnv } from '../types'
import { NDJSON_MEDIA_TYPES } from './ingest'

type JsonObject = Record<string, unknown>

/** A JSON Schema 2020-12 of `schema`; validations JSON Schema cannot say are left to the text. */
const schemaOf = (schema: v.GenericSchema): JsonObject => {
  const { $schema: _, ...rest } = toJsonSchema(schema, {
    errorMode: 'ignore',
    target: 'draft-2020-12',
  }) as JsonObject
  return rest
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })

const json = (name: string, description: string, headers?: JsonObject) => ({
  description,
  ...(headers === undefined ? {} : { headers }),
  content: { 'application/json': { schema: ref(name) } },
})

const problem = (code: keyof typeof problemCodes, description: string) => [
  String(problemCodes[code].status),
  {
    description: `${code}: ${description}`,
    content: { 'application/problem+json': { schema: ref('Problem') } },
  },
]

const queryParameters = (schema: { entries: v.ObjectEntries }) =>
  Object.entries(schema.entries as Record<string, v.GenericSchema>).map(([name, entry]) => {
    const inner =
      entry.type === 'optional' ? (entry as unknown as { wrapped: v.GenericSchema }).wrapped : entry
    const description = valibot.getDescription(inner)
    return {
      name,
      in: 'query',
      required: false,
      ...(description === undefined ? {} : { description }),
      schema: schemaOf(inner),
    }
  })

const sessionPath = ['tool', 'host', 'session_id'].map((name) => ({
  name,
  in: 'path',
  required: true,
  description: `The session's ${name}, URL-encoded (any character it holds, / and % included).`,
  schema: { type: 'string', minLength: 1 },
}))

const etag = {
  ETag: {
    description: 'Strong validator; send it back as If-None-Match.',
    schema: { type: 'string' },
  },
}
const ifNoneMatch = {
  name: 'If-None-Match',
  in: 'header',
  required: false,
  description: 'An ETag of an earlier answer: 304 with no body when it still holds.',
  schema: { type: 'string' },
}

const readProblems = [
  problem('UNAUTHORIZED', 'missing or invalid bearer token.'),
  problem('DATABASE_UNAVAILABLE', 'the database did not answer; retry after Retry-After.'),
]

function buildDocument(): JsonObject {
  const bearer = [{ bearer: [] }]
  return {
    openapi: '3.1.0',
    info: {
      title: 'tributary',
      version: '0.1.0',
      description:
        'Streamed NDJSON ingest of LLM coding-session turns, and an owner-scoped read API over them.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A JWT; its owner claim scopes every write and read.',
        },
      },
      schemas: {
        TurnLine: schemaOf(turnSchema),
        Summary: schemaOf(summaryShape),
        Problem: schemaOf(problemShape),
        Session: schemaOf(sessionShape),
        SessionPage: schemaOf(sessionPageShape),
        Turn: schemaOf(turnShape),
        TurnPage: schemaOf(turnPageShape),
        Usage: schemaOf(usageShape),
        Health: schemaOf(healthShape),
      },
    },
    paths: {
      '/v1/ingest': {
        post: {
          operationId: 'ingest',
          summary: 'Ingest turns as NDJSON, one TurnLine object per line',
          security: bearer,
          requestBody: {
            required: true,
            description:
              'Newline-delimited JSON, optionally gzip or deflate (Content-Encoding); each line a TurnLine.',
            content: Object.fromEntries(
              NDJSON_MEDIA_TYPES.map((type) => [
                type,
                { schema: { type: 'string', 'x-ndjson-line': ref('TurnLine') } },
              ]),
            ),
          },
          responses: Object.fromEntries([
            ['200', json('Summary', 'Every line accepted (or an empty body).')],
            ['207', json('Summary', 'Some lines accepted, some rejected.')],
            ['422', json('Summary', 'Lines were sent and none was accepted.')],
            problem('BAD_ENCODING', 'corrupt compressed body, or the body was cut short.'),
            problem('UNAUTHORIZED', 'missing or invalid bearer token.'),
            problem('BODY_TIMEOUT', 'the body stalled; `committed` tells what landed.'),
            problem('PAYLOAD_TOO_LARGE', 'body above the cap; `committed` tells what landed.'),
            problem('UNSUPPORTED_MEDIA_TYPE', 'Content-Type or Content-Encoding not supported.'),
            problem('DATABASE_UNAVAILABLE', 'the database failed; `committed` tells what landed.'),
          ]),
        },
      },
      '/v1/sessions': {
        get: {
          operationId: 'listSessions',
          summary: "The caller's sessions, newest activity first, keyset-paginated",
          security: bearer,
          parameters: queryParameters(sessionsQuery),
          responses: Object.fromEntries([
            ['200', json('SessionPage', 'One page of sessions.')],
            problem('INVALID_QUERY', 'a bad query parameter, named in `parameter`.'),
            ...readProblems,
          ]),
        },
      },
      '/v1/sessions/{tool}/{host}/{session_id}': {
        get: {
          operationId: 'getSession',
          summary: 'One session with its aggregates',
          security: bearer,
          parameters: [...sessionPath, ifNoneMatch, ...queryParameters(sessionDetailQuery)],
          responses: Object.fromEntries([
            ['200', json('Session', 'The session.', etag)],
            ['304', { description: 'Not modified since the ETag sent.', headers: etag }],
            problem('INVALID_QUERY', 'a query parameter was given (none is known here).'),
            problem('NOT_FOUND', 'no such session for this owner.'),
            ...readProblems,
          ]),
        },
      },
      '/v1/sessions/{tool}/{host}/{session_id}/turns': {
        get: {
          operationId: 'listTurns',
          summary: "A session's turns in seq, timestamp, turn_id order, keyset-paginated",
          security: bearer,
          parameters: [...sessionPath, ifNoneMatch, ...queryParameters(turnsQuery)],
          responses: Object.fromEntries([
            ['200', json('TurnPage', 'One page of turns.', etag)],
            ['304', { description: 'Not modified since the ETag sent.', headers: etag }],
            problem('INVALID_QUERY', 'a bad query parameter, named in `parameter`.'),
            problem('NOT_FOUND', 'no such session for this owner.'),
            ...readProblems,
          ]),
        },
      },
      '/v1/usage': {
        get: {
          operationId: 'usage',
          summary: 'Turns, tokens, cost and sessions grouped by day, model, tool or host',
          security: bearer,
          parameters: queryParameters(usageQuery),
          responses: Object.fromEntries([
            ['200', json('Usage', 'Rows per group, and totals over the range.')],
            problem('INVALID_QUERY', 'a bad query parameter, named in `parameter`.'),
            ...readProblems,
          ]),
        },
      },
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'Liveness: the process answers',
          security: [],
          responses: { '200': json('Health', 'Alive.') },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'Readiness: the database answers',
          security: [],
          responses: Object.fromEntries([
            ['200', json('Health', 'Ready.')],
            problem('DATABASE_UNAVAILABLE', 'the database did not answer.'),
          ]),
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          security: [],
          responses: {
            '200': {
              description: 'The OpenAPI 3.1 document.',
              content: { 'application/json': { schema: { type: 'object' } } },
            },
          },
        },
      },
    },
  }
}

let built: JsonObject | undefined
/** Built once per isolate or process: the schemas do not change while it runs. */
export const openApiDocument = (): JsonObject => {
  built ??= buildDocument()
  return built
}

export function openapiRoutes() {
  return new Hono<AppEnv>().get('/openapi.json', (c) => c.json(openApiDocument()))
}
