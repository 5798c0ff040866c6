import type { CallContext, Queryable } from '../../common/index.js';
import { LruCache } from '../../common/lru.js';
import type { Filter } from './pages.js';

/**
 * The libraries a call may read: their ids, or null when it may read every library (then no
 * read filters at all, so a catalog whose libraries everyone sees reads as it did before
 * libraries existed).
 */
export type Scope = readonly number[] | null;

/** How long a user's visible libraries are kept, and for how many users (grants made in another worker show within it). */
const SCOPE_TTL_MS = 5000;
const SCOPES_MAX = 1000;

/**
 * Who sees which library: libraries marked `everyone` are seen by every caller (anonymous
 * ones included), the others by the users granted them and by their owner (who owns the
 * playlists of their playlist files). Looked up per caller and kept
 * briefly; this worker's own grant and library changes drop what it kept.
 *
 * A call with neither a caller nor a client address is a service's own (the users service
 * checking ids it is given, playlists naming their tracks): services see every library. The
 * gateway names the client's address on every call it makes for a client (gateway/auth.ts
 * `forClient`), and the RPC server believes caller and address only from the gateway
 * (common/rpc/wire.ts), so an anonymous client is never taken for a service.
 */
export class LibraryAccess {
  private cache = new LruCache<string, Scope>(SCOPES_MAX, SCOPE_TTL_MS);

  constructor(private readonly db: Queryable) {}

  /**
   * The scope of a call: what its caller sees, narrowed to `only` when given (a library the
   * caller does not see narrows to nothing).
   */
  async of(ctx: Pick<CallContext, 'caller' | 'clientAddress'>, only?: number): Promise<Scope> {
    if (!ctx.caller && ctx.clientAddress === undefined) return only === undefined ? null : [only];
    const visible = await this.ofUser(ctx.caller?.userId ?? '');
    if (only === undefined) return visible;
    return visible === null || visible.includes(only) ? [only] : [];
  }

  /** What a user sees (`''`: an anonymous caller), for a service acting on their behalf. */
  ofUser(userId: string): Promise<Scope> {
    return this.cache.getOrLoad(userId, async () => ({ value: await this.load(userId) }));
  }

  /** Forgets every caller's scope (after a change of libraries or grants). */
  invalidate(): void {
    this.cache = new LruCache<string, Scope>(SCOPES_MAX, SCOPE_TTL_MS);
  }

  private async load(userId: string): Promise<Scope> {
    const { rows } = await this.db.query<{ visible: number[]; total: number }>(
      `SELECT coalesce(array_agg(l.id ORDER BY l.id) FILTER (
                WHERE l.everyone OR l.owner_id = $1 OR EXISTS (
                  SELECT 1 FROM library_grants g WHERE g.user_id = $1 AND g.library_id = l.id)),
              '{}') AS visible,
              count(*)::int AS total
       FROM libraries l`,
      [userId],
    );
    const { visible, total } = rows[0]!;
    return visible.length === total ? null : visible;
  }
}

/**
 * The scope as a parameter of a query being built: appended to `params`, its placeholder
 * returned; null (no parameter) for a call that sees everything.
 */
export function scopeParam(scope: Scope, params: unknown[]): string | null {
  if (scope === null) return null;
  params.push(scope);
  return `$${params.length}::int[]`;
}

/** The condition that a row's library (`column`) is in scope: `true` for no scope. */
export function inScope(column: string, param: string | null): string {
  return param === null ? 'true' : `${column} = ANY(${param})`;
}

/** A listing filter with the scope's condition on `column` added. */
export function withScope(filter: Filter, column: string, scope: Scope): Filter {
  const params = [...filter.params];
  const param = scopeParam(scope, params);
  return param === null ? filter : { where: [...filter.where, inScope(column, param)], params };
}
