// qaf front-end entry point (an ES module, so deferred). htmx is a classic
// `defer` script placed before this one, so `window.htmx` already exists when
// this runs, and htmx reads its config only at DOMContentLoaded, after this.
import { initAll } from './vendor/govuk-frontend-6.6.0.min.js'

// Initialise GOV.UK Frontend components inside `scope`. Components that are
// already initialised throw InitError; that is expected when htmx hands us
// overlapping scopes, so ignore it.
function initGovuk (scope) {
  initAll({
    scope,
    onError (error, context) {
      if (error && error.name === 'InitError') return
      console.error(error, context)
    }
  })
}

initGovuk(document)

const htmx = window.htmx
if (htmx) {
  Object.assign(htmx.config, {
    // htmx 2 swaps only 2xx/3xx by default. Also swap 422 so a form
    // re-rendered with validation errors replaces the old one; other 4xx/5xx
    // are not swapped and raise htmx:responseError (shown below).
    responseHandling: [
      { code: '204', swap: false },
      { code: '[23]..', swap: true },
      { code: '422', swap: true },
      { code: '[45]..', swap: false, error: true }
    ],
    // Strict CSP: no inline <style> from htmx (indicator styles are in
    // app.css), no eval (hx-on, js: values and [filter] triggers are off),
    // no <script> execution in swapped content.
    includeIndicatorStyles: false,
    allowEval: false,
    allowScriptTags: false,
    // Never copy pages (personal data) into localStorage for history;
    // back/forward to an htmx-pushed URL reloads it from the server.
    historyCacheSize: 0,
    refreshOnHistoryMiss: true
  })
}

// New content from htmx (each swapped-in element gets htmx:load). Use the
// parent so a swapped-in element that is itself a component is included.
document.addEventListener('htmx:load', (event) => {
  const element = event.target
  initGovuk(element.parentElement || element)
})

// Tell the user when an htmx request fails (non-swapped 4xx/5xx, or network).
function showRequestError (message) {
  const box = document.getElementById('qaf-request-error')
  if (!box) return
  box.querySelector('.qaf-request-error__message').textContent = message
  box.hidden = false
  box.focus()
}

document.addEventListener('htmx:responseError', (event) => {
  const status = event.detail.xhr ? event.detail.xhr.status : ''
  showRequestError(`Sorry, there is a problem with the service (error ${status}). Try again, or reload the page.`)
})

document.addEventListener('htmx:sendError', () => {
  showRequestError('Sorry, the service could not be reached. Check your connection and try again.')
})

document.addEventListener('htmx:beforeRequest', () => {
  const box = document.getElementById('qaf-request-error')
  if (box) box.hidden = true
})
