// Status page: the header (gateway id, version, uptime, health) and the cards of current figures.
import { $, setText } from './dom.js';
import { fmtDuration, fmtInt, fmtRate, fmtTime } from './format.js';

export function renderHeader(o) {
  setText('gateway-id', o.gatewayId ?? '');
  setText('version', o.version ?? '–');
  setText('uptime', fmtDuration(o.health?.uptimeSeconds));
  const health = $('health');
  const status = o.health?.status ?? (o.health?.ok ? 'ok' : 'degraded');
  setText('health', status);
  // A warning (a slow disk: acknowledgements late, still sent) or a notice (a damaged store repaired
  // at start) leaves the gateway healthy, but not unremarked: amber, under the header, as
  // `gatehouse status` prints them. The fix of a healthy gateway is the warning's (what to do).
  const notice = o.health?.notice ?? '';
  const fix = o.health?.ok && o.health?.fix ? ` What to do: ${o.health.fix}.` : '';
  const warning = o.health?.warning ? `${o.health.warning}.${fix}` : '';
  health.className = `badge ${o.health?.ok ? (notice || warning ? 'warn' : 'ok') : 'bad'}`;
  setText('warning', warning);
  $('warning').hidden = warning === '';
  setText('notice', notice);
  $('notice').hidden = notice === '';
  renderHost(o.host);
  setText('updated', fmtTime(Date.now()));
  document.title = `${o.gatewayId ?? 'Gatehouse'} · ${fmtRate(o.current?.in ?? 0)} msgs/s · Gatehouse`;
}

export function renderCards(o) {
  setText('rate-in', fmtRate(o.current?.in ?? 0));
  setText('rate-out', fmtRate(o.current?.out ?? 0));
  setText('clients-count', fmtInt((o.clients ?? []).length));
  const links = o.links ?? [];
  const open = links.filter((l) => l.state === 'open').length;
  setText('links-count', links.length === 0 ? 'none' : `${open} / ${links.length} open`);
  $('links-count').parentElement.classList.toggle('warn', open < links.length);
  let backlog = 0;
  let failing = false;
  for (const s of o.streams ?? []) {
    for (const e of s.exporters ?? []) {
      backlog += e.backlog?.records ?? 0;
      if (e.state === 'backoff') failing = true;
    }
  }
  setText('backlog-total', fmtInt(backlog));
  $('backlog-total').parentElement.classList.toggle('warn', failing);
}

// The board the gateway runs on (runtime/host/health.ts): its hottest zone and the Raspberry Pi
// firmware's flags, red while under-voltage, amber once seen since boot or while throttled.
// Hidden where the gateway reads neither a temperature nor the flags (a PC without them, a container).
function renderHost(h) {
  const temps = h?.temperatures ?? [];
  const hasFlags = Boolean(h?.throttled) || (h?.underVoltage ?? null) !== null;
  $('host-item').hidden = !h || (temps.length === 0 && !hasFlags);
  if ($('host-item').hidden) return;
  const hottest = temps.length > 0 ? Math.max(...temps.map((t) => t.celsius)) : undefined;
  const flags = h.throttled?.text ?? (h.underVoltage ? 'under-voltage now' : 'none');
  const parts = [hottest === undefined ? '' : `${hottest.toFixed(1)} °C`, hasFlags ? (flags === 'none' ? 'power ok' : flags) : ''];
  setText('host', parts.filter((p) => p !== '').join(', '));
  const bad = h.underVoltage === true;
  $('host').className = `badge ${bad ? 'bad' : flags !== 'none' ? 'warn' : 'ok'}`;
  $('host').title = temps.map((t) => `${t.type}: ${t.celsius.toFixed(1)} °C`).join('\n');
}
