/**
 * A RabbitMQ cluster of the test's own, managed by scripts/broker-cluster.sh (the same script
 * ./start.sh --broker-nodes uses): its own node names, loopback addresses, ports and folder,
 * so it shares nothing with the machine's broker or with another test's cluster. Destroyed at
 * the end, also when the test process dies.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { managementGet, type QueueDetails } from './env.js';
import { ScriptedResource } from './scripts.js';

export interface ClusterNode {
  /** 1-based, as the script counts. */
  index: number;
  name: string;
  address: string;
  amqpUrl: string;
  managementUrl: string;
}

export interface NodeStatus {
  name: string;
  pid: number | null;
  state: 'running' | 'not-serving' | 'stopped';
  leads: number;
}

/** Whether `port` can be listened on at `host` now. */
function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * The scripts/broker-cluster.sh settings of a cluster nobody else uses: a random node name
 * prefix, a random 127.x.y network, and ports free on every node's address.
 */
export async function clusterSettings(count: number, label = 't'): Promise<Record<string, string>> {
  const net = `127.${randomInt(100, 200)}.${randomInt(1, 250)}`;
  const hosts = Array.from({ length: count }, (_, k) => `${net}.${k + 1}`);
  // A base whose ports (base + node) are free on every node's address.
  const base = async () => {
    for (;;) {
      const b = randomInt(20, 60) * 1000 + randomInt(0, 90) * 10;
      const ok = await Promise.all(hosts.map((h, k) => canListen(h, b + k + 1)));
      if (ok.every(Boolean)) return b;
    }
  };
  return {
    BROKER_NAME: `${label}${randomBytes(3).toString('hex')}`,
    BROKER_NET: net,
    BROKER_AMQP_PORT: String(await base()),
    BROKER_MANAGEMENT_PORT: String(await base()),
    BROKER_DIST_PORT: String(await base()),
    BROKER_EPMD_PORT: String(await epmdPort(hosts)),
  };
}

/** A port free on 127.0.0.1 and on every node's address, for the cluster's epmd. */
async function epmdPort(hosts: string[]): Promise<number> {
  for (;;) {
    const port = randomInt(20_000, 60_000);
    const ok = await Promise.all(['127.0.0.1', ...hosts].map((h) => canListen(h, port)));
    if (ok.every(Boolean)) return port;
  }
}

export class BrokerCluster {
  readonly nodes: ClusterNode[];
  /** `destroy` also runs if the test process dies: no Erlang VM, epmd or iptables rule stays. */
  private readonly resource: ScriptedResource;
  private lastServing: ClusterNode | null = null;

  private constructor(
    readonly dir: string,
    env: Record<string, string>,
    count: number,
  ) {
    this.resource = new ScriptedResource('broker-cluster.sh', env, ['destroy']);
    const net = env.BROKER_NET!;
    this.nodes = Array.from({ length: count }, (_, k) => {
      const index = k + 1;
      const address = `${net}.${index}`;
      return {
        index,
        name: `${env.BROKER_NAME}-${index}@${address}`,
        address,
        amqpUrl: `amqp://guest:guest@${address}:${Number(env.BROKER_AMQP_PORT) + index}`,
        managementUrl: `http://${address}:${Number(env.BROKER_MANAGEMENT_PORT) + index}`,
      };
    });
  }

  /** Starts `count` nodes (default 3) and joins them. */
  static async start(opts: { nodes?: number; label?: string } = {}): Promise<BrokerCluster> {
    const count = opts.nodes ?? 3;
    const dir = await mkdtemp(join(tmpdir(), 'music-cluster-'));
    const env = { BROKER_DIR: dir, ...(await clusterSettings(count, opts.label)) };
    const cluster = new BrokerCluster(dir, env, count);
    try {
      await cluster.script(['start', String(count)], 300_000);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** AMQP_URL of the whole cluster. */
  get amqpUrl(): string {
    return this.nodes.map((n) => n.amqpUrl).join(',');
  }

  node(index: number): ClusterNode {
    const node = this.nodes[index - 1];
    if (!node) throw new Error(`no node ${index}`);
    return node;
  }

  /** Runs the cluster script; resolves with its output, rejects with it. */
  script(args: string[], timeoutMs = 180_000): Promise<string> {
    return this.resource.run(args, timeoutMs);
  }

  kill(index: number): Promise<string> {
    return this.script(['kill', String(index)]);
  }

  startNode(index: number): Promise<string> {
    return this.script(['start-node', String(index)]);
  }

  /** Rolling restart of one node (waits until no quorum queue needs it, drains, stops, starts). */
  restart(index: number): Promise<string> {
    return this.script(['restart', String(index)], 300_000);
  }

  cut(index: number): Promise<string> {
    return this.script(['cut', String(index)]);
  }

  heal(index?: number): Promise<string> {
    return this.script(index === undefined ? ['heal'] : ['heal', String(index)]);
  }

  /** rabbitmqctl (or another tool) on a node. */
  cli(index: number, tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
    return this.script(['cli', String(index), tool, ...args], timeoutMs);
  }

  /** Each node as `status` reports it. */
  async status(): Promise<NodeStatus[]> {
    const out = await this.script(['status']);
    return this.nodes.map((n) => {
      const line = out.split('\n').find((l) => l.startsWith(`${n.name} `)) ?? '';
      const [, , , pid, state, leads] = line.trim().split(/\s+/);
      return {
        name: n.name,
        pid: pid && pid !== '-' ? Number(pid) : null,
        state: (state as NodeStatus['state']) ?? 'stopped',
        leads: Number(leads ?? 0),
      };
    });
  }

  /**
   * A node that answers its management API, for questions about the cluster: the one that
   * answered last if it still does (a node cut off makes a request hang until its timeout).
   */
  async serving(except: number[] = []): Promise<ClusterNode> {
    const order = [...this.nodes].sort(
      (a, b) => Number(b === this.lastServing) - Number(a === this.lastServing),
    );
    for (const n of order) {
      if (except.includes(n.index)) continue;
      const ok = await managementGet('/api/overview', n.managementUrl, 2000).then(
        () => true,
        () => false,
      );
      if (ok) {
        this.lastServing = n;
        return n;
      }
    }
    throw new Error('no node of the cluster answers');
  }

  /** A queue as a serving node describes it. */
  async queue(name: string, except: number[] = []): Promise<QueueDetails> {
    const n = await this.serving(except);
    return managementGet<QueueDetails>(`/api/queues/%2F/${encodeURIComponent(name)}`, n.managementUrl);
  }

  /** Every queue as a serving node describes it. */
  async queues(except: number[] = []): Promise<QueueDetails[]> {
    const n = await this.serving(except);
    return managementGet<QueueDetails[]>(
      '/api/queues/%2F?columns=name,type,node,leader,members,online,messages,messages_ready,messages_unacknowledged,consumers',
      n.managementUrl,
    );
  }

  /** The node (index) that leads a quorum queue. */
  async leaderOf(queue: string, except: number[] = []): Promise<number> {
    const q = await this.queue(queue, except);
    const node = this.nodes.find((n) => n.name === (q.leader ?? q.node));
    if (!node) throw new Error(`${queue} has no leader (${q.leader ?? q.node})`);
    return node.index;
  }

  /** Stops every node, removes iptables rules, epmd and the folder. */
  destroy(): Promise<void> {
    return this.resource.teardown();
  }
}
