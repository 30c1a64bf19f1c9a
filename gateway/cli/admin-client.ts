// Small client of the running gateway's admin API, for CLI commands (streams, rules list/apply).
import { loadConfig } from '../config/index.js';
import { ERROR_CATALOGUE, GatehouseError, type ErrorCode } from '../../core/errors.js';

export interface AdminTarget {
  url: string;
  token?: string;
}

/**
 * --admin URL wins; else the admin address of --config; else the default. The token: --token, else
 * the GATEHOUSE_ADMIN_TOKEN environment variable, else admin.token of --config.
 */
export async function resolveAdmin(adminUrl: string | undefined, configFile: string | undefined, token?: string): Promise<AdminTarget> {
  const envToken = token ?? process.env.GATEHOUSE_ADMIN_TOKEN;
  if (adminUrl) return { url: adminUrl.replace(/\/$/, ''), ...(envToken ? { token: envToken } : {}) };
  const config = await loadConfig(configFile);
  const host = config.admin.host === '0.0.0.0' || config.admin.host === '::' ? '127.0.0.1' : config.admin.host;
  const t = envToken ?? config.admin.token;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${config.admin.port}`, ...(t ? { token: t } : {}) };
}

/** Request the admin API; statuses in `accept` (besides 2xx) return their body instead of throwing. */
export async function adminRequest(
  target: AdminTarget,
  method: string,
  path: string,
  body?: string | Buffer,
  contentType?: string,
  accept: number[] = [],
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
        ...(contentType ? { 'content-type': contentType } : {}),
      },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new GatehouseError(
      'GH_ADMIN_UNREACHABLE',
      `cannot reach the gateway's admin API at ${target.url}: ${(err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message}`,
      {
        hint: 'start the gateway (gatehouse start), or point at it with --admin http://HOST:PORT or --config FILE',
      },
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  if (!res.ok && !accept.includes(res.status)) {
    const e = (json as { error?: { code?: string; message?: string; hint?: string } }).error;
    // The gateway's own code when it gave one (401 is GH_ADMIN_UNAUTHORIZED, a refused rule set
    // the ruleset codes), so scripts see the cause, not a generic wrapper.
    const code = e?.code !== undefined && e.code in ERROR_CATALOGUE ? (e.code as ErrorCode) : 'GH_ADMIN_BAD_REQUEST';
    throw new GatehouseError(
      code,
      `admin API ${method} ${path} answered ${res.status}: ${e?.code ?? ''} ${e?.message ?? text}`.trim(),
      e?.hint ? { hint: e.hint } : {},
    );
  }
  return json;
}
