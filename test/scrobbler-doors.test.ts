/**
 * Scrobbling through the doors people use: the gateway's REST routes and the terminal client,
 * with the real scrobbler service behind the gateway and a stand-in of ListenBrainz.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../common/contracts/index.js';
import type { ScrobbleStatus } from '../common/contracts/scrobbler.js';
import { dropSchema } from '../common/db/migrate.js';
import { type RunningService, startService } from '../common/service.js';
import { scrobblerService } from '../services/scrobbler/service.js';
import { eventually, silentLogger, testConfig, testPool } from './support/env.js';
import { type GatewayHarness, startTestGateway } from './support/gateway-harness.js';
import { ScrobbleStandIn } from './support/scrobble-standin.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'd00dfeed-0000-4000-8000-000000000001';

describe('scrobbling through REST and the terminal client', { timeout: 120_000 }, () => {
  let gw: GatewayHarness;
  let standIn: ScrobbleStandIn;
  let scrobbler: RunningService;
  let home: string;
  const schema = () => `${gw.ns}_scrobbler`;

  beforeAll(async () => {
    standIn = new ScrobbleStandIn();
    await standIn.listen();
    standIn.lbTokens.set(TOKEN, 'lb-name');
    gw = await startTestGateway();
    // The real scrobbler in place of the fake one, in the gateway's namespace.
    await gw.fakes.stop('scrobbler');
    scrobbler = await startService(scrobblerService, {
      system: SYSTEM,
      config: testConfig({
        listenbrainzUrl: standIn.listenbrainzUrl,
        scrobbleTimeoutMs: 1500,
        scrobbleBackoffMaxMs: 1000,
      }),
      logger: silentLogger,
      namespace: gw.ns,
      schema: schema(),
    });
    home = await mkdtemp(join(tmpdir(), 'scrobble-client-'));
  });

  afterAll(async () => {
    await scrobbler?.stop();
    await gw?.close();
    await standIn?.close();
    const pool = testPool(schema());
    await dropSchema(pool, schema());
    await pool.end();
    await rm(home, { recursive: true, force: true });
  });

  it('links, shows the state, sends a play posted to the gateway, refuses a bad token in words, unlinks', async () => {
    const { token } = await gw.fakes.session();
    const bad = await gw.request('/api/me/scrobbling/listenbrainz', {
      method: 'PUT',
      token,
      body: { token: 'nope' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { message: 'ListenBrainz refused this token' } });
    expect(
      (await gw.request('/api/me/scrobbling/myspace', { method: 'PUT', token, body: { token: TOKEN } }))
        .status,
    ).toBe(404);
    expect((await gw.request('/api/me/scrobbling')).status).toBe(401);

    const linked = await gw.request('/api/me/scrobbling/listenbrainz', {
      method: 'PUT',
      token,
      body: { token: TOKEN },
    });
    expect(linked.status).toBe(200);
    expect(linked.body).toMatchObject({ service: 'listenbrainz', account: 'lb-name', state: 'ok' });
    expect(linked.text).not.toContain(TOKEN);

    const played = await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't1' } });
    expect(played.status).toBe(202);
    await eventually(
      async () => {
        const s = (await gw.request('/api/me/scrobbling', { token })).body as ScrobbleStatus;
        return s.links[0]?.counts.sent === 1;
      },
      30_000,
      200,
    );
    expect(standIn.lbListens).toHaveLength(1);

    const earlier = await gw.request('/api/me/scrobbling/listenbrainz/earlier', { method: 'POST', token });
    expect(earlier.status).toBe(202);
    expect(earlier.body).toMatchObject({ state: 'reading' });

    standIn.lbTokens.delete(TOKEN);
    await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't2' } });
    await eventually(
      async () => {
        const s = (await gw.request('/api/me/scrobbling', { token })).body as ScrobbleStatus;
        return s.links[0]?.state === 'broken';
      },
      30_000,
      200,
    );
    const status = (await gw.request('/api/me/scrobbling', { token })).body as ScrobbleStatus;
    expect(status.links[0]?.problem).toBe('ListenBrainz refused your token');

    const gone = await gw.request('/api/me/scrobbling/listenbrainz', { method: 'DELETE', token });
    expect(gone.body).toEqual({ unlinked: true });
    expect(((await gw.request('/api/me/scrobbling', { token })).body as ScrobbleStatus).links).toEqual([]);
    expect(standIn.violations).toEqual([]);
  });

  it('links and shows ListenBrainz from the terminal client', async () => {
    standIn.lbTokens.set(TOKEN, 'lb-name');
    const { user } = await gw.fakes.session('clientuser');
    expect(user.username).toBe('clientuser');
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'client/main.ts', ...args], {
          cwd: ROOT,
          env: {
            ...process.env,
            GATEWAY_URL: gw.url,
            MUSIC_CLIENT_HOME: home,
            NO_COLOR: '1',
            LISTENBRAINZ_TOKEN: TOKEN,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const login = await run(['login', 'clientuser', 'password1']);
    expect(login.code, login.stderr).toBe(0);
    const linked = await run(['scrobble', 'link', 'listenbrainz']);
    expect(linked.code, linked.stderr).toBe(0);
    expect(linked.stdout).toContain('ListenBrainz linked as lb-name');
    expect(linked.stdout).not.toContain(TOKEN);
    standIn.lbTokens.delete(TOKEN);
    const unknown = await run(['scrobble', 'link', 'listenbrainz']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('ListenBrainz refused this token');
    const json = await run(['scrobble', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ links: [{ service: 'listenbrainz', state: 'ok' }] });
    const off = await run(['scrobble', 'unlink', 'listenbrainz']);
    expect(off.stdout).toContain('no scrobbling link');
  });
});
