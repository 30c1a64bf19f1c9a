// Gatehouse status page: polls /api/overview once a second while the tab is visible and renders it.
// Plain browser ES modules, no framework, no external resource: this entry module draws every panel
// from each overview (poll.js fetches it) and redraws the chart when the window is resized. Device
// data only ever reaches the DOM as text (dom.js).
import { renderChart } from './chart.js';
import { renderClients, renderFiles, renderLinks } from './connections.js';
import { renderJobs } from './jobs.js';
import { startPolling } from './poll.js';
import { renderEvents, renderRules } from './rules-events.js';
import { renderSources } from './sources.js';
import { renderStreams } from './streams.js';
import { renderStarting } from './starting.js';
import { $ } from './dom.js';
import { renderCards, renderHeader } from './summary.js';

let lastOverview;

function render(o) {
  lastOverview = o;
  renderHeader(o);
  // A start waiting for disk space: its panel instead of the figures (there are none yet).
  const starting = renderStarting(o);
  if ($('token-form').hidden) $('main').hidden = starting;
  if (starting) return;
  renderCards(o);
  renderChart(o);
  renderStreams(o);
  renderRules(o);
  renderJobs(o);
  renderEvents(o);
  renderClients(o);
  renderLinks(o);
  renderSources(o);
  renderFiles(o);
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => lastOverview && renderChart(lastOverview), 150);
});

startPolling(render);
