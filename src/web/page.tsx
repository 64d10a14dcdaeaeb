/**
 * The page's server-rendered shell: every view's static markup (forms, headings, empty
 * containers), hidden until the client script shows one. No inline script or style: the
 * Content-Security-Policy allows only the hashed files under /assets/.
 */
import type { Child } from 'hono/jsx'
import type { Asset } from './assets.gen'

type Assets = { script: Asset; stylesheet: Asset }

function View(props: { id: string; title: string; children?: Child }) {
  return (
    <section id={`view-${props.id}`} class="view" hidden aria-labelledby={`${props.id}-title`}>
      <h1 id={`${props.id}-title`} tabindex={-1}>
        {props.title}
      </h1>
      {props.children}
    </section>
  )
}

/** Where a view says it is loading, found nothing, or failed (role=status is announced). */
function Status(props: { id: string }) {
  return <p id={props.id} class="status" role="status" aria-live="polite" />
}

function SignIn() {
  return (
    <View id="signin" title="Sign in">
      <p id="signin-message" class="notice" role="alert" hidden />
      <form id="signin-form" class="signin" autocomplete="off">
        <label for="signin-token">Bearer token</label>
        <input
          id="signin-token"
          name="token"
          type="password"
          required
          spellcheck={false}
          autocomplete="off"
          placeholder="eyJhbGciOi…"
        />
        <button type="submit">Sign in</button>
      </form>
      <p class="hint">
        The token stays in this tab only (sessionStorage) and is sent to this server alone.{' '}
        <code>npm start</code> prints a ready link; <code>npm run -s token -- --sub you</code> signs
        another.
      </p>
    </View>
  )
}

function Usage() {
  return (
    <View id="usage" title="Usage">
      <form id="usage-form" class="filters">
        <label>
          From <input type="date" name="from" required />
        </label>
        <label>
          To <input type="date" name="to" required />
        </label>
        <button type="submit">Show</button>
        <span class="presets">
          <button type="button" data-days="7">
            7 days
          </button>
          <button type="button" data-days="30">
            30 days
          </button>
          <button type="button" data-days="90">
            90 days
          </button>
        </span>
      </form>
      <Status id="usage-status" />
      <div id="usage-body" hidden>
        <dl id="usage-totals" class="totals" />
        <figure class="chart">
          <figcaption>Tokens per day (in and out)</figcaption>
          <div id="usage-tokens-chart" />
        </figure>
        <figure class="chart">
          <figcaption>Cost per day (USD)</figcaption>
          <div id="usage-cost-chart" />
        </figure>
        <details class="raw">
          <summary>Per day, as a table</summary>
          <div id="usage-days" class="scroll" />
        </details>
        <div class="split">
          <section aria-labelledby="usage-models-title">
            <h2 id="usage-models-title">By model</h2>
            <div id="usage-models" class="scroll" />
          </section>
          <section aria-labelledby="usage-tools-title">
            <h2 id="usage-tools-title">By tool</h2>
            <div id="usage-tools" class="scroll" />
          </section>
        </div>
      </div>
    </View>
  )
}

function Sessions() {
  return (
    <View id="sessions" title="Sessions">
      <form id="sessions-form" class="filters">
        <label>
          Tool <input name="tool" list="known-tools" autocomplete="off" />
        </label>
        <label>
          Host <input name="host" list="known-hosts" autocomplete="off" />
        </label>
        <label>
          Since <input type="date" name="since" />
        </label>
        <label>
          Until <input type="date" name="until" />
        </label>
        <label class="wide">
          Text <input type="search" name="q" placeholder="working dir or session id" />
        </label>
        <button type="submit">Filter</button>
        <button type="reset">Clear</button>
        <datalist id="known-tools" />
        <datalist id="known-hosts" />
      </form>
      <Status id="sessions-status" />
      <div class="scroll">
        <table id="sessions-table" class="sessions" hidden>
          <caption class="visually-hidden">
            Sessions, newest activity first; column buttons sort the loaded rows
          </caption>
          <thead>
            <tr>
              <th scope="col" data-key="ended_at" aria-sort="descending">
                <button type="button">Last activity</button>
              </th>
              <th scope="col" data-key="title">
                <button type="button">Session</button>
              </th>
              <th scope="col" data-key="tool">
                <button type="button">Tool</button>
              </th>
              <th scope="col" data-key="host">
                <button type="button">Host</button>
              </th>
              <th scope="col" data-key="turns" class="num">
                <button type="button">Turns</button>
              </th>
              <th scope="col" data-key="tokens_in" class="num">
                <button type="button">Tokens in</button>
              </th>
              <th scope="col" data-key="tokens_out" class="num">
                <button type="button">Tokens out</button>
              </th>
              <th scope="col" data-key="cost_usd" class="num">
                <button type="button">Cost</button>
              </th>
            </tr>
          </thead>
          <tbody />
        </table>
      </div>
      <p class="more">
        <button id="sessions-more" type="button" hidden>
          More sessions
        </button>
      </p>
    </View>
  )
}

function Transcript() {
  return (
    <View id="session" title="Session">
      <p>
        <a href="#/sessions" id="session-back">
          ← All sessions
        </a>
      </p>
      <dl id="session-facts" class="facts" />
      <Status id="session-status" />
      <ol id="session-turns" class="turns" />
      <dl id="session-footer" class="totals" hidden />
    </View>
  )
}

export function Page(props: { assets: Assets }) {
  const { script, stylesheet } = props.assets
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>tributary</title>
        <link rel="icon" href="data:," />
        <link
          rel="stylesheet"
          href={`/assets/${stylesheet.name}`}
          integrity={stylesheet.integrity}
        />
        <script type="module" src={`/assets/${script.name}`} integrity={script.integrity} />
      </head>
      <body>
        <header class="bar">
          <a class="brand" href="#/usage">
            tributary
          </a>
          <nav id="nav" aria-label="Views" hidden>
            <a href="#/usage" data-view="usage">
              Usage
            </a>
            <a href="#/sessions" data-view="sessions">
              Sessions
            </a>
          </nav>
          <span id="who" class="who" />
          <button id="signout" type="button" hidden>
            Sign out
          </button>
        </header>
        <main id="main">
          <noscript>
            <p class="notice">This page needs JavaScript (one script from this server).</p>
          </noscript>
          <p id="boot" class="status">
            Loading…
          </p>
          <SignIn />
          <Usage />
          <Sessions />
          <Transcript />
        </main>
      </body>
    </html>
  )
}
