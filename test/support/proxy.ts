import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export interface ProxyTarget {
  host: string;
  port: number;
}

function listen(port: number, onConnection: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(onConnection);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * A TCP proxy between the system's processes and one piece of shared infrastructure (RabbitMQ,
 * PostgreSQL). Cutting it destroys every connection through it and refuses new ones, which is
 * what those processes see when the broker or database goes down, while the real server and
 * everybody else using it carry on untouched.
 */
export class TcpProxy {
  /** Client-side sockets, each with its upstream twin. */
  private readonly links = new Map<Socket, Socket>();
  private cutAt: number | null = null;
  /** Connections kept open with nothing carried either way (see `silence`). */
  private silent = false;
  /**
   * Extra delay on every chunk, both ways: a slow network or an overloaded server, which keeps
   * work in flight longer (e.g. so a worker holds unacked messages when it is killed).
   */
  latencyMs = 0;

  private constructor(
    private server: Server | null,
    readonly port: number,
    private readonly target: ProxyTarget,
  ) {}

  /** Listens on a free local port and forwards every connection to `target`. */
  static async open(target: ProxyTarget): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = await listen(0, (client) => {
      if (proxy) proxy.forward(client);
      else client.destroy();
    });
    proxy = new TcpProxy(server, (server.address() as { port: number }).port, target);
    return proxy;
  }

  get isCut(): boolean {
    return this.cutAt !== null;
  }

  /** Connections open through the proxy right now. */
  get connections(): number {
    return this.links.size;
  }

  /** Destroys every connection and stops listening, so new ones are refused (ECONNREFUSED). */
  async cut(): Promise<void> {
    if (this.cutAt !== null && !this.silent) return;
    this.cutAt ??= Date.now();
    this.silent = false;
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined;
    this.dropLinks();
    await closed;
  }

  /**
   * What a node cut off by dropped packets looks like: the connections through the proxy stay
   * open, but not a byte goes through either way, and new ones are refused. Neither side is
   * told: only a timeout or a missed heartbeat can notice.
   */
  async silence(): Promise<void> {
    if (this.cutAt !== null) return;
    this.cutAt = Date.now();
    this.silent = true;
    // Stops listening at once; its callback would wait for the silenced connections to end.
    this.server?.close();
    this.server = null;
  }

  /** Listens again on the same port; resolves with how long the proxy was cut, in ms. */
  async restore(): Promise<number> {
    if (this.cutAt === null) return 0;
    if (this.silent) {
      // What went silent is broken for good, as after a real cut.
      this.silent = false;
      this.dropLinks();
    }
    this.server = await listen(this.port, (client) => this.forward(client));
    const ms = Date.now() - this.cutAt;
    this.cutAt = null;
    return ms;
  }

  private dropLinks(): void {
    for (const [client, upstream] of this.links) {
      client.destroy();
      upstream.destroy();
    }
    this.links.clear();
  }

  /** Cuts for good (end of a run). */
  close(): Promise<void> {
    return this.cut();
  }

  private forward(client: Socket): void {
    if (this.cutAt !== null) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect({ host: this.target.host, port: this.target.port, noDelay: true });
    client.setNoDelay(true);
    this.links.set(client, upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.links.delete(client);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    this.relay(client, upstream);
    this.relay(upstream, client);
  }

  /** Copies `from` to `to`, each chunk after the current latency, never out of order. */
  private relay(from: Socket, to: Socket): void {
    let due = 0;
    from.on('data', (chunk: Buffer) => {
      if (this.silent) return;
      const now = Date.now();
      if (this.latencyMs <= 0 && due <= now) {
        to.write(chunk);
        return;
      }
      due = Math.max(due, now + this.latencyMs);
      setTimeout(() => to.destroyed || to.write(chunk), due - now);
    });
  }
}
