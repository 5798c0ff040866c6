import {
  LIBRARIES_KNOWN_MAX,
  LIBRARY_GRANTS_MAX,
  type LibraryAccessList,
  librariesSeenBy,
  type ReaderLibraries,
} from '../../common/contracts/index.js';
import { type CallContext, NotFoundError, type Queryable, SharedAnswers } from '../../common/index.js';
import type { Filter } from './pages.js';

/**
 * The libraries a call may read: their ids, or null when it may read every library (then no
 * read filters at all, so a catalog whose libraries everyone sees reads as it did before
 * libraries existed).
 */
export type Scope = readonly number[] | null;

/** How long who sees which library is kept (grants made in another worker show within it). */
const ACCESS_TTL_MS = 5000;

/**
 * Who sees which library (`librariesSeenBy`, the rule, in common/contracts/catalog.ts): the
 * list of libraries and their grants is read once and kept briefly, and each call's scope is
 * worked out from it; this worker's own grant and library changes drop what it kept.
 *
 * A call with neither a caller nor a client address is a service's own (the users service
 * checking ids it is given, playlists naming their tracks): services see every library. The
 * gateway names the client's address on every call it makes for a client (gateway/auth.ts
 * `forClient`), and the RPC server believes caller and address only from the gateway
 * (common/rpc/wire.ts), so an anonymous client is never taken for a service.
 */
export class LibraryAccess {
  private kept = new SharedAnswers<'all', LibraryAccessList>(ACCESS_TTL_MS);

  constructor(private readonly db: Queryable) {}

  /**
   * The scope of a call: what its caller sees, narrowed to `only` when given. A library the
   * caller does not see (or that does not exist) is not found, as Subsonic players expect of
   * a `musicFolderId` they may not use.
   */
  async of(ctx: Pick<CallContext, 'caller' | 'clientAddress'>, only?: number): Promise<Scope> {
    if (isService(ctx)) return only === undefined ? null : [only];
    const { visible } = await this.seenBy(ctx.caller?.userId ?? '');
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
    const { seen } = await this.seenBy(ctx.caller?.userId ?? '');
    return only === undefined ? seen : seen.filter((id) => id === only);
  }

  /** What a user sees (`''`: an anonymous caller), for a service acting on their behalf. */
  async ofUser(userId: string): Promise<Scope> {
    return (await this.seenBy(userId)).visible;
  }

  /** Every library, removed ones included, with who sees it. */
  list(): Promise<LibraryAccessList> {
    return this.kept.get('all', async () => {
      const { rows } = await this.db.query<{
        id: number;
        removed: boolean;
        everyone: boolean;
        owner_id: string | null;
        user_ids: string[];
      }>(
        // Bounded as it is read: the live libraries and the most recently removed, each with
        // its grants (granting refuses a library's LIBRARY_GRANTS_MAX + 1st user).
        `SELECT l.id, l.removed_at IS NOT NULL AS removed, l.everyone, l.owner_id,
                coalesce((SELECT array_agg(g.user_id ORDER BY g.user_id) FROM (
                            SELECT user_id FROM library_grants WHERE library_id = l.id
                            ORDER BY user_id LIMIT ${LIBRARY_GRANTS_MAX}) g), '{}') AS user_ids
         FROM (SELECT * FROM libraries ORDER BY removed_at DESC NULLS FIRST, id
               LIMIT ${LIBRARIES_KNOWN_MAX}) l
         ORDER BY l.id`,
      );
      const libraries = rows.map((r) => ({
        id: r.id,
        removed: r.removed,
        everyone: r.everyone,
        ownerId: r.owner_id,
        userIds: r.user_ids,
      }));
      return { libraries };
    });
  }

  /** Forgets who sees what (after a change of libraries or grants). */
  invalidate(): void {
    this.kept = new SharedAnswers<'all', LibraryAccessList>(ACCESS_TTL_MS);
  }

  private async seenBy(userId: string): Promise<ReaderLibraries> {
    return librariesSeenBy(userId, await this.list());
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
