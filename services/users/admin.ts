import { Events, type UsersContract } from '../../common/contracts/index.js';
import {
  ConflictError,
  enqueueEvent,
  ForbiddenError,
  type Handlers,
  NotFoundError,
  type Pool,
  type Queryable,
  type UserCallContext,
  withTransaction,
} from '../../common/index.js';
import type { PasswordSealer } from './password.js';
import { revokeSessions } from './sessions.js';
import {
  accountOf,
  countAdmins,
  createUser,
  deleteAccount,
  findById,
  findByUsername,
  listAccounts,
  lockRoles,
  setPassword,
  updateAccount,
} from './store.js';

type AdminHandlers = Pick<
  Handlers<UsersContract>,
  'listUsers' | 'getUser' | 'createUser' | 'updateUser' | 'deleteUser'
>;

export interface AdminDeps {
  pool: Pool;
  sealer: PasswordSealer;
  /** The password's hash, through the worker's bounded hash queue. */
  makeHash: (password: string) => Promise<string>;
  /** Throws the password policy's refusal. */
  checkNewPassword: (password: string, username: string) => void;
}

/**
 * The administrators' methods. The RPC server lets only callers the gateway says are admins in;
 * each method also asks the database, so a caller demoted a moment ago (whose credentials the
 * gateway still trusts for its cache's ttl) is refused here at once. Changes of role run under
 * the roles lock (store.ts), so two admins demoting each other at once cannot leave none.
 */
export function adminHandlers({ pool, sealer, makeHash, checkNewPassword }: AdminDeps): AdminHandlers {
  async function stillAdmin(db: Queryable, ctx: UserCallContext): Promise<void> {
    const me = await findById(db, ctx.caller.userId);
    if (!me?.admin || me.disabled) throw new ForbiddenError('this is for administrators only');
  }

  const lastAdmin = () =>
    new ConflictError('this is the last administrator: make another one first', { field: 'admin' });

  return {
    async listUsers({ limit, offset, query }, ctx) {
      await stillAdmin(pool, ctx);
      return { ...(await listAccounts(pool, { limit, offset, query })), limit, offset };
    },

    async getUser(params, ctx) {
      await stillAdmin(pool, ctx);
      const found =
        'id' in params ? await findById(pool, params.id) : await findByUsername(pool, params.username);
      if (!found) throw new NotFoundError(`no user ${'id' in params ? params.id : `"${params.username}"`}`);
      return accountOf(found);
    },

    async createUser({ username, password, displayName, admin }, ctx) {
      await stillAdmin(pool, ctx);
      checkNewPassword(password, username);
      const taken = () => new ConflictError(`username "${username}" is taken`, { field: 'username' });
      if (await findByUsername(pool, username)) throw taken();
      const made = await createUser(pool, username, password, sealer, makeHash, admin ? 'admin' : 'user');
      if (!made) throw taken();
      const account = displayName ? ((await updateAccount(pool, made.id, { displayName })) ?? made) : made;
      ctx.log.info(
        { userId: account.id, username, admin, by: ctx.caller.userId },
        'user created by an admin',
      );
      return account;
    },

    async updateUser({ id, password, ...changes }, ctx) {
      const self = id === ctx.caller.userId;
      if (self && (changes.admin === false || changes.disabled === true))
        throw new ForbiddenError('an administrator cannot demote or disable themselves');
      const target = await findById(pool, id);
      if (!target) throw new NotFoundError(`no user ${id}`);
      if (password !== undefined) checkNewPassword(password, target.user.username);
      // Hashed before the transaction: the roles lock is not held across scrypt's work.
      const sealed =
        password === undefined
          ? undefined
          : { hash: await makeHash(password), secret: sealer.seal(password, id) };
      const result = await withTransaction(pool, async (db) => {
        await lockRoles(db);
        await stillAdmin(db, ctx);
        const before = await findById(db, id);
        if (!before) throw new NotFoundError(`no user ${id}`);
        const wasAdmin = before.admin && !before.disabled;
        const staysAdmin = (changes.admin ?? before.admin) && !(changes.disabled ?? before.disabled);
        if (wasAdmin && !staysAdmin && (await countAdmins(db)) <= 1) throw lastAdmin();
        const account = await updateAccount(db, id, changes);
        if (!account) throw new NotFoundError(`no user ${id}`);
        if (sealed) await setPassword(db, id, sealed.hash, sealed.secret);
        // A new password or disabling ends every session (enabling again revives none of them).
        const ends = sealed !== undefined || (changes.disabled === true && !before.disabled);
        const revokedSessions = ends ? await revokeSessions(db, id) : 0;
        return { ...account, revokedSessions };
      });
      ctx.log.info(
        {
          userId: id,
          by: ctx.caller.userId,
          admin: changes.admin,
          disabled: changes.disabled,
          passwordReset: password !== undefined,
          revokedSessions: result.revokedSessions,
        },
        'user changed by an admin',
      );
      return result;
    },

    async deleteUser({ id }, ctx) {
      if (id === ctx.caller.userId) throw new ForbiddenError('an administrator cannot delete themselves');
      await withTransaction(pool, async (db) => {
        await lockRoles(db);
        await stillAdmin(db, ctx);
        const target = await findById(db, id);
        if (!target) throw new NotFoundError(`no user ${id}`);
        if (target.admin && !target.disabled && (await countAdmins(db)) <= 1) throw lastAdmin();
        await deleteAccount(db, id);
        // With the deletion, or not at all: the catalog drops the account's library grants.
        await enqueueEvent(db, Events.userDeleted, { userId: id });
      });
      ctx.log.info({ userId: id, by: ctx.caller.userId }, 'user deleted by an admin');
      return { deleted: true };
    },
  };
}
