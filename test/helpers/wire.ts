/** Line texts for the wire-schema tests: the minimal valid line, with changes made to it. */

/** The minimal valid line: only the required fields. */
export const minimalTurn = {
  tool: 'claude-code',
  host: 'laptop-7',
  session_id: 'session-1',
  turn_id: 'session-1:1',
  seq: 1,
  role: 'user',
  timestamp: '2026-11-22T13:22:26.123Z',
}

/** `minimalTurn` with `overrides` (an `undefined` override removes the field), as line text. */
export const lineWith = (overrides: Record<string, unknown>): string => {
  const wire: Record<string, unknown> = { ...minimalTurn, ...overrides }
  for (const [k, value] of Object.entries(wire)) if (value === undefined) delete wire[k]
  return JSON.stringify(wire)
}

/** The line text of `minimalTurn` plus raw JSON members, for what JSON.stringify cannot write. */
export const rawLine = (members: string): string =>
  `${JSON.stringify(minimalTurn).slice(0, -1)},${members}}`

/** `{"a":{"a":…}}` with `levels` objects in total (the outer one is level 1). */
export const nestedObject = (levels: number): unknown => {
  let value: unknown = { leaf: true }
  for (let i = 1; i < levels; i++) value = { a: value }
  return value
}

/** `[[…[1]…]]` with `levels` arrays in total. */
export const nestedArray = (levels: number): unknown => {
  let value: unknown = [1]
  for (let i = 1; i < levels; i++) value = [value]
  return value
}
