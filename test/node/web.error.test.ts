/**
 * The page when things go wrong, in real Chromium: no token, a refused or expired one (back to
 * sign-in with a message), nothing to show (empty states), a session that does not exist, a
 * request still on its way (loading state) and a server that stopped answering (error state
 * with a retry).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenFor } from '../helpers/app'
import { launchBrowser, settled, type TestBrowser } from '../helpers/browser'
import { nowS, SECRET, signToken } from '../helpers/keys'
import { type ChildServer, postIngest, spawnServer } from '../helpers/node'
import { ndjson, sessionsFixture } from '../helpers/web-fixture'

let server: ChildServer
let browser: TestBrowser

beforeAll(async () => {
  ;[server, browser] = await Promise.all([spawnServer(), launchBrowser()])
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

const message = (page: import('puppeteer-core').Page) =>
  page.$eval('#signin-message', (p) => ((p as HTMLElement).hidden ? null : p.textContent))

describe('signing in', () => {
  it('asks for a token when there is none, and calls no API', async () => {
    const tab = await browser.open()
    await tab.page.goto(`${server.url}/#/sessions`)
    await settled(tab.page, 'signin')
    expect(await message(tab.page)).toBeNull()
    expect(await tab.page.evaluate(() => document.activeElement?.id)).toBe('signin-token')
    expect(tab.requests.filter((url) => url.includes('/v1/'))).toEqual([])
    await tab.screenshot('signin')
    await tab.page.close()
  })

  it('sends a refused token back to sign-in with a message, and forgets it', async () => {
    const tab = await browser.open()
    const { page } = tab
    await page.goto(`${server.url}/`)
    await settled(page, 'signin')
    const forged = await signToken('another-secret-that-is-32-bytes-long!!', {
      claims: { sub: 'mallory' },
    })
    await page.type('#signin-token', forged)
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => !document.getElementById('signin-message')?.hidden)
    expect(await message(page)).toBe(
      'The server refused the token (expired or not valid). Sign in again.',
    )
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
    expect(await page.$eval('#nav', (n) => (n as HTMLElement).hidden)).toBe(true)
    // A good token from the same form gets in.
    await page.type('#signin-token', await tokenFor(`web-error-${crypto.randomUUID()}`))
    await page.click('#signin-form button[type="submit"]')
    expect(await settled(page, 'usage')).toBe('empty')
    await tab.screenshot('signin-refused-then-empty-usage')
    expect(tab.pageErrors).toEqual([])
    await page.close()
  })

  it('sends an expired #token= link back to sign-in, saying when it expired', async () => {
    const tab = await browser.open()
    const expired = await signToken(SECRET, {
      claims: { sub: 'late', iat: nowS() - 7200, exp: nowS() - 3600 },
    })
    await tab.page.goto(`${server.url}/#token=${expired}`)
    await settled(tab.page, 'signin')
    expect(await message(tab.page)).toMatch(/^Your token expired at .+\. Sign in again\.$/)
    expect(tab.page.url()).toBe(`${server.url}/#/usage`)
    expect(await tab.page.evaluate(() => sessionStorage.length)).toBe(0)
    await tab.screenshot('signin-expired')
    await tab.page.close()
  })

  it('signs out on request', async () => {
    const tab = await browser.open()
    await tab.page.goto(`${server.url}/#token=${await tokenFor('someone')}`)
    await settled(tab.page, 'usage')
    await tab.page.click('#signout')
    await settled(tab.page, 'signin')
    expect(await message(tab.page)).toBe('Signed out.')
    expect(await tab.page.evaluate(() => sessionStorage.length)).toBe(0)
    await tab.page.close()
  })
})

describe('empty, missing, loading and failing', () => {
  const owner = `web-error-data-${crypto.randomUUID()}`

  beforeAll(async () => {
    await postIngest(server.url, owner, ndjson(sessionsFixture({ sessions: 3 })))
  })

  it('says so when there is nothing to show', async () => {
    const tab = await browser.open()
    const { page } = tab
    await page.goto(`${server.url}/#token=${await tokenFor(`nobody-${crypto.randomUUID()}`)}`)
    expect(await settled(page, 'usage')).toBe('empty')
    expect(await page.$eval('#usage-status', (s) => s.textContent)).toMatch(/^No usage between /)
    expect(await page.$eval('#usage-body', (b) => (b as HTMLElement).hidden)).toBe(true)
    await page.goto(`${server.url}/#/sessions`)
    expect(await settled(page, 'sessions')).toBe('empty')
    expect(await page.$eval('#sessions-status', (s) => s.textContent)).toBe(
      'No sessions yet: ingest some turns first.',
    )
    await tab.screenshot('sessions-empty')
    await page.close()
  })

  it('says when filters match nothing, and when a session does not exist', async () => {
    const tab = await browser.open()
    const { page } = tab
    await page.goto(`${server.url}/#token=${await tokenFor(owner)}`)
    await settled(page, 'usage')
    await page.goto(`${server.url}/#/sessions?q=no-such-text`)
    expect(await settled(page, 'sessions')).toBe('empty')
    expect(await page.$eval('#sessions-status', (s) => s.textContent)).toBe(
      'No session matches these filters.',
    )
    expect(
      await page.$eval('#sessions-form input[name="q"]', (i) => (i as HTMLInputElement).value),
    ).toBe('no-such-text')
    await page.goto(`${server.url}/#/session/codex/host-1/sess-000`) // sess-000 is claude-code's
    expect(await settled(page, 'session')).toBe('error')
    expect(await page.$eval('#session-status', (s) => s.textContent)).toBe(
      'No such session (or not one of yours).',
    )
    expect(await page.$$('#session-turns li')).toEqual([])
    await page.close()
  })

  it('shows a loading state while an answer is on its way', async () => {
    const tab = await browser.open()
    const { page } = tab
    await page.goto(`${server.url}/#token=${await tokenFor(owner)}`)
    await settled(page, 'usage')
    await page.setRequestInterception(true)
    const held: import('puppeteer-core').HTTPRequest[] = []
    page.on('request', (request) => {
      if (request.url().includes('/v1/sessions')) held.push(request)
      else void request.continue()
    })
    await page.goto(`${server.url}/#/sessions`)
    await page.waitForFunction(
      () => document.getElementById('sessions-status')?.dataset.state === 'loading',
    )
    expect(await page.$eval('#sessions-status', (s) => s.textContent)).toBe('Loading sessions…')
    expect(await page.$eval('#view-sessions', (v) => v.getAttribute('aria-busy'))).toBe('true')
    for (const request of held) await request.continue()
    page.removeAllListeners('request')
    await page.setRequestInterception(false)
    expect(await settled(page, 'sessions')).toBe('done')
    expect(await page.$$eval('#sessions-table tbody tr', (rows) => rows.length)).toBe(3)
    await page.close()
  })

  it('shows an error with a retry when the server stops answering, and recovers', async () => {
    const tab = await browser.open()
    const { page } = tab
    await page.goto(`${server.url}/#token=${await tokenFor(owner)}`)
    await settled(page, 'usage')
    // The API answers 503 from here on, as a database outage would.
    await page.setRequestInterception(true)
    let down = true
    page.on('request', (request) => {
      if (down && request.url().includes('/v1/')) {
        void request.respond({
          status: 503,
          contentType: 'application/problem+json',
          body: JSON.stringify({
            code: 'DATABASE_UNAVAILABLE',
            detail: 'The database did not answer.',
          }),
        })
      } else void request.continue()
    })
    await page.goto(`${server.url}/#/sessions`)
    expect(await settled(page, 'sessions')).toBe('error')
    expect(await page.$eval('#sessions-status', (s) => s.textContent)).toBe(
      'The database did not answer. Try again',
    )
    await tab.screenshot('sessions-error')
    down = false
    await page.click('#sessions-status button.retry')
    expect(await settled(page, 'sessions')).toBe('done')
    expect(await page.$$eval('#sessions-table tbody tr', (rows) => rows.length)).toBe(3)
    expect(tab.pageErrors).toEqual([])
    await page.close()
  })
})

describe('the page routes', () => {
  it('answers an unknown asset with a 404 problem and a wrong method with a 405', async () => {
    const missing = await fetch(`${server.url}/assets/nope.js`)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toContain('application/problem+json')
    const post = await fetch(`${server.url}/`, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    const head = await fetch(`${server.url}/`, { method: 'HEAD' })
    expect(head.status).toBe(200)
  })

  it('lets a browser revalidate an asset by its ETag', async () => {
    const html = await (await fetch(`${server.url}/`)).text()
    const path = /src="(\/assets\/app\.[0-9a-f]+\.js)"/.exec(html)?.[1]
    const first = await fetch(`${server.url}${path}`)
    expect(first.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    const again = await fetch(`${server.url}${path}`, {
      headers: { 'if-none-match': first.headers.get('etag') ?? '' },
    })
    expect(again.status).toBe(304)
  })
})
