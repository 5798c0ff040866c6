import { EventEmitter } from 'node:events';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import { config, parseAmqpUrls } from '../config.js';
import { UnavailableError } from '../errors.js';
import { withTimeout } from '../timeout.js';
import { coalesceWrites } from './coalesce.js';

export interface BrokerOptions {
  /** One broker URL, or a comma-separated list of a cluster's nodes (the syntax of AMQP_URL). */
  url: string;
  /** Shown as the connection name in the management UI. */
  name: string;
  logger: Logger;
  /**
   * Prefix for every exchange and queue this broker declares or uses. Empty in production;
   * tests give each test its own so they never see each other's messages.
   */
  namespace?: string;
  /** Give up on the first connection after this many failed attempts (default 10). */
  initialRetries?: number;
  /**
   * Type of the queues that hold work (default: QUEUE_TYPE, quorum unless set: replicated across
   * a cluster); classic only for brokers without quorum queues.
   */
  queueType?: 'quorum' | 'classic';
  /** AMQP heartbeat in seconds (default: AMQP_HEARTBEAT). */
  heartbeatSeconds?: number;
  /** How long a probe of a suspect connection waits for the broker (default PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number;
}

/**
 * Something that lives on the connection: it opens its channels and declares its topology
 * and consumers. It runs on the first connect and again after every reconnect; the channels
 * it returns are watched, and if one closes while the connection stays up the attachment is
 * run again on a fresh channel.
 */
export type Attachment = (model: ChannelModel) => Promise<Array<Channel | ConfirmChannel>>;

/** Reconnect back-off: 100 ms doubling to 2 s, ±20 %, so a restarted or other node is found quickly. */
const BACKOFF = { initialMs: 100, maxMs: 2000, factor: 2, jitter: 0.2 } as const;
/**
 * A node that does not complete the AMQP handshake within this time is skipped for the next
 * one (a node cut off by the network drops the packets: without a bound, connect waits minutes).
 */
const CONNECT_TIMEOUT_MS = 5000;
/**
 * A connection whose attachments have not all run within this time is given up for the next
 * node: a declaration the node cannot answer (it waits on a lost peer) would otherwise hold
 * the process half-connected until that peer returns, with its publisher closed meanwhile.
 */
const SETUP_TIMEOUT_MS = 10_000;
/**
 * A connection a caller suspects (`suspect`: an answer is late) is asked for a round trip (a
 * channel opened and closed); with no answer within this time it is given up for the next node,
 * as two missed heartbeats would give it up, but seconds sooner. A node cut off by the network
 * sends nothing, not even an error: without the probe, RPC through it fails until the
 * heartbeats run out (2 x AMQP_HEARTBEAT).
 */
export const PROBE_TIMEOUT_MS = 2000;
/**
 * An answer awaited on the connection (an RPC reply, a publish's confirm) later than this makes
 * the broker suspect the connection (`watchAnswers`, `suspect`); looked at every LATE_CHECK_MS.
 */
const LATE_ANSWER_MS = 1000;
const LATE_CHECK_MS = 250;
/** After a probe, the next one waits this long: a slow service costs a round trip a second at most. */
const PROBE_INTERVAL_MS = 1000;

/** The delay before reconnect attempt `attempt` (1, 2, ...). */
export function backoffMs(attempt: number, random = Math.random): number {
  // The base is capped so that base plus the largest jitter is exactly the maximum.
  const base = Math.min(
    BACKOFF.maxMs / (1 + BACKOFF.jitter),
    BACKOFF.initialMs * BACKOFF.factor ** (attempt - 1),
  );
  return Math.round(base + base * BACKOFF.jitter * (random() * 2 - 1));
}

/** A random order of the nodes (Fisher-Yates), so the processes of a system spread over them. */
export function shuffled<T>(items: readonly T[], random = Math.random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** An exchange or queue name in a namespace (`<namespace>.<base>`; the base alone without one). */
export function namespaced(namespace: string, base: string): string {
  return namespace ? `${namespace}.${base}` : base;
}

/** The user an AMQP URL (or the first of a list) logs in as; amqplib's default is guest. */
export function urlUser(url: string): string {
  return decodeURIComponent(new URL(url.split(',')[0]!.trim()).username) || 'guest';
}

/** `host:port` of a node URL: what logs say about a node (never its credentials). */
export function nodeOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? 5671 : 5672)}`;
}

/**
 * One AMQP connection per process, shared by the RPC server, RPC client, event publisher and
 * consumers, that reconnects by itself: when it loses its node (or cannot reach it) it tries
 * the next node of its list after a short back-off, for as long as the process lives, and
 * re-runs every attachment on the new connection, the one mechanism by which every component
 * declares its topology and consumers. amqplib's own recovery reconnects to a single URL; this
 * loop does the same over a list of nodes.
 */
export class Broker extends EventEmitter {
  readonly namespace: string;
  readonly queueType: 'quorum' | 'classic';
  readonly log: Logger;
  /** The connection, from the moment its attachments start running. */
  private model: ChannelModel | null = null;
  /** Whether every attachment has run on `model`: what `connected` reports. */
  private ready = false;
  private readonly attachments = new Set<Attachment>();
  private readonly urls: string[];
  private readonly username: string;
  private readonly heartbeat: number;
  /** Index in `urls` of the node the next attempt goes to. */
  private next = 0;
  /** Failed attempts since the last connection. */
  private failures = 0;
  private connectedOnce = false;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly first: Promise<void>;
  private settleFirst: ((err?: Error) => void) | null = null;
  /** A probe in flight, and when the last one ended (see `suspect`). */
  private probing = false;
  private probedAt = 0;
  /** The broker holds back this connection's publishing (a resource alarm): it reads nothing from it. */
  private blocked = false;
  /** Each component's oldest answer awaited, and the one timer that looks at them (watchAnswers). */
  private readonly awaited = new Set<() => number | undefined>();
  private lateCheck: NodeJS.Timeout | null = null;

  private constructor(private readonly opts: BrokerOptions) {
    super();
    this.namespace = opts.namespace ?? '';
    this.queueType = opts.queueType ?? config().queueType;
    this.log = opts.logger.child({ module: 'broker' });
    const urls = parseAmqpUrls(opts.url);
    if (!urls) throw new Error('invalid broker URL list (see AMQP_URL)');
    this.urls = shuffled(urls);
    // Every node of a list is logged in to with the same credentials.
    this.username = urlUser(opts.url);
    this.heartbeat = opts.heartbeatSeconds ?? config().amqpHeartbeatSeconds;
    this.first = new Promise((resolve, reject) => {
      this.settleFirst = (err) => (err ? reject(err) : resolve());
    });
  }

  /** Connects to one of the nodes; rejects after `initialRetries` failed attempts. */
  static async connect(opts: BrokerOptions): Promise<Broker> {
    const broker = new Broker(opts);
    void broker.attempt();
    await broker.first;
    return broker;
  }

  /** Applies the namespace to an exchange or queue name. */
  name(base: string): string {
    return namespaced(this.namespace, base);
  }

  /** The broker user this connection logs in as: what it sets as a message's `user-id`. */
  get user(): string {
    return this.username;
  }

  get connected(): boolean {
    return this.model !== null && this.ready;
  }

  /** Runs `attachment` now (if connected) and after every reconnect, until the returned detach is called. */
  async attach(attachment: Attachment): Promise<() => void> {
    this.attachments.add(attachment);
    const model = this.model;
    if (model) await this.run(model, attachment);
    return () => {
      this.attachments.delete(attachment);
    };
  }

  /** A channel for one-off work (tests, admin scripts); the caller closes it. */
  async channel(): Promise<Channel> {
    if (!this.model) throw new UnavailableError('not connected to the message broker');
    const ch = await this.model.createChannel();
    ch.on('error', (err) => this.log.debug({ err: err.message }, 'ad-hoc channel error'));
    return ch;
  }

  /** A confirm channel for one-off work (admin scripts); the caller closes it. */
  async confirmChannel(): Promise<ConfirmChannel> {
    if (!this.model) throw new UnavailableError('not connected to the message broker');
    const ch = await this.model.createConfirmChannel();
    ch.on('error', (err) => this.log.debug({ err: err.message }, 'ad-hoc channel error'));
    return ch;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.attachments.clear();
    if (this.lateCheck) clearInterval(this.lateCheck);
    this.lateCheck = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.settleFirst?.(new UnavailableError('broker connection closed before it connected'));
    const model = this.model;
    this.model = null;
    this.ready = false;
    await model?.close().catch(() => {});
  }

  /**
   * A component says since when (performance.now()) the oldest answer it awaits on this
   * connection has been awaited (undefined: none): one later than LATE_ANSWER_MS makes the
   * broker suspect the connection. Returns the function that stops watching.
   */
  watchAnswers(oldest: () => number | undefined): () => void {
    this.awaited.add(oldest);
    this.lateCheck ??= setInterval(() => {
      const now = performance.now();
      for (const since of this.awaited) {
        const at = since();
        if (at !== undefined && now - at > LATE_ANSWER_MS) return this.suspect();
      }
    }, LATE_CHECK_MS).unref();
    return () => {
      this.awaited.delete(oldest);
    };
  }

  /**
   * Something sent on the connection has not been answered in time (an RPC reply is late): the
   * broker is asked for a round trip, and if none comes within the probe's timeout the
   * connection is given up and made again, on the next node. At most one probe at a time and
   * one a second; none while the broker blocks the connection (it then reads nothing from it).
   */
  suspect(): void {
    const model = this.model;
    if (!model || !this.ready || this.probing || this.blocked || this.closing) return;
    if (performance.now() - this.probedAt < PROBE_INTERVAL_MS) return;
    this.probing = true;
    const timeoutMs = this.opts.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
    const timer = setTimeout(() => {
      if (this.model !== model || this.blocked) return;
      this.log.warn({ timeoutMs }, 'the broker did not answer a probe; giving the connection up');
      // The socket is dropped with an error, as a missed heartbeat drops it, not closed
      // politely: a close would wait for the same silent broker.
      const socket = (model as unknown as { connection?: { stream?: { destroy?: (err: Error) => void } } })
        .connection?.stream;
      socket?.destroy?.(new Error(`the broker did not answer a probe within ${timeoutMs} ms`));
    }, timeoutMs);
    void (async () => {
      const ch = await model.createChannel();
      ch.on('error', () => {});
      await ch.close();
    })()
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        this.probing = false;
        this.probedAt = performance.now();
      });
  }

  /** One connection attempt to the next node; on success the attachments run on it. */
  private async attempt(): Promise<void> {
    if (this.closing) return;
    const url = this.urls[this.next]!;
    this.next = (this.next + 1) % this.urls.length;
    const node = nodeOf(url);
    let model: ChannelModel | null = null;
    try {
      model = await amqp.connect(withHeartbeat(url, this.heartbeat), {
        noDelay: true,
        timeout: CONNECT_TIMEOUT_MS,
        clientProperties: { connection_name: `${this.opts.name}#${process.pid}` },
      });
      const current = model;
      let live = false;
      let lost: Error | null = null;
      current.on('error', (err: Error) => this.log.warn({ err: err.message, node }, 'connection error'));
      current.on('blocked', (reason: string) => {
        if (this.model === current) this.blocked = true;
        this.log.warn({ reason, node }, 'broker blocked publishing');
      });
      current.on('unblocked', () => {
        if (this.model === current) this.blocked = false;
        this.log.info({ node }, 'broker unblocked publishing');
      });
      current.once('close', (err?: Error) => {
        lost = err ?? new Error('connection closed');
        if (live) this.lose(current, lost, node);
      });
      if (this.closing) throw new Error('closing');
      await withTimeout(this.setup(current), SETUP_TIMEOUT_MS, `setting up on ${node}`);
      // A connection that closed while the attachments ran is no connection.
      if (lost) throw lost;
      if (this.closing) throw new Error('closing');
      live = true;
      this.ready = true;
      this.failures = 0;
      this.connectedOnce = true;
      this.log.info({ node, attachments: this.attachments.size }, 'connected to broker');
      this.settleFirst?.();
      this.settleFirst = null;
      this.emit('connect');
    } catch (err) {
      if (this.model === model) this.model = null;
      model?.close().catch(() => {});
      if (this.closing) return;
      const error = err instanceof Error ? err : new Error(String(err));
      this.failures++;
      this.log.warn({ err: error.message, node }, 'connect attempt failed');
      if (!this.connectedOnce && this.failures >= (this.opts.initialRetries ?? 10)) {
        const refused = /ACCESS.REFUSED/.test(error.message)
          ? `: the broker refused its user ${this.username} (\`npm run broker-users\`, which ./start.sh runs, makes the system's users)`
          : '';
        this.log.error({ err: error.message }, `gave up connecting to the broker${refused}`);
        this.settleFirst?.(error);
        this.settleFirst = null;
        this.emit('fatal', error);
        return;
      }
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.closing || this.timer) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.attempt();
      },
      backoffMs(Math.max(1, this.failures)),
    );
  }

  private lose(model: ChannelModel, err: Error, node: string): void {
    if (this.model !== model) return;
    this.model = null;
    this.ready = false;
    this.blocked = false;
    if (this.closing) return;
    this.log.warn({ err: err.message, node }, 'disconnected from broker; reconnecting');
    this.emit('disconnect', err);
    this.schedule();
  }

  /** Runs every attachment on a new connection, before it is reported as connected. */
  private async setup(model: ChannelModel): Promise<void> {
    coalesceWrites(model);
    this.ready = false;
    this.blocked = false;
    this.model = model;
    for (const attachment of [...this.attachments]) await this.run(model, attachment);
  }

  private async run(model: ChannelModel, attachment: Attachment): Promise<void> {
    const channels = await attachment(model);
    let rerun = false;
    for (const ch of channels) {
      ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'channel error'));
      ch.on('handler-error', (err: Error, event: string) =>
        this.log.error({ err, event }, 'channel listener threw'),
      );
      ch.once('close', () => {
        // A channel closed under a live connection (e.g. a broker-side channel error):
        // close its siblings and run the attachment again on fresh channels.
        if (rerun || this.closing || this.model !== model || !this.attachments.has(attachment)) return;
        rerun = true;
        for (const other of channels) if (other !== ch) other.close().catch(() => {});
        setTimeout(() => {
          if (this.model !== model || !this.attachments.has(attachment)) return;
          this.run(model, attachment).catch((err: Error) => {
            this.log.error({ err: err.message }, 'could not reopen channel; closing connection to recover');
            model.close().catch(() => {});
          });
        }, 200);
      });
    }
  }
}

/** The URL with our heartbeat unless it names its own (`?heartbeat=`). */
function withHeartbeat(url: string, seconds: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
  return u.toString();
}
