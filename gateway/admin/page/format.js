// Status page: how figures read (rates, counts, bytes, durations, local times). Pure functions of
// their argument; '–' stands for a value the gateway did not send.

export function fmtRate(n) {
  if (!Number.isFinite(n)) return '–';
  if (n >= 100) return Math.round(n).toLocaleString();
  return n.toFixed(n >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString() : '–';
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n >= 10 ? 0 : 1)} ${units[i]}`;
}

export function fmtDuration(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** A run time in ms: '0.4 ms', '120 ms', '2.5 s', then as fmtDuration. */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return fmtDuration(ms / 1000);
}

/** Epoch ms or ISO string -> local time (with the date when not today). */
export function fmtTime(at) {
  if (at === undefined || at === null) return '–';
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '–';
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

/** An exporter's destination: its target alone when that already starts with the kind ("nats:nats://hub/GH"), else kind and target ("file /data/export"). */
export function fmtDestination(d) {
  const kind = d?.kind ?? '?';
  const target = d?.target ?? '';
  return target.startsWith(`${kind}:`) ? target : `${kind} ${target}`;
}
