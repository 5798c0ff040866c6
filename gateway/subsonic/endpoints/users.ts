import type { Account, ManagedLibrary } from '../../../common/contracts/index.js';
import { decodePassword, readCredentials } from '../auth.js';
import type { Call, Deps, Endpoint } from '../context.js';
import { SubsonicCodes, SubsonicError } from '../response.js';

const notAuthorized = (message: string) => new SubsonicError(SubsonicCodes.NOT_AUTHORIZED, message);

/**
 * A user as the API describes one. Only `adminRole` is a setting of this server; the other roles
 * say what every enabled account may do here (stream, download, playlists, share links, cover
 * art, its own settings and password), and a disabled account shows none of them.
 */
function userBody(user: Pick<Account, 'username' | 'admin' | 'disabled'>, folders: readonly number[]) {
  const enabled = !user.disabled;
  return {
    username: user.username,
    scrobblingEnabled: enabled,
    adminRole: user.admin,
    settingsRole: enabled,
    downloadRole: enabled,
    uploadRole: false,
    playlistRole: enabled,
    coverArtRole: enabled,
    commentRole: false,
    podcastRole: false,
    streamRole: enabled,
    jukeboxRole: false,
    shareRole: enabled,
    videoConversionRole: false,
    folder: [...folders],
  };
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Every library with who sees it (an administrator's call: the catalog checks that). */
const managed = (call: Call, deps: Deps) => deps.services.catalog.call('manageLibraries', {}, call.as);

/** The music folders a user sees: those open to everyone and those granted to them. */
const foldersOf = (userId: string, libraries: readonly ManagedLibrary[]) =>
  libraries.filter((l) => l.everyone || l.userIds.includes(userId)).map((l) => l.id);

/** The account named by `username` (an administrator's call: the users service checks that). */
const accountNamed = (call: Call, deps: Deps, username: string) =>
  deps.services.users.call('getUser', { username }, call.as);

/**
 * The Subsonic user calls. Administrators manage every account through the users service's
 * admin methods, which refuse anyone else (error 50); a user may read, and change the password
 * of, their own account only.
 */
export const userEndpoints: Record<string, Endpoint> = {
  getUser: async (call, deps) => {
    const { caller, params } = call;
    const username = params.string('username') || caller.username;
    if (same(username, caller.username)) {
      const mine = await deps.services.catalog.call('listLibraries', {}, call.as);
      return {
        user: userBody(
          { ...caller, disabled: false },
          mine.map((l) => l.id),
        ),
      };
    }
    if (!caller.admin) throw notAuthorized('you may only read your own account');
    const account = await accountNamed(call, deps, username);
    return { user: userBody(account, foldersOf(account.id, await managed(call, deps))) };
  },

  /** Every account, oldest first (at most 500: the API has no paging). */
  getUsers: async (call, deps) => {
    const page = await deps.services.users.call('listUsers', { limit: 500 }, call.as);
    const libraries = await managed(call, deps);
    return { users: { user: page.items.map((u) => userBody(u, foldersOf(u.id, libraries))) } };
  },

  /** `username`, `password` (or `enc:` hex), `adminRole`; the API's other fields are not kept here. */
  createUser: async (call, deps) => {
    const { params } = call;
    await deps.services.users.call(
      'createUser',
      {
        username: params.required('username'),
        password: decodePassword(params.required('password')),
        admin: params.bool('adminRole') ?? false,
      },
      call.as,
    );
    return {};
  },

  /** `username` with `password` and/or `adminRole`; other roles are fixed here and ignored. */
  updateUser: async (call, deps) => {
    const { params } = call;
    const account = await accountNamed(call, deps, params.required('username'));
    const password = params.string('password');
    await deps.services.users.call(
      'updateUser',
      {
        id: account.id,
        admin: params.bool('adminRole'),
        password: password ? decodePassword(password) : undefined,
      },
      call.as,
    );
    return {};
  },

  deleteUser: async (call, deps) => {
    const account = await accountNamed(call, deps, call.params.required('username'));
    await deps.services.users.call('deleteUser', { id: account.id }, call.as);
    return {};
  },

  /**
   * An administrator sets anyone's password (their sessions end). A user changes their own only,
   * and proves it with the current password: the request's own `p` (the users service checks it
   * as `PATCH /api/me/password` does); with a token or an API key there is nothing to check.
   */
  changePassword: async (call, deps) => {
    const { caller, params } = call;
    const username = params.required('username');
    const password = decodePassword(params.required('password'));
    if (caller.admin) {
      const account = await accountNamed(call, deps, username);
      await deps.services.users.call('updateUser', { id: account.id, password }, call.as);
      return {};
    }
    if (!same(username, caller.username)) throw notAuthorized('you may only change your own password');
    const credentials = readCredentials(params);
    if (!('password' in credentials)) {
      throw notAuthorized(
        'to change your own password, authenticate this request with your current password (p=), or use the web player',
      );
    }
    await deps.services.users.call(
      'changePassword',
      { oldPassword: credentials.password, newPassword: password },
      { ...call.as, clientAddress: call.req.ip },
    );
    return {};
  },
};
