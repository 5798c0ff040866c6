import { usersContract } from '../../common/contracts/users.js';
import { requireCaller } from '../auth.js';
import { contractParams, jsonBody } from '../http.js';
import type { RouteContext } from './context.js';

/** Registration, login and the caller's own profile. */
export function userRoutes({ router, services }: RouteContext): void {
  const { users } = services;

  router.post('/api/users', async (req, res) => {
    const params = contractParams(usersContract, 'register', jsonBody(req));
    res.status(201).json(await users.call('register', params));
  });

  router.post('/api/sessions', async (req, res) => {
    const params = contractParams(usersContract, 'login', jsonBody(req));
    res.status(201).json(await users.call('login', params));
  });

  router.get('/api/me', async (_req, res) => {
    const caller = requireCaller(res);
    res.json(await users.call('me', {}, { caller }));
  });

  router.patch('/api/me', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(usersContract, 'updateProfile', jsonBody(req));
    res.json(await users.call('updateProfile', params, { caller }));
  });
}
