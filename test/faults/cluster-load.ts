/**
 * What the cluster scenarios share: a system on a broker cluster of the test's own under plays
 * and RPC load, while something happens to the nodes, then every play checked.
 */
import { expect } from 'vitest';
import type { BrokerCluster } from '../support/cluster.js';
import { eventually, managementGet, sleep } from '../support/env.js';
import type { ApiClient, System } from '../support/system.js';
import { demoClient, type PlayFigures, PlayLoad, report, trackIds, waitForPlays } from './helpers.js';

/**
 * An RPC route requested every `everyMs` (each request on its own, not waiting for the one
 * before: a request caught on a lost node, which fails only at its timeout, does not hide that
 * the next ones answer), each answer kept with when it was asked.
 */
export class RpcProbe {
  readonly answers: Array<{ at: number; status: number; ms: number; error?: string }> = [];
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly done: Promise<void>;

  constructor(
    private readonly api: ApiClient,
    private readonly path: string,
    private readonly everyMs = 200,
    /** Most requests waiting at once (the gateway answers each within its RPC timeout). */
    private readonly maxInFlight = 50,
  ) {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    await Promise.all(this.inFlight);
    this.answers.sort((a, b) => a.at - b.at);
  }

  /** Answers other than 200 to requests made in [from, to). */
  failures(from: number, to = Number.POSITIVE_INFINITY) {
    return this.answers.filter((a) => a.at >= from && a.at < to && a.status !== 200);
  }

  /** The failures' errors and how many times each came: what a report shows beside their count. */
  failureKinds(from: number, to = Number.POSITIVE_INFINITY): string {
    const kinds = new Map<string, number>();
    for (const f of this.failures(from, to)) kinds.set(f.error ?? '', (kinds.get(f.error ?? '') ?? 0) + 1);
    return [...kinds].map(([error, n]) => `${n} x ${error}`).join('; ') || 'none';
  }

  /**
   * How long after `t` RPC answered again: from `t` to the answer of the first success asked
   * after the last failure asked after `t` (0 when nothing failed).
   */
  backAfter(t: number): number {
    const failed = this.failures(t);
    if (failed.length === 0) return 0;
    const last = failed[failed.length - 1]!.at;
    const next = this.answers.find((a) => a.at > last && a.status === 200);
    return next ? next.at + next.ms - t : Number.POSITIVE_INFINITY;
  }

  private async ask(): Promise<void> {
    const at = Date.now();
    try {
      const r = await this.api.request<{ error?: { message?: string } }>('GET', this.path, {
        timeoutMs: 20_000,
      });
      const error = r.status === 200 ? undefined : `${r.status} ${r.body?.error?.message ?? ''}`.trim();
      this.answers.push({ at, status: r.status, ms: Math.round(r.ms), ...(error ? { error } : {}) });
    } catch (err) {
      this.answers.push({ at, status: 0, ms: Date.now() - at, error: (err as Error).message });
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.inFlight.size < this.maxInFlight) {
        const request = this.ask().finally(() => this.inFlight.delete(request));
        this.inFlight.add(request);
      }
      await sleep(this.everyMs);
    }
  }
}

/** Accepted play ids of a system, over every scenario run on it (figures count all of them). */
const acceptedBySystem = new WeakMap<System, string[]>();

export interface ClusterRun {
  load: PlayLoad;
  rpc: RpcProbe;
  figures: PlayFigures & { settledMs: number };
  /** Plays accepted by this system so far, every scenario included. */
  accepted: number;
}

/**
 * Plays (eight listeners, each play retried with its play id until accepted) and an RPC route
 * are kept busy from before `during` until it resolved and a few seconds more; then every
 * accepted play must be stored once and counted once, and plays may only have been refused
 * with 503 and Retry-After, never dropped.
 */
export async function underLoad(
  system: System,
  during: (load: PlayLoad, rpc: RpcProbe) => Promise<void>,
): Promise<ClusterRun> {
  const api = await demoClient(system);
  const tracks = await trackIds(system);
  let accepted = acceptedBySystem.get(system);
  if (!accepted) {
    // One play per track first, so the gateway knows every track and a play needs no catalog call.
    accepted = [];
    for (const t of tracks) {
      const r = await api.play(t);
      expect(r.status).toBe(202);
      accepted.push(r.id!);
    }
    acceptedBySystem.set(system, accepted);
  }
  const load = new PlayLoad(api, tracks, { concurrency: 8, paceMs: 50 });
  const rpc = new RpcProbe(api, '/api/artists?limit=5');
  try {
    await load.waitAccepted(600, 60_000);
    await during(load, rpc);
    await sleep(3000);
  } finally {
    await Promise.all([load.stop(), rpc.stop()]);
  }
  accepted.push(...load.accepted);
  const figures = await waitForPlays(system, accepted, 180_000);

  expect(
    [...load.statuses.keys()].every((s) => s === 202 || s === 503),
    load.statusSummary(),
  ).toBe(true);
  expect(load.withoutRetryAfter).toBe(0);
  expect(load.networkErrors).toBe(0);
  expect(load.accepted.length).toBe(load.plays);
  expect(figures.missing).toBe(0);
  expect(figures.historyDuplicates).toBe(0);
  expect(figures.stored).toBe(accepted.length);
  expect(figures.counted).toBe(figures.stored);
  expect(figures.trackMismatches).toBe(0);
  expect(figures.userMismatches).toBe(0);
  expect(figures.deadHistory + figures.deadStats).toBe(0);
  return { load, rpc, figures, accepted: accepted.length };
}

/** Figures every cluster scenario prints. */
export function playReport(run: ClusterRun): Record<string, unknown> {
  return {
    'plays (distinct play ids)': run.load.plays,
    answers: run.load.statusSummary(),
    'stored / counted (all plays so far)': `${run.figures.stored} / ${run.figures.counted} of ${run.accepted}`,
    'accepted but missing, duplicates applied, dead': `${run.figures.missing}, ${
      run.figures.historyDuplicates + run.figures.trackMismatches + run.figures.userMismatches
    }, ${run.figures.deadHistory + run.figures.deadStats}`,
    'RPC answers (200 / other)': `${run.rpc.answers.filter((a) => a.status === 200).length} / ${
      run.rpc.answers.filter((a) => a.status !== 200).length
    }`,
    'settled after the load (ms)': run.figures.settledMs,
  };
}

interface NodeInfo {
  name: string;
  running: boolean;
  partitions?: string[] | null;
}

/**
 * Waits until the cluster is whole: every node running and seeing no partition, every
 * quorum queue of the namespace with all its members online and each member's log caught up
 * with its leader's, and every request queue (transient classic: declared again by the workers
 * on a live node after its node was lost) there and consumed. Resolves with how long it took.
 */
export async function whole(cluster: BrokerCluster, ns: string, timeoutMs = 120_000): Promise<number> {
  const started = Date.now();
  let last = '';
  await eventually(
    async () => {
      const nodes = await managementGet<NodeInfo[]>(
        '/api/nodes',
        (await cluster.serving()).managementUrl,
        5000,
      );
      const bad = nodes.filter((n) => !n.running || (n.partitions?.length ?? 0) > 0);
      if (bad.length > 0 || nodes.length !== cluster.nodes.length) {
        last = `nodes: ${JSON.stringify(nodes.map((n) => [n.name, n.running, n.partitions]))}`;
        return false;
      }
      const queues = (await cluster.queues()).filter((q) => q.name.startsWith(`${ns}.`));
      const partial = queues.filter(
        (q) => q.type === 'quorum' && (q.online?.length ?? 0) !== cluster.nodes.length,
      );
      if (partial.length > 0) {
        last = `not all members online: ${partial.map((q) => `${q.name} ${q.online}`).join('; ')}`;
        return false;
      }
      const requests = queues.filter((q) => q.name.startsWith(`${ns}.rpc.`));
      const unserved = requests.filter((q) => (q.consumers ?? 0) === 0);
      if (!requests.some((q) => q.name === `${ns}.rpc.catalog`) || unserved.length > 0) {
        last = `request queues not served: ${unserved.map((q) => q.name).join(', ') || `${ns}.rpc.catalog`}`;
        return false;
      }
      // The plays queue: a quorum_status is a command-line run.
      const lagging = await replicaLag(cluster, `${ns}.history.track-played`);
      if (lagging) {
        last = `${ns}.history.track-played: ${lagging}`;
        return false;
      }
      return true;
    },
    timeoutMs,
    1000,
  ).catch((err: Error) => {
    throw new Error(`the cluster did not become whole: ${err.message}; ${last}`);
  });
  return Date.now() - started;
}

/** Null when every member of a quorum queue has committed what its leader has, else who lags. */
async function replicaLag(cluster: BrokerCluster, queue: string): Promise<string | null> {
  const node = await cluster.serving();
  const out = await cluster.cli(node.index, 'rabbitmq-queues', [
    'quorum_status',
    queue,
    '--formatter',
    'json',
  ]);
  const members = JSON.parse(out.slice(out.indexOf('['), out.lastIndexOf(']') + 1)) as Array<{
    'Node Name': string;
    'Raft State': string;
    'Commit Index': number;
  }>;
  const leader = members.find((m) => m['Raft State'] === 'leader');
  if (!leader || members.length !== cluster.nodes.length) return `members ${JSON.stringify(members)}`;
  const behind = members.filter((m) => m['Commit Index'] < leader['Commit Index']);
  return behind.length > 0 ? `behind the leader: ${behind.map((m) => m['Node Name']).join(', ')}` : null;
}

/**
 * Node (by name) of each of the system's processes' connections, as a node that answers sees
 * them now (rabbitmqctl: the management API's list lags by its statistics interval, 5 s).
 */
export async function connectionsByNode(
  cluster: BrokerCluster,
  system: System,
  except: number[] = [],
): Promise<Map<string, string[]>> {
  const node = await cluster.serving(except);
  const out = await cluster.cli(node.index, 'rabbitmqctl', [
    'list_connections',
    '-q',
    '--no-table-headers',
    '--timeout',
    '15',
    'pid',
    'client_properties',
  ]);
  const labels = new Map(system.procs.filter((p) => !p.exit).map((p) => [p.pid, p.label]));
  const byNode = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    // The connection's process id names its node: <name@a.b.c.d.x.y.z>.
    const m = /^<([^@<>]+@\d+\.\d+\.\d+\.\d+)\.[\d.]+>\s.*\{"connection_name","[^"#]*#(\d+)"\}/.exec(
      line.trim(),
    );
    const label = m ? labels.get(Number(m[2])) : undefined;
    if (!m || !label) continue;
    byNode.set(m[1]!, [...(byNode.get(m[1]!) ?? []), label]);
  }
  return byNode;
}

export { report };
