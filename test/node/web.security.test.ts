/**
 * The page against hostile data, in real Chromium: transcripts, session fields, model and tool
 * names holding HTML, script-closing tags, event handlers, ANSI escapes and a 300 KB line. Each
 * payload would set window.__pwned and open a dialog if it ran; none may. The headers that
 * confine the page (CSP, nosniff, no referrer, no framing) are checked on every answer it gets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contentSecurityPolicy } from '../../src/routes/web'
import { tokenFor } from '../helpers/app'
import {
  launchBrowser,
  settled,
  type TestBrowser,
  texts,
  type WatchedPage,
} from '../helpers/browser'
import { type ChildServer, postIngest, spawnServer } from '../helpers/node'
import { hostileSession, ndjson, xss } from '../helpers/web-fixture'

const owner = `web-security-${crypto.randomUUID()}`
let server: ChildServer
let browser: TestBrowser
let tab: WatchedPage
const lines = hostileSession()
const evil = lines[0] as { tool: string; host: string; session_id: string }
const evilHref = `#/session/${[evil.tool, evil.host, evil.session_id].map(encodeURIComponent).join('/')}`

beforeAll(async () => {
  ;[server, browser] = await Promise.all([spawnServer(), launchBrowser()])
  const answer = await postIngest(server.url, owner, ndjson(lines))
  expect(answer.body).toMatchObject({ accepted: lines.length, rejected: 0 })
  tab = await browser.open()
  await tab.page.goto(`${server.url}/#token=${await tokenFor(owner)}`)
  await settled(tab.page, 'usage')
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

/** Nothing ran: no flag set, no dialog, no console or page error, no CSP violation. */
async function nothingRan(watched: WatchedPage) {
  expect(
    await watched.page.evaluate(() => (window as { __pwned?: unknown }).__pwned),
  ).toBeUndefined()
  expect(watched.dialogs).toEqual([])
  expect(watched.consoleErrors).toEqual([])
  expect(watched.pageErrors).toEqual([])
  expect(await watched.violations()).toEqual([])
  // The one script of the page, and no element any payload names.
  expect(await watched.page.evaluate(() => document.scripts.length)).toBe(1)
  expect(
    await watched.page.$$('main img, main iframe, main script, main a[href^="javascript"]'),
  ).toEqual([])
  expect(await watched.page.$$('main svg:not(.bars)')).toEqual([])
}

describe('the page with hostile data', () => {
  it('renders a hostile transcript as text and runs none of it', async () => {
    const { page } = tab
    await page.goto(`${server.url}/${evilHref}`)
    expect(await settled(page, 'session')).toBe('done')
    // Open every collapsed block, so its lazy contents are put into the page too.
    await page.$$eval('details', (all) => {
      for (const details of all) (details as HTMLDetailsElement).open = true
    })
    await page.waitForFunction(
      () => document.querySelectorAll('#session-turns details.calls pre').length === 6,
    )
    const contents = await texts(page, '#session-turns .content')
    expect(contents.slice(0, 4)).toEqual([xss.img, xss.script, xss.svg, xss.link])
    // Terminal escapes are dropped; the words stay.
    expect(contents[4]).toBe('red alert plain bold green')
    // The 300 KB line is all there, as text, in its collapsed block.
    expect(contents[5]).toBe(xss.huge)
    expect(await page.$$eval('#session-turns details.long', (d) => d.length)).toBe(1)
    const calls = await texts(page, '#session-turns details.calls pre')
    expect(calls[0]).toContain('"html": "<img src=x onerror=\\"window.__pwned=1;alert(1)\\">"')
    expect(await page.$eval('#session-title', (h) => h.textContent)).toBe(`/tmp/${xss.img}`)
    expect(await texts(page, '#session-facts code')).toEqual([evil.session_id, xss.script])
    // A huge line wraps: the page never scrolls sideways.
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    ).toBeLessThanOrEqual(0)
    await tab.screenshot('hostile-transcript')
    await nothingRan(tab)
  })

  it('shows hostile names in the sessions table and usage tables as text', async () => {
    const { page } = tab
    await page.goto(`${server.url}/#/sessions`)
    expect(await settled(page, 'sessions')).toBe('done')
    expect(await texts(page, '#sessions-table tbody td.title a')).toEqual([`/tmp/${xss.img}`])
    expect(await texts(page, '#sessions-table tbody td:nth-child(3)')).toEqual([evil.tool])
    expect(
      await page.$eval('#sessions-table tbody td.title a', (a) => a.getAttribute('href')),
    ).toBe(evilHref)
    await page.goto(`${server.url}/#/usage`)
    expect(await settled(page, 'usage')).toBe('done')
    expect(await texts(page, '#usage-models tbody td:first-child')).toEqual([xss.img])
    expect(await texts(page, '#usage-tools tbody td:first-child')).toEqual([evil.tool])
    await nothingRan(tab)
  })

  it('keeps the token to this tab and this server: no storage, no cookie, no Referer', async () => {
    const { page } = tab
    expect(await page.evaluate(() => [localStorage.length, document.cookie])).toEqual([0, ''])
    const headers: Record<string, string>[] = []
    const listener = (request: { url(): string; headers(): Record<string, string> }) => {
      if (request.url().includes('/v1/')) headers.push(request.headers())
    }
    page.on('request', listener)
    await page.goto(`${server.url}/#/sessions`)
    await settled(page, 'sessions')
    page.off('request', listener)
    expect(headers.length).toBeGreaterThan(0)
    for (const sent of headers) {
      expect(sent.referer ?? '').toBe('')
      expect(sent.authorization).toMatch(/^Bearer ey/)
    }
  })
})

describe('the security headers', () => {
  const expected = {
    'content-security-policy': contentSecurityPolicy,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  }

  it('are the strict policy itself', () => {
    expect(contentSecurityPolicy).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    expect(contentSecurityPolicy).not.toContain('unsafe')
  })

  it('come with the page, its assets and a missing asset', async () => {
    const page = await fetch(`${server.url}/`)
    const html = await page.text()
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=UTF-8')
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1])
    expect(assets).toHaveLength(2)
    for (const res of [
      page,
      ...(await Promise.all(assets.map((path) => fetch(`${server.url}${path}`)))),
      await fetch(`${server.url}/assets/app.0000000000000000.js`),
    ]) {
      expect(Object.fromEntries(Object.keys(expected).map((k) => [k, res.headers.get(k)]))).toEqual(
        expected,
      )
    }
    // No inline script or style, no handler attributes: the shell needs no CSP exception.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/)
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=|<style/i)
    expect(html.match(/<script/g)).toHaveLength(1)
    expect(html).toMatch(
      /<script type="module" src="\/assets\/app\.[0-9a-f]{16}\.js" integrity="sha384-/,
    )
  })

  it('are enforced by the browser: the page loaded with no CSP violation', async () => {
    const fresh = await browser.open()
    await fresh.page.goto(`${server.url}/#/usage`)
    await settled(fresh.page, 'signin')
    expect(await fresh.violations()).toEqual([])
    // An inline script injected by hand is refused by the policy, proving it is in force.
    await fresh.page.evaluate(() => {
      const script = document.createElement('script')
      script.textContent = 'window.__pwned = "inline"'
      document.body.append(script)
    })
    expect(
      await fresh.page.evaluate(() => (window as { __pwned?: unknown }).__pwned),
    ).toBeUndefined()
    expect((await fresh.violations()).some((v) => v.startsWith('script-src'))).toBe(true)
    await fresh.page.close()
  })
})
