/**
 * GET /openapi.json: a valid OpenAPI 3.1 document (checked by a validator library) that names
 * every route the app serves, with the bearer scheme on every route that needs a token.
 */
import { Validator } from '@seriousme/openapi-schema-validator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testApp } from '../helpers/app'
import { createTestDatabase, type TestDatabase } from '../helpers/db'

/**
 * Routes the app may serve that are not part of the API and stay out of the document: the web
 * page and its assets, and the metrics scrape. Anything else the app routes must be documented.
 */
const NON_API = [/^\/$/, /^\/metrics$/, /^\/assets\//, /^\/app\.[a-z]+$/]

let db: TestDatabase
let app: ReturnType<typeof testApp>['app']
let doc: {
  openapi: string
  paths: Record<string, Record<string, { security?: unknown[]; responses: object }>>
}

beforeAll(async () => {
  db = await createTestDatabase()
  app = testApp(db).app
  const res = await app.request('/openapi.json')
  expect(res.status).toBe(200)
  doc = await res.json()
})
afterAll(() => db.close())

/** The app's routes as OpenAPI `path method` pairs: Hono's `:name` becomes `{name}`. */
const served = () =>
  [
    ...new Set(
      app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => {
          const path = r.path.replace(/\/$/, '') || '/'
          return `${path.replace(/:([A-Za-z_]+)/g, '{$1}')} ${r.method.toLowerCase()}`
        }),
    ),
  ].filter((route) => !NON_API.some((rule) => rule.test(route.split(' ')[0] ?? '')))

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 according to a validator library', async () => {
    expect(doc.openapi).toBe('3.1.0')
    const validator = new Validator()
    const result = await validator.validate(structuredClone(doc))
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
    // Every $ref resolves.
    expect(() => validator.resolveRefs()).not.toThrow()
  })

  it('documents exactly the routes the app serves', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${path} ${method}`),
    )
    const routes = served()
    expect(routes.length).toBeGreaterThanOrEqual(8)
    expect(routes.sort()).toEqual(documented.sort())
  })

  it('asks for the bearer token everywhere but health and the document itself', () => {
    const open = new Set(['/healthz', '/readyz', '/openapi.json'])
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops)) {
        expect(op.security, path).toEqual(open.has(path) ? [] : [{ bearer: [] }])
        if (!open.has(path)) expect(Object.keys(op.responses)).toContain('401')
      }
    }
  })

  it('carries the ingest line, summary and problem schemas generated from valibot', () => {
    const schemas = (
      doc as unknown as {
        components: {
          schemas: Record<
            string,
            { required?: string[]; properties: Record<string, { enum?: string[] }> }
          >
        }
      }
    ).components.schemas
    expect(schemas.TurnLine?.required).toEqual(
      expect.arrayContaining(['tool', 'host', 'session_id', 'turn_id', 'seq', 'role', 'timestamp']),
    )
    expect(schemas.TurnLine?.properties.role?.enum).toEqual(['user', 'assistant', 'system', 'tool'])
    expect(Object.keys(schemas.Summary?.properties ?? {})).toEqual(
      expect.arrayContaining(['accepted', 'rejected', 'errors', 'errors_truncated']),
    )
    expect(Object.keys(schemas.Problem?.properties ?? {})).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code', 'committed']),
    )
    const ingest = doc.paths['/v1/ingest']?.post?.responses as Record<string, unknown>
    expect(Object.keys(ingest).sort()).toEqual(
      ['200', '207', '400', '401', '408', '413', '415', '422', '503'].sort(),
    )
    const list = doc.paths['/v1/sessions']?.get as unknown as { parameters: { name: string }[] }
    expect(list.parameters.map((p) => p.name)).toEqual([
      'tool',
      'host',
      'since',
      'until',
      'q',
      'limit',
      'cursor',
    ])
  })
})
