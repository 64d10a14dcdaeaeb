/**
 * The page in real Chromium, against `npm run serve`'s entry on a temporary database holding a
 * fixture: signing in through the `#token=` link, the usage charts' numbers against the API's,
 * the sessions table paged to its end, sorted and filtered, and a transcript with every turn.
 * Screenshots of each view land in test/screenshots/ (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenFor } from '../helpers/app'
import {
  launchBrowser,
  settled,
  type TestBrowser,
  texts,
  type WatchedPage,
} from '../helpers/browser'
import { type ChildServer, postIngest, spawnServer } from '../helpers/node'
import { longSession, ndjson, sessionsFixture } from '../helpers/web-fixture'

const owner = `web-happy-${crypto.randomUUID()}`
const sessionCount = 120
const longTurns = 620

let server: ChildServer
let browser: TestBrowser
let token: string
let tab: WatchedPage

/** The read API as the page calls it, from Node with the same token. */
async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
  expect(res.status).toBe(200)
  return (await res.json()) as T
}

const digits = (text: string) => Number(text.replace(/[^0-9.]/g, ''))

beforeAll(async () => {
  ;[server, browser] = await Promise.all([spawnServer(), launchBrowser()])
  token = await tokenFor(owner)
  const answer = await postIngest(
    server.url,
    owner,
    ndjson([...sessionsFixture({ sessions: sessionCount }), ...longSession(longTurns)]),
  )
  expect(answer.body).toMatchObject({ rejected: 0, accepted: sessionCount * 3 + longTurns })
  tab = await browser.open()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

describe('the page in Chromium', () => {
  it('signs in from the #token= link and clears the token from the address bar', async () => {
    const { page } = tab
    await page.goto(`${server.url}/#token=${token}`)
    expect(await settled(page, 'usage')).toBe('done')
    expect(page.url()).toBe(`${server.url}/#/usage`)
    expect(await page.evaluate(() => history.length)).toBe(2) // about:blank, then the page
    expect(await page.evaluate(() => sessionStorage.getItem('tributary.token'))).toBe(token)
    expect(await page.evaluate(() => localStorage.length + document.cookie.length)).toBe(0)
    expect(await page.$eval('#who', (el) => el.textContent)).toBe(`signed in as ${owner}`)
    // The fragment never left the browser: no request carried the token outside a fragment.
    expect(tab.requests.filter((url) => url.split('#')[0]?.includes(token))).toEqual([])
  })

  it('draws the usage charts with exactly the API numbers, and totals by model and tool', async () => {
    const { page } = tab
    const [from, to] = await page.$$eval('#usage-form input', (inputs) =>
      inputs.map((input) => (input as HTMLInputElement).value),
    )
    const nextDay = new Date(`${to}T00:00:00Z`)
    nextDay.setUTCDate(nextDay.getUTCDate() + 1)
    const range = `from=${from}&to=${nextDay.toISOString().slice(0, 10)}&tz=UTC`
    type Usage = {
      rows: {
        day?: string
        model?: string | null
        tool?: string
        tokens_in: number
        tokens_out: number
        cost_usd: number
        turns: number
      }[]
      totals: {
        turns: number
        tokens_in: number
        tokens_out: number
        cost_usd: number
        sessions: number
      }
    }
    const byDay = await api<Usage>(`/v1/usage?group_by=day&${range}`)
    expect(byDay.rows.length).toBeGreaterThan(10)

    const drawn = await page.$$eval('#usage-tokens-chart g.day', (groups) =>
      groups.map((g) => ({
        day: g.getAttribute('data-day'),
        in: Number(g.getAttribute('data-tokens-in')),
        out: Number(g.getAttribute('data-tokens-out')),
        bars: g.querySelectorAll('rect').length,
      })),
    )
    const costs = await page.$$eval('#usage-cost-chart g.day', (groups) =>
      Object.fromEntries(
        groups.map((g) => [g.getAttribute('data-day'), Number(g.getAttribute('data-cost'))]),
      ),
    )
    expect(drawn.length).toBe(30) // every day of the range, empty ones too
    const rows = new Map(byDay.rows.map((row) => [row.day, row]))
    for (const day of drawn) {
      const row = rows.get(day.day ?? '')
      expect(day.in).toBe(row?.tokens_in ?? 0)
      expect(day.out).toBe(row?.tokens_out ?? 0)
      expect(costs[day.day ?? '']).toBe(row?.cost_usd ?? 0)
      expect(day.bars).toBe((day.in > 0 ? 1 : 0) + (day.out > 0 ? 1 : 0))
    }
    // Every API row is drawn.
    expect(byDay.rows.every((row) => drawn.some((d) => d.day === row.day))).toBe(true)

    const totals = await texts(page, '#usage-totals dd')
    expect(totals.map(digits)).toEqual([
      byDay.totals.turns,
      byDay.totals.sessions,
      byDay.totals.tokens_in,
      byDay.totals.tokens_out,
      Number(byDay.totals.cost_usd.toFixed(2)),
    ])
    for (const [key, id] of [
      ['model', 'usage-models'],
      ['tool', 'usage-tools'],
    ] as const) {
      const grouped = await api<Usage>(`/v1/usage?group_by=${key}&${range}`)
      const names = await texts(page, `#${id} tbody td:first-child`)
      expect(names.sort()).toEqual(grouped.rows.map((r) => r[key] ?? '(none)').sort())
      const turns = await texts(page, `#${id} tbody td:nth-child(2)`)
      expect(turns.map(digits).reduce((a, b) => a + b, 0)).toBe(grouped.totals.turns)
    }
    await tab.screenshot('usage')
  })

  it('pages the sessions table to its end with "More sessions"', async () => {
    const { page } = tab
    await page.click('nav a[data-view="sessions"]')
    expect(await settled(page, 'sessions')).toBe('done')
    expect(await page.$$eval('#sessions-table tbody tr', (r) => r.length)).toBe(50)
    await tab.screenshot('sessions')
    let clicks = 0
    while (!(await page.$eval('#sessions-more', (b) => (b as HTMLButtonElement).hidden))) {
      const before = await page.$$eval('#sessions-table tbody tr', (r) => r.length)
      await page.click('#sessions-more')
      await page.waitForFunction(
        (n) => document.querySelectorAll('#sessions-table tbody tr').length > n,
        {},
        before,
      )
      clicks++
    }
    expect(clicks).toBe(2) // 50 + 50 + 21
    const links = await page.$$eval('#sessions-table tbody td.title a', (as) =>
      as.map((a) => decodeURIComponent(a.getAttribute('href')?.split('/').pop() ?? '')),
    )
    expect(links.length).toBe(sessionCount + 1)
    expect(new Set(links).size).toBe(sessionCount + 1)
    expect(await page.$eval('#sessions-status', (s) => s.textContent)).toContain('all shown')
    // The API's own order: newest activity first.
    const walked = await api<{ sessions: { session_id: string }[] }>('/v1/sessions?limit=500')
    expect(links).toEqual(walked.sessions.map((s) => s.session_id))
  })

  it('sorts the loaded rows by a column, both ways', async () => {
    const { page } = tab
    const column = 'th[data-key="cost_usd"] button'
    await page.click(column)
    const costs = async () =>
      (await texts(page, '#sessions-table tbody td:nth-child(8)')).map(digits)
    const descending = await costs()
    expect(descending).toEqual([...descending].sort((a, b) => b - a))
    expect(await page.$eval('th[data-key="cost_usd"]', (th) => th.getAttribute('aria-sort'))).toBe(
      'descending',
    )
    await page.click(column)
    const ascending = await costs()
    expect(ascending).toEqual([...ascending].sort((a, b) => a - b))
    expect(ascending.length).toBe(sessionCount + 1)
    await page.click('th[data-key="ended_at"] button')
  })

  it('filters by tool and text like the API does', async () => {
    const { page } = tab
    await page.type('#sessions-form input[name="tool"]', 'codex')
    await page.type('#sessions-form input[name="q"]', 'project-4')
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => location.hash.includes('tool=codex'))
    // The filtered render has replaced the table once no row of another tool is left.
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#sessions-table tbody td:nth-child(3)')].every(
        (td) => td.textContent === 'codex',
      ),
    )
    expect(await settled(page, 'sessions')).toBe('done')
    const shown = await texts(page, '#sessions-table tbody td.title small')
    const expected = await api<{ sessions: { session_id: string }[] }>(
      '/v1/sessions?tool=codex&q=project-4&limit=500',
    )
    expect(expected.sessions.length).toBeGreaterThan(0)
    expect(shown).toEqual(expected.sessions.map((s) => s.session_id))
    expect(new Set(await texts(page, '#sessions-table tbody td:nth-child(3)'))).toEqual(
      new Set(['codex']),
    )
    await page.click('#sessions-form button[type="reset"]')
    await page.waitForFunction(() => location.hash === '#/sessions')
  })

  it('shows every turn of a long transcript, in order, with its figures', async () => {
    const { page } = tab
    // The unfiltered table again (the reset above re-renders it), then follow the row's link.
    const link = await page.waitForSelector('a[href="#/session/claude-code/laptop-7/long-one"]')
    expect(await settled(page, 'sessions')).toBe('done')
    await link?.click()
    expect(await settled(page, 'session')).toBe('done')
    const seqs = await page.$$eval('#session-turns li.turn', (items) =>
      items.map((li) => Number(li.getAttribute('data-seq'))),
    )
    expect(seqs).toEqual(Array.from({ length: longTurns }, (_, i) => i))
    const roles = await page.$$eval('#session-turns li.turn', (items) =>
      items.slice(0, 4).map((li) => li.className),
    )
    expect(roles).toEqual([
      'turn role-user',
      'turn role-assistant',
      'turn role-tool',
      'turn role-system',
    ])
    const session = await api<{
      tokens_in: number
      tokens_out: number
      cost_usd: number
      turns: number
    }>('/v1/sessions/claude-code/laptop-7/long-one')
    expect(session.turns).toBe(longTurns)
    const footer = (await texts(page, '#session-footer dd')).map(digits)
    expect(footer).toEqual([
      longTurns,
      session.tokens_in,
      session.tokens_out,
      Number(session.cost_usd.toFixed(2)),
    ])
    // Tool calls and the long content start collapsed.
    expect(await page.$$eval('#session-turns details.calls[open]', (d) => d.length)).toBe(0)
    expect(await page.$$eval('#session-turns details.calls', (d) => d.length)).toBe(longTurns / 4)
    expect(await page.$$eval('#session-turns details.long', (d) => d.length)).toBe(1)
    await page.click('#session-turns li[data-seq="1"] details.calls summary')
    // Its content is built on the toggle event, which the browser fires in a task after the click.
    await page.waitForSelector('#session-turns li[data-seq="1"] details.calls pre')
    expect(
      await page.$eval('#session-turns li[data-seq="1"] details.calls pre', (p) => p.textContent),
    ).toContain('"cmd": "ls 1"')
    await tab.screenshot('transcript')
    expect(tab.consoleErrors).toEqual([])
    expect(tab.pageErrors).toEqual([])
    expect(await tab.violations()).toEqual([])
  })

  it('is usable by keyboard alone', async () => {
    const { page } = tab
    // A fresh load, so the keyboard starts at the top of the document.
    await page.goto('about:blank')
    await page.goto(`${server.url}/#/usage`)
    expect(await settled(page, 'usage')).toBe('done')
    // Tab from the top of the page to the Sessions link, and follow it with Enter.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab')
      if ((await page.evaluate(() => document.activeElement?.textContent)) === 'Sessions') break
    }
    await page.keyboard.press('Enter')
    expect(await settled(page, 'sessions')).toBe('done')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('sessions-title')
    // The column headers are buttons, reachable and pressable.
    await page.focus('th[data-key="turns"] button')
    await page.keyboard.press('Enter')
    expect(await page.$eval('th[data-key="turns"]', (th) => th.getAttribute('aria-sort'))).toBe(
      'descending',
    )
  })

  it('fits a phone-width screen without sideways scrolling of the page', async () => {
    const phone = await browser.open({ phone: true })
    const { page } = phone
    await page.goto(`${server.url}/#token=${token}`)
    expect(await settled(page, 'usage')).toBe('done')
    const overflow = () =>
      page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(await overflow()).toBeLessThanOrEqual(0)
    await phone.screenshot('phone-usage')
    await page.goto(`${server.url}/#/sessions`)
    expect(await settled(page, 'sessions')).toBe('done')
    expect(await overflow()).toBeLessThanOrEqual(0)
    await phone.screenshot('phone-sessions')
    await page.goto(`${server.url}/#/session/claude-code/laptop-7/long-one`)
    expect(await settled(page, 'session')).toBe('done')
    expect(await overflow()).toBeLessThanOrEqual(0)
    await phone.screenshot('phone-transcript')
    await page.close()
  })
})
