// Status page: the tiny DOM builder every panel uses. Everything that comes from the gateway
// (topics, payloads, client ids, error messages) is untrusted device data: it only ever reaches
// the DOM as text nodes (textContent), never as parsed markup.
import { fmtInt } from './format.js';

export const $ = (id) => document.getElementById(id);

/** h('td', { class: 'x' }, 'text', child) — strings become text nodes (never parsed as HTML). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function setText(id, text) {
  const el = $(id);
  const s = String(text);
  // Only touch the DOM when the text changes: keeps aria-live announcements meaningful.
  if (el && el.textContent !== s) el.textContent = s;
}

export function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols }, text));
}

export function num(n) {
  return h('td', { class: 'num' }, fmtInt(n));
}
