/**
 * Session data for the page's browser tests, as NDJSON wire lines: many sessions over recent
 * days (enough to page), one long session (more turns than one page of turns), and a hostile one
 * whose every text field is an XSS or terminal payload. Timestamps are relative to now, so the
 * usage view's default range (the last 30 days) holds them.
 */
const day = 24 * 3600 * 1000

/** Each payload would set window.__pwned (and pop a dialog) if it ever ran. */
export const xss = {
  img: '<img src=x onerror="window.__pwned=1;alert(1)">',
  script: '</script><script>window.__pwned=2;alert(2)</script>',
  svg: '<svg onload="window.__pwned=3;alert(3)"></svg>',
  link: '<a href="javascript:window.__pwned=4">click</a>',
  ansi: '\u001b[31mred alert\u001b[0m \u001b]0;title\u0007plain \u001b[1;32mbold green\u001b[0m',
  huge: `${'A'.repeat(150_000)}<img src=x onerror="window.__pwned=5">${'B'.repeat(150_000)}`,
}

export type Line = Record<string, unknown>

const iso = (ms: number) => new Date(ms).toISOString()

export function sessionsFixture(options: { sessions: number; now?: number }): Line[] {
  const now = options.now ?? Date.now()
  const tools = ['claude-code', 'codex', 'aider']
  const models = ['claude-sonnet-4-5', 'gpt-5', 'claude-opus-4-1']
  const lines: Line[] = []
  for (let s = 0; s < options.sessions; s++) {
    const start = now - ((s * 7) % 25) * day - (s % 11) * 3600 * 1000 - 3 * 3600 * 1000
    const sessionId = `sess-${String(s).padStart(3, '0')}`
    for (let t = 0; t < 3; t++) {
      lines.push({
        tool: tools[s % tools.length],
        host: `host-${s % 4}`,
        session_id: sessionId,
        turn_id: `${sessionId}:${t}`,
        seq: t,
        role: t % 2 === 0 ? 'user' : 'assistant',
        timestamp: iso(start + t * 60_000),
        content: t % 2 === 0 ? `Question ${t} of session ${s}` : `Answer ${t} of session ${s}`,
        ...(t % 2 === 1
          ? {
              model: models[s % models.length],
              tokens_in: 100 + s * 3 + t,
              tokens_out: 20 + s,
              cost_usd: Math.round((0.001 + s * 0.0003) * 1e6) / 1e6,
            }
          : {}),
        session_meta: { working_dir: `/home/dev/project-${s % 9}` },
      })
    }
  }
  return lines
}

/** One session with `turns` turns, each kind of content present. */
export function longSession(turns: number, now = Date.now()): Line[] {
  const start = now - 2 * day
  return Array.from({ length: turns }, (_, i) => ({
    tool: 'claude-code',
    host: 'laptop-7',
    session_id: 'long-one',
    turn_id: `long-one:${i}`,
    seq: i,
    role: ['user', 'assistant', 'tool', 'system'][i % 4],
    timestamp: iso(start + i * 1000),
    content:
      i === 5 ? Array.from({ length: 60 }, (_, n) => `line ${n}`).join('\n') : `turn number ${i}`,
    ...(i % 4 === 1
      ? { model: 'claude-sonnet-4-5', tokens_in: 1000 + i, tokens_out: 50 + i, cost_usd: 0.0125 }
      : {}),
    ...(i % 4 === 1 ? { tool_calls: [{ name: 'bash', input: { cmd: `ls ${i}` } }] } : {}),
    session_meta: { working_dir: '/home/dev/long', started_at: iso(start - 60_000) },
  }))
}

/** A session whose every text field is hostile. */
export function hostileSession(now = Date.now()): Line[] {
  const start = now - day
  const contents = [xss.img, xss.script, xss.svg, xss.link, xss.ansi, xss.huge]
  return contents.map((content, i) => ({
    tool: 'x<b>tool</b>',
    host: '<i>host</i>',
    session_id: `evil-${xss.script}`,
    turn_id: `evil:${i}`,
    seq: i,
    role: i % 2 === 0 ? 'user' : 'assistant',
    timestamp: iso(start + i * 1000),
    content,
    model: xss.img,
    tokens_in: 10,
    tokens_out: 5,
    cost_usd: 0.001,
    tool_calls: [{ name: xss.script, input: { html: xss.img } }],
    metadata: { note: xss.svg },
    session_meta: {
      working_dir: `/tmp/${xss.img}`,
      source_file: xss.script,
      metadata: { x: xss.link },
    },
  }))
}

export const ndjson = (lines: Line[]) => `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`
