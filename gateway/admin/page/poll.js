// Status page: fetching. Polls /api/overview once a second while the tab is visible, never two at
// once and each with a timeout; asks for the admin token on a 401; says when the gateway is
// unreachable; and wires the controls that stop and restart the polling (tab visibility, Pause,
// the token form).
import { $ } from './dom.js';
import { fmtTime } from './format.js';

const POLL_MS = 1000;
const FETCH_TIMEOUT_MS = 4000;
const TOKEN_KEY = 'gatehouse.adminToken';

let timer;
let inFlight = false;
let paused = false;
let failingSince;
let lastOkAt;
/** Called with each overview the gateway answers (set once, by startPolling). */
let render = () => {};

function banner(text) {
  const b = $('banner');
  if (text) {
    if (b.textContent !== text) b.textContent = text;
    b.hidden = false;
  } else b.hidden = true;
  document.body.classList.toggle('stale', Boolean(text));
}

function askToken(message) {
  const form = $('token-form');
  form.hidden = false;
  $('main').hidden = true;
  banner(message);
  $('token-input').focus();
}

async function poll() {
  if (inFlight) return;
  inFlight = true;
  const ac = new AbortController();
  const abortTimer = setTimeout(() => ac.abort(), FETCH_TIMEOUT_MS);
  /** A token was entered while this poll ran: poll again with it at once. */
  let tokenEntered = false;
  try {
    const headers = { accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch('/api/overview', { headers, cache: 'no-store', signal: ac.signal });
    if (res.status === 401) {
      // The refusal is of the token this poll sent. One entered since (its own poll was skipped,
      // this one being in flight) is not forgotten with it: it used to be, and asked for again.
      if (sessionStorage.getItem(TOKEN_KEY) !== token) {
        tokenEntered = true;
        return;
      }
      sessionStorage.removeItem(TOKEN_KEY);
      askToken(token ? 'The admin token was refused: enter it again.' : 'This gateway requires its admin token.');
      return; // no rescheduling until a token is entered
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const overview = await res.json();
    failingSince = undefined;
    lastOkAt = Date.now();
    banner('');
    render(overview);
  } catch (err) {
    failingSince ??= Date.now();
    const why = err && err.name === 'AbortError' ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s` : String(err?.message ? err.message : err);
    banner(
      `Gateway unreachable since ${fmtTime(failingSince)} (${why}). ${lastOkAt ? `Figures below are from ${fmtTime(lastOkAt)}` : 'No figures yet'}; retrying every ${POLL_MS / 1000} s.`,
    );
  } finally {
    clearTimeout(abortTimer);
    inFlight = false;
    if (tokenEntered) void poll();
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = undefined;
  if (paused || document.hidden) return;
  timer = setTimeout(poll, POLL_MS);
}

/** Wire the controls and poll now; `onOverview` renders each answer. Call once, at page load. */
export function startPolling(onOverview) {
  render = onOverview;

  document.addEventListener('visibilitychange', () => {
    // Stop polling a hidden tab (phones, background tabs); catch up at once when it shows again.
    if (document.hidden) {
      clearTimeout(timer);
      timer = undefined;
    } else if (!paused && $('token-form').hidden) void poll();
  });

  $('pause').addEventListener('click', () => {
    paused = !paused;
    $('pause').setAttribute('aria-pressed', String(paused));
    $('pause').textContent = paused ? 'Resume' : 'Pause';
    if (paused) clearTimeout(timer);
    else void poll();
  });

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = $('token-input').value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $('token-input').value = '';
    $('token-form').hidden = true;
    $('main').hidden = false;
    banner('');
    void poll();
  });

  void poll();
}
