// The status page's end-to-end tests' rig: a folder for the gateway's config, data and the
// browser's profile, Debian's headless Chromium (playwright-core) on the page, and one cleanup after
// the test, in order: the MQTT client, the browser, the gateway (kill -9), then the folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { MqttClient } from 'mqtt';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { GatewayProcess } from './gateway-process.js';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What a status-page test holds; each part set by the test is ended after it. */
export interface PageRig {
  dir: string;
  client?: MqttClient;
  context?: BrowserContext;
  gw?: GatewayProcess;
  /** Run first at the cleanup (a publishing timer to stop). */
  before?: () => void;
}

/** A temp folder named `prefix`... and the cleanup of what the test puts in the rig. */
export async function pageRig(t: TestContext, prefix: string): Promise<PageRig> {
  const r: PageRig = { dir: await mkdtemp(join(tmpdir(), prefix)) };
  t.after(async () => {
    r.before?.();
    await r.client?.endAsync(true).catch(() => undefined);
    await r.context?.close().catch(() => undefined);
    await r.gw?.kill9().catch(() => undefined);
    await rm(r.dir, { recursive: true, force: true });
  });
  return r;
}

/** Debian's Chromium, headless, with a fresh profile in the rig's folder (closed after the test). */
export async function launchBrowser(r: PageRig): Promise<BrowserContext> {
  r.context = await chromium.launchPersistentContext(join(r.dir, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return r.context;
}

/** The browser's first tab, with the page errors it raises collected. */
export async function firstPage(context: BrowserContext): Promise<{ page: Page; pageErrors: string[] }> {
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return { page, pageErrors };
}

/** A browser on the rig's gateway's status page, loaded; the page errors collected from the start. */
export async function openStatusPage(r: PageRig): Promise<{ page: Page; pageErrors: string[] }> {
  if (!r.gw) throw new Error('openStatusPage: start the gateway first (r.gw)');
  const opened = await firstPage(await launchBrowser(r));
  await opened.page.goto(`${r.gw.adminUrl}/`, { waitUntil: 'load', timeout: 20_000 });
  return opened;
}
