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

// The GOV.UK timeout warning (issue 15): two minutes before an unused
// session would end, a dialog offers to keep it; any request to the server
// (a page, an htmx update) starts the count again.
function timeoutWarning () {
  const dialog = document.getElementById('qaf-timeout')
  if (!dialog || typeof dialog.showModal !== 'function') return
  const idle = Number(dialog.dataset.idleSeconds) * 1000
  const warn = Number(dialog.dataset.warnSeconds) * 1000
  const count = dialog.querySelector('.qaf-timeout__count')
  let warnTimer, endTimer, tick
  function words (ms) {
    const seconds = Math.max(0, Math.ceil(ms / 1000))
    if (seconds >= 60) { const m = Math.ceil(seconds / 60); return `${m} minute${m === 1 ? '' : 's'}` }
    return `${seconds} second${seconds === 1 ? '' : 's'}`
  }
  function start () {
    clearTimeout(warnTimer); clearTimeout(endTimer); clearInterval(tick)
    const endsAt = Date.now() + idle
    warnTimer = setTimeout(() => {
      count.textContent = words(endsAt - Date.now())
      dialog.showModal()
      tick = setInterval(() => { count.textContent = words(endsAt - Date.now()) }, 15000)
    }, Math.max(0, idle - warn))
    endTimer = setTimeout(() => { window.location.href = '/login' }, idle + 1000)
  }
  dialog.querySelector('.qaf-timeout__stay').addEventListener('submit', async (event) => {
    event.preventDefault()
    const form = event.target
    const response = await fetch(form.action, {
      method: 'POST',
      headers: { 'hx-request': 'true', 'x-csrftoken': form.elements._csrf_token.value },
      credentials: 'same-origin'
    })
    if (response.ok) { dialog.close(); start() } else { window.location.href = '/login' }
  })
  document.addEventListener('htmx:afterRequest', start)
  start()
}
timeoutWarning()
