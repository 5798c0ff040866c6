import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogContract, type Track } from '../common/contracts/catalog.js';
import { usersContract } from '../common/contracts/users.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { importFolder } from '../services/catalog/index.js';
import { capturingLogger, eventually, TEST_DATABASE_URL } from './support/env.js';
import { freePort } from './support/local-infra.js';
import { type Account, type Params, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Transcodes a gateway of this test runs at once, and how many of them one listener may hold. */
const CAP = 3;
const PER_LISTENER = 2;

let h: SubsonicHarness;
let users: ServiceClient<typeof usersContract>;
let alice: Account;
/** A seeded track (WAV, 8-30 s) and a long one imported for transcodes that must last. */
let track: Track;
let long: Track;

/** A REST session of alice's: transcoded REST streams need a login. */
let aliceToken: string | undefined;
async function bearer(): Promise<string> {
  aliceToken ??= (await users.call('login', { username: alice.user.username, password: alice.password }))
    .token;
  return aliceToken;
}

const { account, token, request, send, json } = subsonicClient(
  () => h.url,
  () => users,
);

/** ffmpeg processes whose parent is `ppid` (this test process by default: its gateways'). */
async function ffmpegChildren(ppid = process.pid): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && m[1] === 'ffmpeg' && Number(m[2]) === ppid) pids.push(Number(entry));
  }
  return pids;
}

const alive = (pid: number) =>
  readFile(`/proc/${pid}/stat`, 'utf8').then(
    (s) => !/^\d+ \(.*\) Z/.test(s),
    () => false,
  );

/** What ffprobe reads in `audio`: container, codec, duration (s) and bitrate (kbit/s, from the size). */
async function probe(audio: Buffer, name: string) {
  const file = join(h.mediaDir, `probe-${name}`);
  await writeFile(file, audio);
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-show_entries', 'format=format_name,duration:stream=codec_name'],
    ...['-of', 'json', file],
  ]);
  const info = JSON.parse(stdout) as {
    format: { format_name: string; duration: string };
    streams: Array<{ codec_name: string }>;
  };
  const duration = Number(info.format.duration);
  return {
    container: info.format.format_name,
    codec: info.streams[0]!.codec_name,
    duration,
    kbps: (audio.length * 8) / duration / 1000,
  };
}

/** A stream request left open: its first bytes read, the rest waiting (ffmpeg blocks on the full pipe). */
async function openStream(params: Record<string, string | number>, url?: string, who: Account = alice) {
  const controller = new AbortController();
  const started = performance.now();
  const res = url
    ? await fetch(url, { signal: controller.signal, headers: { authorization: `Bearer ${await bearer()}` } })
    : await send('stream', { ...token(who), ...params }, { signal: controller.signal });
  const reader = res.body!.getReader();
  const first = await reader.read();
  return {
    res,
    firstBytesMs: performance.now() - started,
    firstChunk: Buffer.from(first.value ?? []),
    close: () => {
      controller.abort();
      reader.cancel().catch(() => {});
    },
  };
}

beforeAll(async () => {
  h = await startSubsonic({ config: { transcodeMaxConcurrent: CAP, transcodePerListener: PER_LISTENER } });
  users = h.rpc.bind(usersContract);
  const catalog = h.rpc.bind(catalogContract);
  track = (await catalog.call('listTracks', { limit: 500 })).items.find((t) => t.durationMs >= 20_000)!;
  // Ten minutes of tone and noise: long enough that no transcode of it ends during a test.
  const folder = join(h.mediaDir, 'long', 'Long Player', 'Long Album');
  await mkdir(folder, { recursive: true });
  await run('ffmpeg', [
    ...[
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=330:sample_rate=22050:duration=600',
    ],
    ...['-f', 'lavfi', '-i', 'anoisesrc=sample_rate=22050:duration=600:amplitude=0.1'],
    ...[
      '-filter_complex',
      'amix=inputs=2',
      '-ac',
      '1',
      '-c:a',
      'pcm_s16le',
      join(folder, '01 Long Song.wav'),
    ],
  ]);
  await importFolder(h.services.get('catalog')!.deps.pool, join(h.mediaDir, 'long'));
  long = (await catalog.call('search', { q: 'Long Song' })).tracks[0]!;
  alice = await account('alice');
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe('transcoding', () => {
  const cases = [
    { format: 'mp3', kbps: 128, type: 'audio/mpeg', container: 'mp3', codec: 'mp3' },
    { format: 'opus', kbps: 96, type: 'audio/ogg', container: 'ogg', codec: 'opus' },
    { format: 'ogg', kbps: 128, type: 'audio/ogg', container: 'ogg', codec: 'vorbis' },
    { format: 'aac', kbps: 96, type: 'audio/aac', container: 'aac', codec: 'aac' },
  ];

  for (const c of cases) {
    it(`streams ${c.format} at about ${c.kbps} kbit/s when asked, which ffprobe reads as such`, async () => {
      const reply = await request('stream', {
        ...token(alice),
        id: track.id,
        format: c.format,
        maxBitRate: c.kbps,
      });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe(c.type);
      expect(reply.headers.get('content-length')).toBeNull();
      const got = await probe(reply.body, `${c.format}-${c.kbps}`);
      expect(got).toMatchObject({ container: c.container, codec: c.codec });
      expect(Math.abs(got.duration * 1000 - track.durationMs)).toBeLessThan(1500);
      expect(got.kbps).toBeGreaterThan(c.kbps * 0.75);
      expect(got.kbps).toBeLessThan(c.kbps * 1.25);
    });
  }

  it("uses the default format (opus) at the player's bitrate when it sends only maxBitRate below the file's", async () => {
    const reply = await request('stream', { ...token(alice), id: track.id, maxBitRate: 64 });
    expect(reply.headers.get('content-type')).toBe('audio/ogg');
    const got = await probe(reply.body, 'default-64');
    expect(got.codec).toBe('opus');
    expect(got.kbps).toBeGreaterThan(64 * 0.75);
    expect(got.kbps).toBeLessThan(64 * 1.3);
  });

  it('sends the file untouched, Range and all, for format=raw or a maxBitRate at or above its own', async () => {
    const file = await readFile(
      (await h.rpc.bind(catalogContract).call('getTrackFile', { id: track.id })).path,
    );
    const sourceKbps = Math.ceil((file.length * 8) / track.durationMs);
    for (const params of [
      { format: 'raw' },
      { maxBitRate: sourceKbps },
      { maxBitRate: 0 },
      { format: 'flac' },
    ] as Params[]) {
      const reply = await request('stream', { ...token(alice), id: track.id, ...params });
      expect(reply.headers.get('content-type')).toBe('audio/wav');
      expect(reply.body.equals(file)).toBe(true);
    }
    const part = await request(
      'stream',
      { ...token(alice), id: track.id, maxBitRate: 10_000 },
      { headers: { range: 'bytes=10-19' } },
    );
    expect(part.status).toBe(206);
    expect(part.body.equals(file.subarray(10, 20))).toBe(true);
  });

  it('starts at timeOffset seconds (transcodeOffset)', async () => {
    const reply = await request('stream', { ...token(alice), id: track.id, format: 'mp3', timeOffset: 10 });
    const got = await probe(reply.body, 'offset');
    expect(Math.abs(got.duration * 1000 - (track.durationMs - 10_000))).toBeLessThan(1500);
  });

  it('takes the same options on the REST stream route, and refuses bad ones', async () => {
    const base = `${h.url.replace(/\/rest$/, '')}/api/tracks/${track.id}/stream`;
    // A transcode needs a login; the file itself does not.
    const anonymous = await fetch(`${base}?format=opus&bitrate=96`);
    expect(anonymous.status).toBe(401);
    expect((await fetch(base)).status).toBe(200);
    const res = await fetch(`${base}?format=opus&bitrate=96`, {
      headers: { authorization: `Bearer ${await bearer()}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/ogg');
    const got = await probe(Buffer.from(await res.arrayBuffer()), 'rest');
    expect(got.codec).toBe('opus');
    expect(got.kbps).toBeLessThan(96 * 1.25);
    for (const bad of ['format=flac', 'bitrate=lots', 'offset=-1']) {
      const refused = await fetch(`${base}?${bad}`);
      expect([bad, refused.status]).toEqual([bad, 400]);
    }
  });

  it('streams the output as it is made: the first bytes come long before the transcode could end', async () => {
    const stream = await openStream({ id: long.id, format: 'mp3', maxBitRate: 320 });
    try {
      expect(stream.res.status).toBe(200);
      expect(stream.firstChunk.length).toBeGreaterThan(0);
      // Ten minutes at 320 kbit/s take seconds to encode; the first bytes come in a fraction of that.
      expect(stream.firstBytesMs).toBeLessThan(2000);
      process.stdout.write(
        `first transcoded bytes of a ten-minute file after ${stream.firstBytesMs.toFixed(0)} ms\n`,
      );
    } finally {
      stream.close();
    }
    await eventually(async () => (await ffmpegChildren()).length === 0, 5000);
  });

  it('measures the first bytes of a seeded track, untouched and transcoded (median of five)', async () => {
    const median = async (params: Params) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const stream = await openStream({ id: track.id, ...params });
        times.push(stream.firstBytesMs);
        stream.close();
      }
      return times.sort((a, b) => a - b)[2]!;
    };
    const figures = {
      raw: await median({}),
      mp3: await median({ format: 'mp3' }),
      opus: await median({ format: 'opus' }),
    };
    process.stdout.write(
      `first bytes, median of five: ${Object.entries(figures)
        .map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`)
        .join(', ')}\n`,
    );
    expect(figures.mp3).toBeLessThan(2000);
    await eventually(async () => (await ffmpegChildren()).length === 0, 5000);
  });

  it('kills ffmpeg within a second of the client going away', async () => {
    const stream = await openStream({ id: long.id, format: 'opus' });
    const [pid] = await ffmpegChildren();
    expect(pid).toBeDefined();
    const closedAt = performance.now();
    stream.close();
    await eventually(async () => !(await alive(pid!)), 5000, 20);
    const tookMs = performance.now() - closedAt;
    process.stdout.write(`ffmpeg gone ${tookMs.toFixed(0)} ms after the client left\n`);
    expect(tookMs).toBeLessThan(1000);
  });

  it('gives each listener a share: one holding never-read streams cannot take every slot', async () => {
    const bob = await account('bob');
    const held = [];
    try {
      for (let i = 0; i < PER_LISTENER; i++) held.push(await openStream({ id: long.id, format: 'opus' }));
      const more = await request('stream', { ...token(alice), id: track.id, format: 'mp3', f: 'json' });
      expect(more.status).toBe(503);
      expect(Number(more.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(JSON.parse(more.text)['subsonic-response'].error.message).toMatch(/you are receiving/);
      // Another listener still gets a transcode.
      const other = await openStream({ id: long.id, format: 'opus' }, undefined, bob);
      expect(other.res.status).toBe(200);
      other.close();
    } finally {
      for (const s of held) s.close();
    }
    await eventually(async () => (await ffmpegChildren()).length === 0, 5000);
  });

  it('answers 503 with Retry-After beyond the cap, on both APIs, and serves again once one ends', async () => {
    const carol = await account('carol');
    const open = await Promise.all(
      Array.from({ length: CAP }, (_, i) =>
        openStream({ id: long.id, format: 'mp3', maxBitRate: 320 }, undefined, i % 2 === 0 ? alice : carol),
      ),
    );
    try {
      expect((await ffmpegChildren()).length).toBe(CAP);
      const refused = await request('stream', { ...token(alice), id: track.id, format: 'mp3', f: 'json' });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(JSON.parse(refused.text)['subsonic-response']).toMatchObject({
        status: 'failed',
        error: { code: 0 },
      });
      const rest = await fetch(`${h.url.replace(/\/rest$/, '')}/api/tracks/${track.id}/stream?format=mp3`, {
        headers: { authorization: `Bearer ${await bearer()}` },
      });
      expect(rest.status).toBe(503);
      expect(rest.headers.get('retry-after')).not.toBeNull();
      expect(((await rest.json()) as { error: { message: string } }).error.message).toMatch(/transcoding/);
      // Streams that need no transcode are not held back.
      expect((await request('stream', { ...token(alice), id: track.id })).status).toBe(200);
    } finally {
      open[0]!.close();
    }
    await eventually(async () => (await ffmpegChildren()).length < CAP, 5000);
    const again = await request('stream', { ...token(alice), id: track.id, format: 'mp3' });
    expect(again.status).toBe(200);
    expect(again.headers.get('content-type')).toBe('audio/mpeg');
    for (const s of open) s.close();
    await eventually(async () => (await ffmpegChildren()).length === 0, 5000);
  });
});

describe('no ffmpeg outlives its gateway', () => {
  it('stopping a gateway kills the transcodes it runs', async () => {
    const gateway = await h.gateway();
    const before = await ffmpegChildren();
    const url = `http://127.0.0.1:${gateway.port}/api/tracks/${long.id}/stream?format=opus`;
    const stream = await openStream({}, url);
    try {
      const mine = (await ffmpegChildren()).filter((pid) => !before.includes(pid));
      expect(mine).toHaveLength(1);
      await gateway.stop();
      expect(await alive(mine[0]!)).toBe(false);
    } finally {
      stream.close();
      await gateway.stop();
    }
  });

  it('a gateway killed outright takes its ffmpeg with it', async () => {
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: String(port),
        AMQP_NAMESPACE: h.ns,
        // The in-process services around it connect as AMQP_URL's user, like every in-process test.
        BROKER_USERS: 'false',
        AMQP_URL: h.config.amqpUrl,
        DATABASE_URL: TEST_DATABASE_URL,
        TOKEN_SECRET: h.config.tokenSecret,
        LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      await eventually(
        () =>
          fetch(`${base}/rest/ping?f=json`).then(
            (r) => r.ok,
            () => false,
          ),
        60_000,
        200,
      );
      const stream = await openStream({}, `${base}/api/tracks/${long.id}/stream?format=opus`);
      const [pid] = await ffmpegChildren(child.pid);
      expect(pid).toBeDefined();
      child.kill('SIGKILL');
      // Its output pipe has no reader any more: ffmpeg ends on its next write.
      await eventually(async () => !(await alive(pid!)), 5000);
      stream.close();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('without ffmpeg', () => {
  it('sends the file as it is, with a warning in the log, never an error', async () => {
    const { logger, lines } = capturingLogger('warn');
    const gateway = await h.gateway({
      config: { transcodeFfmpeg: join(h.mediaDir, 'no-such-ffmpeg') },
      logger,
    });
    try {
      const file = await readFile(
        (await h.rpc.bind(catalogContract).call('getTrackFile', { id: track.id })).path,
      );
      const there = subsonicClient(
        () => `http://127.0.0.1:${gateway.port}/rest`,
        () => users,
      );
      const reply = await there.request('stream', {
        ...token(alice),
        id: track.id,
        format: 'mp3',
        maxBitRate: 96,
      });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe('audio/wav');
      expect(reply.body.equals(file)).toBe(true);
      const rest = await fetch(`http://127.0.0.1:${gateway.port}/api/tracks/${track.id}/stream?format=opus`, {
        headers: { authorization: `Bearer ${await bearer()}` },
      });
      expect(rest.status).toBe(200);
      expect(Buffer.from(await rest.arrayBuffer()).equals(file)).toBe(true);
      expect(
        lines.filter((l) => l.level === 40 && /ffmpeg is not available/.test(String(l.msg))),
      ).toHaveLength(2);
      expect((await json('ping', token(alice))).status).toBe('ok');
    } finally {
      await gateway.stop();
    }
  });
});
