import { type CallContext, LruCache, NotFoundError, type Queryable } from '../../common/index.js';
import type { Filter } from './pages.js';

/**
 * The libraries a call may read: their ids, or null when it may read every library (then no
 * read filters at all, so a catalog whose libraries everyone sees reads as it did before
 * libraries existed).
 */
export type Scope = readonly number[] | null;

/**
 * What one user sees: the libraries (null: every one), and every library they see or saw,
 * removed ones included (what their removed tracks were is shown to them).
 */
interface Seen {
  visible: Scope;
  seen: readonly number[];
}

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
  private cache = new LruCache<string, Seen>(SCOPES_MAX, SCOPE_TTL_MS);

  constructor(private readonly db: Queryable) {}

  /**
   * The scope of a call: what its caller sees, narrowed to `only` when given. A library the
   * caller does not see (or that does not exist) is not found, as Subsonic players expect of
   * a `musicFolderId` they may not use.
   */
  async of(ctx: Pick<CallContext, 'caller' | 'clientAddress'>, only?: number): Promise<Scope> {
    if (isService(ctx)) return only === undefined ? null : [only];
    const { visible } = await this.load(ctx.caller?.userId ?? '');
    if (only === undefined) return visible;
    if (visible !== null && !visible.includes(only)) throw new NotFoundError(`no library ${only}`, { only });
    return [only];
  }

  /**
   * The libraries whose removed tracks a call may be told about: those its caller sees or saw
   * (removed libraries included), narrowed to `only`; null for a service's own call.
   */
  async removedOf(ctx: Pick<CallContext, 'caller' | 'clientAddress'>, only?: number): Promise<Scope> {
    if (isService(ctx)) return only === undefined ? null : [only];
    const { seen } = await this.load(ctx.caller?.userId ?? '');
    return only === undefined ? seen : seen.filter((id) => id === only);
  }

  /** What a user sees (`''`: an anonymous caller), for a service acting on their behalf. */
  async ofUser(userId: string): Promise<Scope> {
    return (await this.load(userId)).visible;
  }

  /** Forgets every caller's scope (after a change of libraries or grants). */
  invalidate(): void {
    this.cache = new LruCache<string, Seen>(SCOPES_MAX, SCOPE_TTL_MS);
  }

  private load(userId: string): Promise<Seen> {
    return this.cache.getOrLoad(userId, async () => {
      const { rows } = await this.db.query<{ visible: number[]; seen: number[]; total: number }>(
        `SELECT coalesce(array_agg(l.id ORDER BY l.id) FILTER (WHERE l.removed_at IS NULL AND seen), '{}') AS visible,
                coalesce(array_agg(l.id ORDER BY l.id) FILTER (WHERE seen), '{}') AS seen,
                count(*) FILTER (WHERE l.removed_at IS NULL)::int AS total
         FROM (SELECT l.id, l.removed_at, l.everyone OR l.owner_id = $1 OR EXISTS (
                 SELECT 1 FROM library_grants g WHERE g.user_id = $1 AND g.library_id = l.id) AS seen
               FROM libraries l) l`,
        [userId],
      );
      const { visible, seen, total } = rows[0]!;
      return { value: { visible: visible.length === total ? null : visible, seen } };
    });
  }
}

/** A call with neither a caller nor a client address: a service's own, which sees every library. */
const isService = (ctx: Pick<CallContext, 'caller' | 'clientAddress'>) =>
  !ctx.caller && ctx.clientAddress === undefined;

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
