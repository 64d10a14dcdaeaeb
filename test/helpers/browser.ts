/**
 * Real Chromium for the page's tests: Debian's /usr/bin/chromium driven by puppeteer-core (which
 * downloads nothing), headless, offline, with a fresh profile per launch. Every page records the
 * dialogs, console errors, uncaught errors and CSP violations it sees, so a test can assert that
 * nothing ran that should not have.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const screenshotDir = fileURLToPath(new URL('../screenshots/', import.meta.url))

export type TestBrowser = {
  browser: Browser
  /** A new tab (desktop size unless `phone`), watched for anything that ran or failed. */
  open(options?: { phone?: boolean }): Promise<WatchedPage>
  close(): Promise<void>
}

export type WatchedPage = {
  page: Page
  dialogs: string[]
  consoleErrors: string[]
  pageErrors: string[]
  /** Every request URL the page made, in order. */
  requests: string[]
  /** CSP violations reported in the page (blocked URI and directive). */
  violations(): Promise<string[]>
  /** Save a PNG of the page's top (up to 3000 CSS pixels tall) under test/screenshots/. */
  screenshot(name: string): Promise<void>
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'tributary-chromium-'))
  const browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    // puppeteer's own default flags plus these; the profile is always a fresh folder.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
    env: { ...process.env, TZ: 'UTC' },
  })
  mkdirSync(screenshotDir, { recursive: true })
  return {
    browser,
    async open(options = {}) {
      const page = await browser.newPage()
      await page.setViewport(
        options.phone === true
          ? { width: 375, height: 740, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
          : { width: 1280, height: 860 },
      )
      await page.emulateTimezone('UTC')
      const watched: WatchedPage = {
        page,
        dialogs: [],
        consoleErrors: [],
        pageErrors: [],
        requests: [],
        violations: () =>
          page.evaluate(
            () => (window as unknown as { __violations?: string[] }).__violations ?? [],
          ),
        async screenshot(name) {
          // A whole 600-turn transcript is tens of thousands of pixels: slow, and no one looks.
          const { width, height } = await page.evaluate(() => ({
            width: document.documentElement.clientWidth,
            height: document.documentElement.scrollHeight,
          }))
          await page.screenshot({
            path: join(screenshotDir, `${name}.png`),
            captureBeyondViewport: true,
            clip: { x: 0, y: 0, width, height: Math.min(height, 3000) },
          })
        },
      }
      page.on('dialog', (dialog) => {
        watched.dialogs.push(`${dialog.type()}: ${dialog.message()}`)
        void dialog.dismiss()
      })
      page.on('console', (message) => {
        if (message.type() === 'error') watched.consoleErrors.push(message.text())
      })
      page.on('pageerror', (error) => watched.pageErrors.push(String(error)))
      page.on('request', (request) => watched.requests.push(request.url()))
      await page.evaluateOnNewDocument(() => {
        const list: string[] = []
        ;(window as unknown as { __violations: string[] }).__violations = list
        document.addEventListener('securitypolicyviolation', (event) => {
          list.push(`${event.violatedDirective} ${event.blockedURI}`)
        })
      })
      return watched
    },
    async close() {
      await browser.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** Wait until the view is shown and its status is no longer loading. */
export async function settled(page: Page, view: string): Promise<string> {
  await page.waitForFunction(
    (name) => {
      const section = document.getElementById(`view-${name}`)
      return (
        section !== null &&
        !section.hidden &&
        section.getAttribute('aria-busy') !== 'true' &&
        section.querySelector('.status')?.getAttribute('data-state') !== 'loading'
      )
    },
    { timeout: 15_000 },
    view,
  )
  return page.evaluate(
    (name) => document.querySelector(`#view-${name} .status`)?.getAttribute('data-state') ?? '',
    view,
  )
}

/** The text of every element matching `selector`. */
export const texts = (page: Page, selector: string) =>
  page.$$eval(selector, (elements) => elements.map((el) => el.textContent ?? ''))
