import { usersContract } from '../../common/contracts/index.js';
import { requireCaller } from '../auth.js';
import { contractParams, jsonBody, paging, queryString } from '../http.js';
import type { RouteContext } from './context.js';

/**
 * User management for administrators. Who is one is the users service's check (its methods
 * are `admin`): anyone else gets its 403. A change that ends an account's sessions (disabling
 * it, a new password, deleting it) is forgotten by this gateway at once; the others stop
 * trusting it within their auth cache's ttl.
 */
export function adminRoutes({ router, services, auth }: RouteContext): void {
  const { users } = services;

  /** `?limit=&offset=` (a page, oldest first) and `?query=` (part of a username or display name). */
  router.get('/api/admin/users', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(usersContract, 'listUsers', {
      ...paging(req),
      query: queryString(req, 'query', 64),
    });
    res.json(await users.call('listUsers', params, { caller }));
  });

  router.post('/api/admin/users', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(usersContract, 'createUser', jsonBody(req));
    res.status(201).json(await users.call('createUser', params, { caller }));
  });

  router.get('/api/admin/users/:id', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await users.call('getUser', { id: req.params.id }, { caller }));
  });

  /** `{displayName?, admin?, disabled?, password?}`. */
  router.patch('/api/admin/users/:id', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(usersContract, 'updateUser', { ...jsonBody(req), id: req.params.id });
    const updated = await users.call('updateUser', params, { caller });
    if (updated.disabled || params.password !== undefined || params.admin !== undefined)
      auth.forgetUser(params.id);
    res.json(updated);
  });

  router.delete('/api/admin/users/:id', async (req, res) => {
    const caller = requireCaller(res);
    const answer = await users.call('deleteUser', { id: req.params.id }, { caller });
    auth.forgetUser(req.params.id);
    res.json(answer);
  });
}
