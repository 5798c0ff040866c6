import { EventEmitter } from 'node:events';
import amqp, {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type RecoveringChannelModel,
} from 'amqplib';
import type { Logger } from 'pino';
import { UnavailableError } from '../errors.js';

export interface BrokerOptions {
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
   * Type of the queues that hold work (default quorum: replicated across a cluster); classic
   * only for brokers without quorum queues.
   */
  queueType?: 'quorum' | 'classic';
}

/**
 * Something that lives on the connection: it opens its channels and declares its topology
 * and consumers. It runs on the first connect and again after every reconnect; the channels
 * it returns are watched, and if one closes while the connection stays up the attachment is
 * run again on a fresh channel.
 */
export type Attachment = (model: ChannelModel) => Promise<Array<Channel | ConfirmChannel>>;

/**
 * One recovering AMQP connection per process (amqplib's built-in recovery), shared by the RPC
 * server, RPC client, event publisher and consumers. Topology is re-declared on every connect
 * by re-running each attachment, the one mechanism used by every component.
 */
export class Broker extends EventEmitter {
  readonly namespace: string;
  readonly queueType: 'quorum' | 'classic';
  readonly log: Logger;
  private model: ChannelModel | null = null;
  private readonly attachments = new Set<Attachment>();
  private closing = false;

  private constructor(
    private readonly conn: RecoveringChannelModel,
    opts: BrokerOptions,
  ) {
    super();
    this.namespace = opts.namespace ?? '';
    this.queueType = opts.queueType ?? 'quorum';
    this.log = opts.logger.child({ module: 'broker' });
  }

  static async connect(opts: BrokerOptions): Promise<Broker> {
    let broker: Broker | undefined;
    const conn = await amqp.connect(opts.url, {
      noDelay: true,
      clientProperties: { connection_name: `${opts.name}#${process.pid}` },
      recovery: {
        initialDelay: 100,
        // Short enough that a restarted broker is found again within a couple of seconds.
        maxDelay: 2000,
        maxRetries: Number.POSITIVE_INFINITY,
        initialMaxRetries: opts.initialRetries ?? 10,
        waitForConnect: false,
        setup: async (model: ChannelModel) => {
          if (broker) await broker.setup(model);
        },
      },
    });
    broker = new Broker(conn, opts);
    broker.bind();
    await conn.waitForConnect();
    return broker;
  }

  /** Applies the namespace to an exchange or queue name. */
  name(base: string): string {
    return this.namespace ? `${this.namespace}.${base}` : base;
  }

  get connected(): boolean {
    return this.model !== null;
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

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.attachments.clear();
    await this.conn.close().catch(() => {});
    this.model = null;
  }

  private bind(): void {
    this.conn.on('error', (err: Error) => this.log.warn({ err: err.message }, 'connection error'));
    this.conn.on('handler-error', (err: Error, event: string) =>
      this.log.error({ err, event }, 'connection listener threw'),
    );
    this.conn.on('disconnect', (err: Error) => {
      this.model = null;
      this.log.warn({ err: err.message }, 'disconnected from broker; reconnecting');
      this.emit('disconnect', err);
    });
    this.conn.on('connect-failed', (err: Error) =>
      this.log.warn({ err: err.message }, 'connect attempt failed'),
    );
    this.conn.on('reconnect-failed', (err: Error) => {
      this.log.error({ err: err.message }, 'gave up reconnecting to broker');
      this.emit('fatal', err);
    });
    this.conn.on('blocked', (reason: string) => this.log.warn({ reason }, 'broker blocked publishing'));
    this.conn.on('unblocked', () => this.log.info('broker unblocked publishing'));
  }

  /** Called by amqplib's recovery on every successful (re)connect, before it reports 'connect'. */
  private async setup(model: ChannelModel): Promise<void> {
    model.on('error', () => {});
    coalesceWrites(model);
    this.model = model;
    const snapshot = [...this.attachments];
    try {
      for (const attachment of snapshot) await this.run(model, attachment);
    } catch (err) {
      this.model = null;
      throw err;
    }
    this.log.info({ attachments: snapshot.length }, 'connected to broker');
    this.emit('connect');
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

interface MuxInternals {
  connection?: {
    stream?: { cork?: () => void; uncork?: () => void };
    muxer?: { _readIncoming?: () => void };
  };
}

/**
 * amqplib's muxer hands every frame it has ready to the socket in its own write(): with
 * noDelay, a syscall and a TCP segment each (a reply and its ack, every request of a busy
 * tick). Corking the socket while the muxer drains sends them in one writev. Measured with
 * 64 RPCs in flight: ~20-40% less broker CPU and ~20% less worker CPU per call, 1.3-1.9x the
 * calls per second. Backpressure is unchanged (write() still reports a full buffer and the
 * muxer waits for 'drain'). These are amqplib 2.x internals, so they are feature-detected:
 * without them nothing changes.
 */
function coalesceWrites(model: ChannelModel): void {
  const { stream, muxer } = (model as unknown as MuxInternals).connection ?? {};
  const cork = stream?.cork;
  const uncork = stream?.uncork;
  const drain = muxer?._readIncoming;
  if (!muxer || typeof cork !== 'function' || typeof uncork !== 'function' || typeof drain !== 'function')
    return;
  muxer._readIncoming = () => {
    cork.call(stream);
    try {
      drain.call(muxer);
    } finally {
      uncork.call(stream);
    }
  };
}
