/**
 * The dashboard's one script, inlined into every page (no build step, nothing fetched): it
 *   - listens to /events (server-sent events from the controller's own watches) and, when the
 *     page's App (or any App, on the list) changes, fetches the page's <main> again;
 *   - counts bake timers down (display only: no request);
 *   - filters the Apps table;
 *   - sends approve, pause, resume and abort, each after a confirmation, with the bearer token
 *     the user gave (sessionStorage, this tab only) in the Authorization header.
 */
export const CLIENT_SCRIPT = String.raw`
(() => {
  'use strict';
  const page = document.body.dataset.page;
  const main = document.getElementById('main');
  const live = document.getElementById('live');
  const flash = document.getElementById('flash');
  const TOKEN = 'kgitops-token';

  function filter() {
    const input = document.getElementById('filter');
    if (!input) return;
    const q = input.value.trim().toLowerCase();
    for (const row of document.querySelectorAll('#apps tbody tr[data-filter]')) row.hidden = !!q && !row.dataset.filter.includes(q);
  }

  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-countdown]')) {
      const left = Math.max(0, Math.round((Date.parse(el.dataset.countdown) - now) / 1000));
      el.textContent = left > 0 ? 'in ' + (left >= 60 ? Math.floor(left / 60) + 'm' + String(left % 60).padStart(2, '0') + 's' : left + 's') : 'now';
    }
  }

  let pending = false;
  let again = false;
  async function refresh() {
    if (pending) { again = true; return; }
    pending = true;
    try {
      const res = await fetch(location.pathname, { headers: { 'X-Fragment': 'main' } });
      if (res.ok) {
        const html = await res.text();
        // Keyboard users keep their place across a live refresh: the focused control is found
        // again by what it is (its id, or its action and target), else by its position. It is
        // read only now, after the fetch: a Tab pressed while the fetch was under way counts.
        const FOCUSABLE = 'a[href], button, input, summary, [tabindex]';
        const active = document.activeElement;
        const inMain = active && active !== document.body && main.contains(active);
        const keyOf = (el) => el.id || [el.tagName, el.dataset.action, el.dataset.app, el.dataset.workload, el.dataset.wave, el.getAttribute('href'), el.textContent.trim().slice(0, 60)].join('|');
        const focusKey = inMain ? keyOf(active) : undefined;
        const focusIndex = inMain ? Array.from(main.querySelectorAll(FOCUSABLE)).indexOf(active) : -1;
        const value = document.getElementById('filter') ? document.getElementById('filter').value : '';
        main.innerHTML = html;
        const input = document.getElementById('filter');
        if (input) input.value = value;
        if (focusKey !== undefined) {
          const all = Array.from(main.querySelectorAll(FOCUSABLE));
          const target = all.find((el) => keyOf(el) === focusKey) || all[Math.min(focusIndex, all.length - 1)];
          if (target) target.focus({ preventScroll: true });
        }
        filter();
        tick();
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
      }
    } finally {
      pending = false;
      if (again) { again = false; setTimeout(refresh, 100); }
    }
  }

  if (window.EventSource) {
    const events = new EventSource('/events');
    events.addEventListener('open', () => { live.textContent = 'live'; });
    events.addEventListener('error', () => { live.textContent = 'reconnecting...'; });
    events.addEventListener('app', (e) => {
      const key = JSON.parse(e.data).key;
      if (page === 'apps' || page === key) refresh();
    });
  }

  document.addEventListener('input', (e) => { if (e.target && e.target.id === 'filter') filter(); });
  const form = document.getElementById('token-form');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = document.getElementById('token').value.trim();
    if (v) sessionStorage.setItem(TOKEN, v);
    document.getElementById('token').value = '';
    flash.textContent = v ? 'Token set for this tab.' : '';
    // Off loopback, reading needs the token too: a session cookie for this server (never sent
    // with writes, which carry the Authorization header).
    if (v) fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: v }) })
      .then((r) => {
        if (!r.ok) flash.textContent = 'The cluster does not accept this token.';
        else if (page === 'error') location.reload();
      }).catch(() => {});
  });
  document.getElementById('token-clear').addEventListener('click', () => { sessionStorage.removeItem(TOKEN); flash.textContent = 'Token forgotten.'; });

  document.addEventListener('click', async (e) => {
    const b = e.target && e.target.closest && e.target.closest('button[data-action]');
    if (!b) return;
    if (!window.confirm(b.dataset.confirm)) return;
    const token = sessionStorage.getItem(TOKEN);
    b.disabled = true;
    try {
      const res = await fetch('/api/release-commands', {
        method: 'POST',
        headers: Object.assign({ 'Content-Type': 'application/json' }, token ? { Authorization: 'Bearer ' + token } : {}),
        body: JSON.stringify(b.dataset.fleet
          ? { app: b.dataset.app, fleet: true, action: b.dataset.action, wave: Number(b.dataset.wave) }
          : { app: b.dataset.app, workload: JSON.parse(b.dataset.workload), action: b.dataset.action, step: Number(b.dataset.step) }),
      });
      const body = await res.json().catch(() => ({}));
      flash.textContent = res.ok ? body.message : 'Refused (' + res.status + '): ' + (body.error || res.statusText) + (body.hint ? ' ' + body.hint : '');
      flash.className = res.ok ? 's-ok' : 'error';
    } catch (err) {
      flash.textContent = 'Could not reach the controller: ' + err.message;
      flash.className = 'error';
    } finally {
      b.disabled = false;
    }
  });

  filter();
  tick();
  setInterval(tick, 1000);
})();
`;
