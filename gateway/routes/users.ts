import { usersContract } from '../../common/contracts/index.js';
import { requireCaller } from '../auth.js';
import { contractParams, jsonBody, queryEnum } from '../http.js';
import type { RouteContext } from './context.js';

/** Registration, sessions (log in, log out) and the caller's own account. */
export function userRoutes({ router, services, auth }: RouteContext): void {
  const { users } = services;

  router.post('/api/users', async (req, res) => {
    const params = contractParams(usersContract, 'register', jsonBody(req));
    // Registrations are throttled per client address (the users service counts them).
    res.status(201).json(await users.call('register', params, { clientAddress: req.ip }));
  });

  router.post('/api/sessions', async (req, res) => {
    const params = contractParams(usersContract, 'login', jsonBody(req));
    res.status(201).json(await users.call('login', params, { clientAddress: req.ip }));
  });

  /** Log out: ends this session, or with `?all=true` every session of the caller. */
  router.delete('/api/sessions', async (req, res) => {
    const caller = requireCaller(res);
    const all = queryEnum(req, 'all', ['true', 'false'] as const) === 'true';
    const { revoked } = await users.call('logout', { all }, { caller });
    if (all) auth.forgetUser(caller.userId);
    if (res.locals.token) auth.forget(res.locals.token);
    res.json({ revoked });
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

  /** `{oldPassword, newPassword}`: every other session of the caller ends. */
  router.patch('/api/me/password', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(usersContract, 'changePassword', jsonBody(req));
    res.json(await users.call('changePassword', params, { caller, clientAddress: req.ip }));
  });
}
