/**
 * The terminal client, run as a child process the way people and scripts run it, against a
 * fake gateway that records what the client sent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { splitWords } from '../client/args.js';
import { complete } from '../client/repl.js';
import { eventually } from './support/env.js';
import { type FakeGateway, startFakeGateway } from './support/fake-gateway.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Each client run starts a node process (~0.5 s); a test runs up to a dozen, on a busy machine. */
const SLOW = 60_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let gateway: FakeGateway;
let home: string;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GATEWAY_URL: gateway.url,
    MUSIC_CLIENT_HOME: home,
    MUSIC_PLAYER: 'none',
    NO_COLOR: '1',
    ...extra,
  };
}

function launch(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'client/main.ts', ...args], {
    cwd: ROOT,
    env: env(extraEnv),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function finished(child: ChildProcess, input?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin!.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`client did not finish; stdout: ${stdout} stderr: ${stderr}`));
    }, 20_000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const client = (args: string[], extraEnv: Record<string, string> = {}, input?: string) =>
  finished(launch(args, extraEnv), input);

async function login(): Promise<void> {
  const r = await client(['login', 'demo', 'demo1234']);
  expect(r.code, r.stderr).toBe(0);
}

/** Fails unless the run failed with exactly one `error: ...` line and no stack trace. */
function expectOneLineError(r: Run, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const sent = (method: string, path: string) =>
  gateway.requests.filter((r) => r.method === method && r.path === path);

/** The plays the client keeps on disk until the gateway takes them. */
const unsentFiles = async () => (await readdir(join(home, 'unsent-plays')).catch(() => [])).sort();

beforeEach(async () => {
  gateway = await startFakeGateway();
  home = await mkdtemp(join(tmpdir(), 'music-client-'));
});

afterEach(async () => {
  await gateway.close();
  await rm(home, { recursive: true, force: true });
});

describe('login and session', { timeout: SLOW }, () => {
  it('logs in, keeps the token private to the user, and sends it on later commands', async () => {
    const r = await client(['login', 'demo', 'demo1234']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('logged in as demo');
    expect(sent('POST', '/api/sessions')[0]!.body).toEqual({ username: 'demo', password: 'demo1234' });

    const file = join(home, 'session.json');
    const saved = JSON.parse(await readFile(file, 'utf8'));
    expect(saved).toMatchObject({ gateway: gateway.url, token: 'tok-demo', user: { username: 'demo' } });
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const me = await client(['me', '--json']);
    expect(me.code, me.stderr).toBe(0);
    expect(JSON.parse(me.stdout).user.username).toBe('demo');
    expect(sent('GET', '/api/me')[0]!.authorization).toBe('Bearer tok-demo');
  });

  it('shows the listening report with bars, for a year by default or a month, and refuses bad periods', async () => {
    await login();
    const r = await client(['report', '--month', '2026-02']);
    expect(r.code, r.stderr).toBe(0);
    expect(sent('GET', '/api/me/report').at(-1)!.query).toMatchObject({ month: '2026-02' });
    expect(r.stdout).toContain('Your 2026-02');
    expect(r.stdout).toContain('47 minutes in 12 plays');
    expect(r.stdout).toMatch(/1\. Blue Hour — Ana Ray +█+ 8/);
    expect(r.stdout).toMatch(/2\. Low Tide — Ana Ray +█+▏? 4/);
    expect(r.stdout).toContain('3 days (2026-02-01 to 2026-02-03)');
    expect((await client(['report'])).code).toBe(0);
    expect(sent('GET', '/api/me/report').at(-1)!.query).toMatchObject({
      year: String(new Date().getUTCFullYear()),
    });
    expectOneLineError(await client(['report', '--month', '2026-13']), /--month must look like 2026-11/);
    expectOneLineError(await client(['report', '--year', '2026', '--month', '2026-01']), /not both/);
  });

  it('prints no token with --json', async () => {
    const r = await client(['login', 'demo', 'demo1234', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.user.username).toBe('demo');
    expect(r.stdout).not.toContain('tok-demo');
  });

  it('refuses a wrong password with one error line and a non-zero exit', async () => {
    const r = await client(['login', 'demo', 'wrong-password']);
    expectOneLineError(r, /invalid username or password/);
    expect(r.stdout).toBe('');
  });

  it('registers a new user and logs them in; a taken name is an error', async () => {
    const r = await client(['register', 'newbie', 'longenough1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('registered; logged in as newbie');
    expect(sent('POST', '/api/users')[0]!.body).toEqual({ username: 'newbie', password: 'longenough1' });
    expect(JSON.parse(await readFile(join(home, 'session.json'), 'utf8')).token).toBe('tok-newbie');

    expectOneLineError(await client(['register', 'demo', 'whatever123']), /username demo is taken/);
  });

  it('asks for a missing password only when someone can answer', async () => {
    expectOneLineError(await client(['login', 'demo']), /password is needed/);
    expect(sent('POST', '/api/sessions')).toHaveLength(0);
  });

  it('ends the session on the server at logout and forgets it, after which commands needing a login say so', async () => {
    await login();
    expect((await client(['logout'])).stdout.trim()).toBe('logged out');
    expect(sent('DELETE', '/api/sessions')).toHaveLength(1);
    const r = await client(['history']);
    expectOneLineError(r, /not logged in/);
    expect(sent('GET', '/api/me/history')).toHaveLength(0);
  });

  it('does not use a session saved for another gateway', async () => {
    await login();
    const other = await startFakeGateway();
    try {
      const r = await client(['history', '--gateway', other.url]);
      expectOneLineError(r, /not logged in/);
    } finally {
      await other.close();
    }
  });

  it('adds a hint when the gateway rejects the token', async () => {
    await writeFile(
      join(home, 'session.json'),
      JSON.stringify({
        gateway: gateway.url,
        token: 'tok-ghost',
        expiresAt: '2999-01-01T00:00:00Z',
        user: {},
      }),
    );
    expectOneLineError(await client(['playlists']), /authentication required \(log in with `login`\)/);
  });
});

describe('browsing', { timeout: SLOW }, () => {
  it('prints --json results that parse to exactly what the gateway returned', async () => {
    const r = await client(['search', 'blue', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.tracks.map((t: { id: string }) => t.id)).toEqual(['tr1', 'tr2']);
    expect(result.artists.map((a: { name: string }) => a.name)).toEqual(['Blue Lanterns']);
    expect(sent('GET', '/api/search')[0]!.query).toEqual({ q: 'blue' });
  });

  it('joins the words of a search, quoted or not', async () => {
    await client(['search', 'cobalt', 'morning']);
    await client(['search', 'blue lanterns']);
    expect(sent('GET', '/api/search').map((r) => r.query.q)).toEqual(['cobalt morning', 'blue lanterns']);
  });

  it('renders aligned tables with cut long titles', async () => {
    const r = await client(['tracks']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^#\s+id\s+title\s+artist\s+album\s+time\s+genre$/);
    const tableLines = lines.slice(0, 4);
    // Every column starts at the same offset on every line.
    for (const column of ['title', 'artist', 'album']) {
      const at = lines[0]!.indexOf(column);
      const cells = tableLines.slice(1).map((l) => l.slice(at, at + 3));
      expect(cells.every((c) => /^\S/.test(c))).toBe(true);
      expect(tableLines.slice(1).every((l) => l[at - 1] === ' ')).toBe(true);
    }
    // Durations are right-aligned: they all end where the header 'time' ends.
    const end = lines[0]!.indexOf('time') + 'time'.length;
    for (const l of tableLines.slice(1)) expect(l.slice(end - 4, end + 1)).toMatch(/^[\d:]{4} $/);
    expect(r.stdout).toContain('Harbour Lights at Dusk, Extended Versio…');
    expect(r.stdout).toContain('1:02:05');
    expect(lines.at(-1)).toBe('tracks 1-3 of 3');
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('passes --genre and paging to the gateway', async () => {
    const r = await client(['tracks', '--genre', 'ambient', '--limit', '5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).items.map((t: { id: string }) => t.id)).toEqual(['tr3']);
    expect(sent('GET', '/api/tracks')[0]!.query).toEqual({ genre: 'ambient', limit: '5', offset: '0' });
  });

  it('shows artists, an artist, and an album', async () => {
    const artists = await client(['artists']);
    expect(artists.stdout).toMatch(/ar1\s+Blue Lanterns\s+1/);
    const artist = await client(['artist', 'ar2']);
    expect(artist.stdout).toContain('Quiet Harbour');
    expect(artist.stdout).toMatch(/al2\s+Low Tide/);
    const album = await client(['album', 'al1', '--json']);
    expect(JSON.parse(album.stdout).tracks).toHaveLength(2);
  });

  it('reports the gateway error for a missing album, in one line', async () => {
    expectOneLineError(await client(['album', 'nope']), /^error: album nope not found$/);
  });

  it('shows the top tracks of a window and refuses an unknown window before calling', async () => {
    await login();
    await client(['play', 'tr2', '--no-audio', '--speed', '100000']);
    const r = await client(['top', '--window', 'day', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ id: 'tr2', plays: 1 })]);
    expect(sent('GET', '/api/stats/top-tracks')[0]!.query).toEqual({ window: 'day' });

    expectOneLineError(await client(['top', '--window', 'week']), /--window must be hour, day or all/);
    expect(sent('GET', '/api/stats/top-tracks')).toHaveLength(1);
  });
});

describe('usage errors', { timeout: SLOW }, () => {
  it('rejects unknown commands, unknown options, wrong arity and bad numbers', async () => {
    expectOneLineError(await client(['dance']), /unknown command "dance"/);
    expectOneLineError(await client(['tracks', '--colour', 'red']), /unknown option --colour/);
    expectOneLineError(await client(['artist']), /usage: artist <artistId>/);
    expectOneLineError(await client(['tracks', '--limit', 'many']), /--limit must be a whole number/);
    expect(gateway.requests).toHaveLength(0);
  });

  it('says so when the gateway cannot be reached', async () => {
    const r = await client(['artists', '--gateway', 'http://127.0.0.1:1']);
    expectOneLineError(r, /cannot reach the gateway at http:\/\/127\.0\.0\.1:1/);
  });

  it('rejects a gateway that is not a URL', async () => {
    expectOneLineError(await client(['artists', '--gateway', 'not a url']), /is not a URL/);
  });

  it('lists every command in help, and explains one', async () => {
    const all = await client(['help', '--json']);
    const names = JSON.parse(all.stdout).map((c: { name: string }) => c.name);
    for (const name of [
      'artists',
      'play',
      'queue',
      'next',
      'playlist move',
      'history',
      'top',
      'me',
      'quit',
    ]) {
      expect(names).toContain(name);
    }
    const one = await client(['help', 'playlist', 'move']);
    expect(one.stdout).toContain('playlist move <playlistId> <from> <to>');
  });
});

describe('play', { timeout: SLOW }, () => {
  it('without audio, runs the progress to the end and reports the whole track with the token', async () => {
    await login();
    const r = await client(['play', 'tr1', '--no-audio', '--speed', '2000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      trackId: 'tr1',
      msPlayed: 180_000,
      completed: true,
      player: null,
    });
    const reports = sent('POST', '/api/plays/batch');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.body).toEqual({
      plays: [
        {
          trackId: 'tr1',
          msPlayed: 180_000,
          playedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          playId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        },
      ],
    });
    expect(reports[0]!.authorization).toBe('Bearer tok-demo');
    expect(await unsentFiles()).toEqual([]);
    // No audio player: nothing streamed.
    expect(sent('GET', '/api/tracks/tr1/stream')).toHaveLength(0);
  });

  it('retries a play report the gateway could not accept, and it counts once', async () => {
    await login();
    gateway.unavailablePlays = 2;
    const r = await client(['play', 'tr1', '--no-audio', '--speed', '2000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const reports = sent('POST', '/api/plays/batch');
    expect(reports).toHaveLength(3);
    const ids = new Set(
      reports.map((q) => (q.body as { plays: Array<{ playId: string }> }).plays[0]!.playId),
    );
    expect(ids.size).toBe(1);
    expect(gateway.plays).toHaveLength(1);
  });

  it('keeps a play the gateway cannot take and sends it with the next one', async () => {
    await login();
    gateway.unavailablePlays = 100;
    const first = await client(['play', 'tr1', '--no-audio', '--speed', '2000']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      /not reported yet \(the broker did not confirm the play\); 1 play kept here/,
    );
    expect(gateway.plays).toHaveLength(0);
    expect(await unsentFiles()).toHaveLength(1);

    gateway.unavailablePlays = 0;
    const since = sent('POST', '/api/plays/batch').length;
    const second = await client(['play', 'tr2', '--no-audio', '--speed', '2000', '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).unsentPlays).toBe(0);
    // Both in one report, oldest first; nothing left on disk.
    const reports = sent('POST', '/api/plays/batch').slice(since);
    expect(reports).toHaveLength(1);
    expect((reports[0]!.body as { plays: Array<{ trackId: string }> }).plays.map((p) => p.trackId)).toEqual([
      'tr1',
      'tr2',
    ]);
    expect(gateway.plays.map((p) => p.trackId)).toEqual(['tr1', 'tr2']);
    expect(await unsentFiles()).toEqual([]);
  });

  it('keeps plays refused for the account posting too many for now (429), and sends them later', async () => {
    await login();
    gateway.limitedPlays = 100;
    const first = await client(['play', 'tr1', '--no-audio', '--speed', '2000']);
    expect(first.code, first.stderr).toBe(0);
    expect(await unsentFiles()).toHaveLength(1);
    expect(gateway.plays).toHaveLength(0);
    gateway.limitedPlays = 0;
    const second = await client(['play', 'tr2', '--no-audio', '--speed', '2000']);
    expect(second.code, second.stderr).toBe(0);
    expect(gateway.plays.map((p) => p.trackId)).toEqual(['tr1', 'tr2']);
    expect(await unsentFiles()).toEqual([]);
  });

  it("drops a kept play the gateway refuses for good, and sends only the user's own", async () => {
    await login();
    const dir = join(home, 'unsent-plays');
    await mkdir(dir, { recursive: true });
    const kept = (userId: string, trackId: string, playId: string) =>
      writeFile(
        join(dir, `${playId}.json`),
        JSON.stringify({ userId, trackId, msPlayed: 1000, playedAt: '2026-01-01T00:00:00.000Z', playId }),
      );
    const me = JSON.parse(await readFile(join(home, 'session.json'), 'utf8')).user.id as string;
    await kept(me, 'gone', '00000000-0000-4000-8000-000000000001');
    await kept('someone-else', 'tr2', '00000000-0000-4000-8000-000000000002');
    const r = await client(['play', 'tr1', '--no-audio', '--speed', '2000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 play kept earlier were refused by the gateway and dropped');
    expect(gateway.plays).toEqual([{ username: 'demo', trackId: 'tr1', msPlayed: 180_000 }]);
    // The other user's play waits for them.
    expect(await unsentFiles()).toEqual(['00000000-0000-4000-8000-000000000002.json']);
  });

  it('plays row n of the last listing with #n', async () => {
    await login();
    await client(['search', 'blue']);
    const r = await client(['play', '#2', '--no-audio', '--speed', '2000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^played Cobalt Morning — Blue Lanterns \(1:35 of 1:35, without audio\)/);
    expect(gateway.plays).toEqual([{ username: 'demo', trackId: 'tr2', msPlayed: 95_000 }]);
    expectOneLineError(await client(['play', '#9', '--no-audio']), /the last listing has 2 rows, not 9/);
  });

  it('takes the speed from MUSIC_CLIENT_SPEED', async () => {
    await login();
    const started = Date.now();
    const r = await client(['play', 'tr2', '--no-audio'], { MUSIC_CLIENT_SPEED: '5000' });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(gateway.plays[0]!.msPlayed).toBe(95_000);
  });

  it('stops on Ctrl-C and still reports the time listened so far', async () => {
    await login();
    const child = launch(['play', 'tr1', '--no-audio', '--speed', '10']);
    const done = finished(child);
    await eventually(() => sent('GET', '/api/tracks/tr1').length === 1, 10_000);
    await new Promise((r) => setTimeout(r, 700));
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    await eventually(() => gateway.plays.length === 1);
    const { msPlayed } = gateway.plays[0]!;
    // At ten times real speed, 0.7 s or a little more of waiting is about 7 s of music.
    expect(msPlayed).toBeGreaterThan(3_000);
    expect(msPlayed).toBeLessThan(60_000);
    expect(r.stdout).toMatch(/^stopped Blue in Green Light/);
  });

  it('streams the audio into a player and reports the time it played', async () => {
    await login();
    const player = join(home, 'player.mjs');
    const bytesFile = join(home, 'bytes');
    await writeFile(
      player,
      `import { writeFileSync } from 'node:fs';
let n = 0;
process.stdin.on('data', (d) => { n += d.length; });
process.stdin.on('end', () => setTimeout(() => { writeFileSync(process.argv[2], String(n)); }, 300));
`,
    );
    const r = await client(['play', 'tr2', '--json'], {
      MUSIC_PLAYER: `${process.execPath} ${player} ${bytesFile}`,
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ trackId: 'tr2', completed: true, player: process.execPath });
    expect(Number(await readFile(bytesFile, 'utf8'))).toBe(gateway.audio.length);
    expect(sent('GET', '/api/tracks/tr2/stream')[0]!.authorization).toBe('Bearer tok-demo');
    // The player took about 0.3 s: that is the time listened, not the track's length.
    expect(gateway.plays[0]!.msPlayed).toBe(out.msPlayed);
    expect(out.msPlayed).toBeGreaterThanOrEqual(250);
    expect(out.msPlayed).toBeLessThan(95_000);
  });

  it('reports a failing player as an error after reporting what was played', async () => {
    await login();
    const r = await client(['play', 'tr2'], { MUSIC_PLAYER: `${process.execPath} -e process.exit(3)` });
    expectOneLineError(r, /stopped \(exit code 3\)/);
    expect(gateway.plays).toHaveLength(1);
  });

  it('reports no play when the player cannot be run at all', async () => {
    await login();
    const r = await client(['play', 'tr2'], { MUSIC_PLAYER: join(home, 'no-such-player') });
    expectOneLineError(r, /cannot run .*no-such-player/);
    expect(gateway.plays).toHaveLength(0);
  });

  it('needs a login and an existing track', async () => {
    expectOneLineError(await client(['play', 'tr1', '--no-audio']), /not logged in/);
    await login();
    expectOneLineError(await client(['play', 'tr404', '--no-audio']), /track tr404 not found/);
    expect(gateway.plays).toHaveLength(0);
  });

  it('queues tracks and plays them in order with next', async () => {
    await login();
    await client(['search', 'blue']);
    const q = await client(['queue', '#2', 'tr3', '--json']);
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout)).toEqual({ queue: ['tr2', 'tr3'] });
    expectOneLineError(await client(['queue', 'nope']), /track nope not found/);
    await client(['next', '--no-audio', '--speed', '100000']);
    await client(['next', '--no-audio', '--speed', '100000']);
    expect(gateway.plays.map((p) => p.trackId)).toEqual(['tr2', 'tr3']);
    expectOneLineError(await client(['next', '--no-audio']), /the queue is empty/);
  });
});

describe('history and playlists', { timeout: SLOW }, () => {
  it('shows the history of plays, newest first', async () => {
    await login();
    await client(['play', 'tr1', '--no-audio', '--speed', '100000']);
    await client(['play', 'tr3', '--no-audio', '--speed', '100000']);
    const r = await client(['history', '--json']);
    expect(JSON.parse(r.stdout).map((p: { trackId: string }) => p.trackId)).toEqual(['tr3', 'tr1']);
    const table = await client(['history']);
    expect(table.stdout.split('\n')[1]).toMatch(/^1\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+Harbour Lights/);
  });

  it('creates a playlist and edits it with 1-based positions', async () => {
    await login();
    const created = await client(['playlist', 'create', 'Road', 'trip', '--public', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout);
    expect(sent('POST', '/api/playlists')[0]!.body).toEqual({ name: 'Road trip', public: true });

    await client(['search', 'blue']);
    const added = await client(['playlist', 'add', id, '#1', '#2', 'tr3']);
    expect(added.code, added.stderr).toBe(0);
    expect(sent('POST', `/api/playlists/${id}/tracks`)[0]!.body).toEqual({ trackIds: ['tr1', 'tr2', 'tr3'] });

    const moved = await client(['playlist', 'move', id, '3', '1', '--json']);
    expect(sent('POST', `/api/playlists/${id}/tracks/move`)[0]!.body).toEqual({ from: 2, to: 0 });
    expect(JSON.parse(moved.stdout).tracks.map((e: { track: { id: string } }) => e.track.id)).toEqual([
      'tr3',
      'tr1',
      'tr2',
    ]);

    const removed = await client(['playlist', 'remove', id, '2']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(sent('DELETE', `/api/playlists/${id}/tracks/1`)).toHaveLength(1);
    expect(removed.stdout).toMatch(/1\s+tr3/);
    expect(removed.stdout).toMatch(/2\s+tr2/);

    // The playlist listing feeds #n too.
    await client(['play', '#2', '--no-audio', '--speed', '100000']);
    expect(gateway.plays.at(-1)!.trackId).toBe('tr2');

    const list = await client(['playlists']);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+Road trip\\s+demo\\s+public\\s+2`));

    expectOneLineError(await client(['playlist', 'remove', id, '0']), /position must be between 1/);
    const renamed = await client(['playlist', 'rename', id, 'Night', 'drive']);
    expect(renamed.stdout.trim()).toBe(`renamed playlist ${id} to "Night drive"`);
    await client(['playlist', 'public', id, 'no']);
    expect(sent('PATCH', `/api/playlists/${id}`).map((r) => r.body)).toEqual([
      { name: 'Night drive' },
      { public: false },
    ]);

    const deleted = await client(['playlist', 'delete', id]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expectOneLineError(await client(['playlist', id]), /not found/);
  });
});

describe('interactive prompt', { timeout: SLOW }, () => {
  it('runs commands line by line, shows errors as lines, and ends at quit', async () => {
    const r = await client(
      [],
      {},
      [
        'login demo demo1234',
        'search "cobalt morning"',
        'bogus',
        'play #1 --no-audio --speed 100000',
        'quit',
        'me',
      ].join('\n'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('logged in as demo');
    expect(r.stdout).toMatch(/1\s+tr2\s+Cobalt Morning/);
    expect(r.stdout).toContain('played Cobalt Morning');
    expect(r.stderr.trim()).toBe('error: unknown command "bogus" (try help)');
    expect(sent('GET', '/api/search')[0]!.query).toEqual({ q: 'cobalt morning' });
    expect(gateway.plays).toEqual([{ username: 'demo', trackId: 'tr2', msPlayed: 95_000 }]);
    // Nothing after quit ran.
    expect(sent('GET', '/api/me')).toHaveLength(0);
  });

  it('ends at the end of input', async () => {
    const r = await client([], {}, 'artists\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Blue Lanterns');
  });
});

describe('pieces', { timeout: SLOW }, () => {
  it('splits prompt lines like a shell', () => {
    expect(splitWords(`search  "blue moon" it\\'s 'a b'`)).toEqual(['search', 'blue moon', "it's", 'a b']);
    expect(splitWords('  ')).toEqual([]);
    expect(splitWords('x ""')).toEqual(['x', '']);
    expect(() => splitWords('search "blue')).toThrow(/unclosed " quote/);
  });

  it('completes commands, sub-commands and options', () => {
    expect(complete('pla')[0].sort()).toEqual(['play', 'playlist', 'playlists']);
    expect(complete('his')).toEqual([['history '], 'his']);
    expect(complete('playlist m')).toEqual([['move '], 'm']);
    expect(complete('tracks --g')).toEqual([['--genre '], '--g']);
    expect(complete('zzz')).toEqual([[], 'zzz']);
  });
});
