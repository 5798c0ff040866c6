/**
 * freshness: how soon a play is visible to the one who made it and to everyone else. First
 * the `plays` benchmark's one-play-per-request load measures what the system takes (stored
 * and counted per second); then plays are posted at half of that rate, at evenly spaced times
 * (an open loop), and every so often one of them is a sampled play: a user of its own playing
 * a track the rest of the load leaves alone. A separate client, while a sampled play is
 * pending, polls `GET /api/me/history` (history.recent) as that user and `stats.topTracks`
 * (all time, through the gateway's `/rpc`) and times each sampled play from its 202 to the
 * first answer that shows it: its event id in the history, and the track's count reaching it
 * in the top tracks (the k-th sampled play to be accepted counts as shown once the count is k).
 * Each figure is an upper bound by at most one poll (`poll_ms`: an interval and a round trip).
 */
import { Agent, request } from 'node:http';
import { perUnit, pidsNamed } from './cpu.js';
import { median, note, round } from './lib.js';
import { latencySummary, pacedRequests } from './load.js';
import { copy, listeners, MODES, meter, ours } from './plays.js';
import { BenchSystem } from './system.js';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 20);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
/** Sampled plays per second. */
const SAMPLES_PER_S = Number(process.env.BENCH_SAMPLES ?? 20);
/** Wait between two polls of one kind while a sampled play is pending. */
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 5);
/** How long a sampled play may take to show before it counts as missing. */
const SHOW_TIMEOUT_MS = 30_000;
const TARGET_P99_MS = 100;
/** topTracks returns at most 100 tracks; the load's tracks and the sampled one all fit. */
const TOP_LIMIT = 100;

interface Sample {
  id: string;
  acceptedAt: number;
  history?: number;
  stats?: number;
}

/** One keep-alive connection answering JSON: what a poller uses. */
function jsonClient(baseUrl: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(baseUrl);
  const call = (path: string, headers: Record<string, string>, body?: string) =>
    new Promise<unknown>((resolve, reject) => {
      const req = request(
        { agent, hostname, port, path, method: body === undefined ? 'GET' : 'POST', headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200)
              reject(new Error(`${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
            else resolve(JSON.parse(text));
          });
          res.once('error', reject);
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  return { call, close: () => agent.destroy() };
}

/**
 * Polls with `poll` while `pending()` says something waits to be seen, until stopped; each
 * poll's round trip is kept. A failed poll stops the run.
 */
function poller(pending: () => boolean, poll: () => Promise<void>) {
  let stopped = false;
  const trips: number[] = [];
  const loop = (async () => {
    while (!stopped) {
      if (pending()) {
        const started = performance.now();
        await poll();
        trips.push(performance.now() - started);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();
  return {
    trips,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/**
 * How many of `ids` history has stored and the stats projection has counted, once both have
 * all of them or a minute has passed.
 */
async function drained(system: BenchSystem, ids: string[]): Promise<{ stored: number; counted: number }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await system.db.query<{ stored: number; counted: number }>(
      `SELECT (SELECT count(*) FROM history.plays WHERE event_id = ANY($1::uuid[]))::int AS stored,
              (SELECT count(*) FROM stats.projection_seen
                WHERE projection = 'stats' AND event_id = ANY($1::uuid[]))::int AS counted`,
      [ids],
    );
    const found = rows[0]!;
    if ((found.stored >= ids.length && found.counted >= ids.length) || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runFreshnessBench(): Promise<Record<string, unknown>> {
  const system = await BenchSystem.start({ label: 'fresh' });
  try {
    const one = await copy(system, async () => pidsNamed('beam.smp'));
    const [probeToken] = await listeners(system, 1, 'sampled');
    const { rows } = await system.db.query<{ id: string }>('SELECT id FROM catalog.tracks ORDER BY id');
    if (rows.length < 2) throw new Error('the catalog needs two tracks');
    const probeTrack = rows[0]!.id;
    const loadTracks = rows.slice(1, TOP_LIMIT).map((r) => r.id);

    // What the system takes: the plays benchmark's one-play-per-request load.
    const single = MODES.find((m) => m.name === 'single')!;
    const max = await ours(one, loadTracks, single);
    note(
      `max: accepted ${max.acceptedPerS.toFixed(0)}/s, stored and counted ${max.storedPerS.toFixed(0)}/s (lost ${max.lost})`,
    );
    const rate = Math.max(1, Math.round(max.storedPerS / 2));
    const every = Math.max(2, Math.round(rate / SAMPLES_PER_S));

    const samples: Sample[] = [];
    const byId = new Map<string, Sample>();
    const pendingHistory = () => samples.some((s) => s.history === undefined);
    const pendingStats = () => samples.some((s) => s.stats === undefined);
    const historyClient = jsonClient(system.baseUrl);
    const statsClient = jsonClient(system.baseUrl);
    const auth = { authorization: `Bearer ${probeToken}` };
    const historyPoller = poller(pendingHistory, async () => {
      const plays = (await historyClient.call('/api/me/history?limit=20', auth)) as Array<{
        eventId: string;
      }>;
      const now = performance.now();
      for (const p of plays) {
        const s = byId.get(p.eventId);
        if (s && s.history === undefined) s.history = now;
      }
    });
    const rpcBody = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'stats.topTracks',
      params: { window: 'all', limit: TOP_LIMIT },
    });
    const statsPoller = poller(pendingStats, async () => {
      const answer = (await statsClient.call('/rpc', { 'content-type': 'application/json' }, rpcBody)) as {
        result?: Array<{ trackId: string; plays: number }>;
        error?: unknown;
      };
      if (!answer.result) throw new Error(`stats.topTracks: ${JSON.stringify(answer.error)}`);
      const now = performance.now();
      const count = answer.result.find((t) => t.trackId === probeTrack)?.plays ?? 0;
      // Samples in the order they were accepted: the first `count` of them are counted.
      for (const s of samples.slice(0, count)) s.stats ??= now;
    });

    note(`paced: ${rate} plays/s for ${DURATION_S} s, one in ${every} sampled`);
    const ids: string[] = [];
    const cpu = meter(system, one.brokers);
    await cpu.start();
    const run = await pacedRequests(
      system.baseUrl,
      { connections: CONNECTIONS, rate, durationS: DURATION_S },
      (i) => {
        const sampled = i % every === 0;
        const token = sampled ? probeToken! : one.tokens[i % one.tokens.length]!;
        const trackId = sampled ? probeTrack : loadTracks[i % loadTracks.length]!;
        return {
          path: '/api/plays',
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ trackId, msPlayed: 30_000 }),
        };
      },
      (i, _status, body) => {
        const { id } = JSON.parse(body) as { id?: string };
        if (typeof id !== 'string') return false;
        ids.push(id);
        if (i % every === 0) {
          const s: Sample = { id, acceptedAt: performance.now() };
          samples.push(s);
          byId.set(id, s);
        }
        return true;
      },
    );
    const { other = 0, ...used } = await cpu.stop();
    const deadline = Date.now() + SHOW_TIMEOUT_MS;
    while ((pendingHistory() || pendingStats()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await historyPoller.stop();
    await statsPoller.stop();
    historyClient.close();
    statsClient.close();

    // Every accepted play of the paced load stored and counted once (the end of the pipeline).
    const found = await drained(system, ids);
    const lost = ids.length - Math.min(found.stored, found.counted);

    const figures = (key: 'history' | 'stats') => {
      const shown = samples.filter((s) => s[key] !== undefined);
      const ms = shown.map((s) => Math.max(0, s[key]! - s.acceptedAt));
      const p = latencySummary(ms);
      return {
        ...p,
        max_ms: round(Math.max(...ms), 1),
        missing: samples.length - shown.length,
        target_met: p.p99_ms < TARGET_P99_MS && shown.length === samples.length,
      };
    };
    // Where a sampled play's time went before history stored it: from the gateway dating it
    // (just before publishing) to the start of the transaction that stored it.
    const { rows: stored } = await system.db.query<{ event_id: string; lag_ms: number }>(
      `SELECT event_id, extract(epoch FROM recorded_at - played_at) * 1000 AS lag_ms
       FROM history.plays WHERE event_id = ANY($1::uuid[])`,
      [samples.map((s) => s.id)],
    );
    const storedLag = new Map(stored.map((r) => [r.event_id, Number(r.lag_ms)]));
    const t0 = samples[0]?.acceptedAt ?? 0;
    for (const s of [...samples]
      .sort((a, b) => (b.stats ?? 0) - b.acceptedAt - ((a.stats ?? 0) - a.acceptedAt))
      .slice(0, 8)) {
      note(
        `slow sample at ${((s.acceptedAt - t0) / 1000).toFixed(2)} s: history ${((s.history ?? 0) - s.acceptedAt).toFixed(0)} ms, topTracks ${((s.stats ?? 0) - s.acceptedAt).toFixed(0)} ms, published to history's transaction ${storedLag.get(s.id)?.toFixed(0)} ms`,
      );
    }
    const history = figures('history');
    const stats = figures('stats');
    const accepted = latencySummary(run.latencies);
    note(
      `sampled ${samples.length}: history p50 ${history.p50_ms} p99 ${history.p99_ms} ms, topTracks p50 ${stats.p50_ms} p99 ${stats.p99_ms} ms; 202 p50 ${accepted.p50_ms} p99 ${accepted.p99_ms} ms`,
    );
    return {
      bench: 'freshness',
      max_stored_per_s: Math.round(max.storedPerS),
      rate,
      duration_s: DURATION_S,
      accepted: ids.length,
      refused: [...run.failures.values()].reduce((a, b) => a + b, 0),
      lost,
      sampled: samples.length,
      target_p99_ms: TARGET_P99_MS,
      history,
      top_tracks: stats,
      accepted_latency: accepted,
      cpu_ms_per_play: perUnit(used, ids.length),
      // The machine is shared: what the rest of it kept busy while the paced plays ran.
      other_cores: round(other / run.elapsedMs),
      history_transaction_lag: latencySummary([...storedLag.values()]),
      poll_ms: {
        interval: POLL_MS,
        history_round_trip_p50: round(median(historyPoller.trips), 1),
        top_tracks_round_trip_p50: round(median(statsPoller.trips), 1),
      },
    };
  } catch (err) {
    note(await system.logTails());
    throw err;
  } finally {
    await system.stop();
  }
}
