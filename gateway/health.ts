import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { SERVICE_NAMES, type ServiceName } from '../common/contracts/index.js';
import { AppError, type Broker, ErrorCodes, type RpcClient, withTimeout } from '../common/index.js';
import { HttpError } from './errors.js';

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface HealthReport {
  status: 'ok' | 'failing';
  checks: Record<string, CheckResult>;
}

/** Anything that can run `SELECT 1` (a pg Pool). */
export interface Database {
  query(sql: string): Promise<unknown>;
}

/**
 * One cheap read per service. Any answer from the service counts, even a domain error (the
 * health probe is not logged in, so users answers "unauthorized"): it proves a worker took
 * the request and replied. Only silence, a lost broker or an internal fault is unhealthy.
 */
const PROBE: { readonly [S in ServiceName]: readonly [method: string, params: unknown] } = {
  catalog: ['listGenres', {}],
  users: ['verifyToken', { token: 'health-check' }],
  playlists: ['list', { ownerId: 'health-check' }],
  history: ['recent', { limit: 1 }],
  stats: ['topTracks', { window: 'hour', limit: 1 }],
  scrobbler: ['status', {}],
};
/** One per service of the system, in its order (a service without a probe does not compile). */
const PROBES = SERVICE_NAMES.map((service) => [service, ...PROBE[service]] as const);

const FAULTS = new Set<number>([ErrorCodes.TIMEOUT, ErrorCodes.UNAVAILABLE, ErrorCodes.INTERNAL]);

async function timed(fn: () => Promise<unknown>, timeoutMs: number, what: string): Promise<CheckResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    await withTimeout(fn(), timeoutMs, what);
    return { ok: true, ms: ms() };
  } catch (err) {
    if (err instanceof AppError && !FAULTS.has(err.code)) return { ok: true, ms: ms() };
    return { ok: false, ms: ms(), error: err instanceof Error ? err.message : String(err) };
  }
}

/** Broker connection, database, and every service answering; all checks run at once. */
export async function checkHealth(
  deps: { broker: Broker; rpc: RpcClient; db: Database },
  timeoutMs: number,
): Promise<HealthReport> {
  const checks: Array<[string, () => Promise<unknown>]> = [
    [
      'broker',
      async () => {
        if (!deps.broker.connected) throw new Error('not connected');
      },
    ],
    ['database', () => deps.db.query('SELECT 1')],
    ...PROBES.map(([service, method, params]): [string, () => Promise<unknown>] => [
      service,
      () => deps.rpc.call(service, method, params, { timeoutMs }),
    ]),
  ];
  const results = Object.fromEntries(
    await Promise.all(
      checks.map(async ([name, check]) => [name, await timed(check, timeoutMs, name)] as const),
    ),
  );
  const ok = Object.values(results).every((r) => r.ok);
  return { status: ok ? 'ok' : 'failing', checks: results };
}

/** How long one round of health checks answers every `/health` request. */
export const HEALTH_CACHE_MS = 1000;

/**
 * The last health report, made again at most once per `maxAgeMs` (requests meanwhile share
 * it, or the round under way): a flood of `/health` costs the services one probe a second.
 */
export class CachedHealth {
  private last: { at: number; report: Promise<HealthReport> } | undefined;

  constructor(
    private readonly check: () => Promise<HealthReport>,
    private readonly maxAgeMs: number,
  ) {}

  get(): Promise<HealthReport> {
    const now = performance.now();
    if (!this.last || now - this.last.at >= this.maxAgeMs) {
      this.last = { at: now, report: this.check() };
    }
    return this.last.report;
  }
}

/** Whether the request carries `Authorization: Bearer <OPS_TOKEN>` (never, while none is set). */
export function opsTokenGiven(req: Request, opsToken: string): boolean {
  if (!opsToken) return false;
  const given = /^Bearer +(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
  if (given === undefined) return false;
  const [a, b] = [Buffer.from(given), Buffer.from(opsToken)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The answer to an operator's page asked without the operations token. */
export function opsRefusal(opsToken: string): HttpError {
  return new HttpError(
    opsToken ? 401 : 403,
    ErrorCodes.UNAUTHORIZED,
    opsToken
      ? 'this needs the operations token (Authorization: Bearer <OPS_TOKEN>)'
      : 'metrics are served only when OPS_TOKEN is set, to requests that carry it',
  );
}
