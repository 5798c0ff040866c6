import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Broker } from '../../common/amqp/broker.js';
import type { Config } from '../../common/config.js';
import type { System } from '../../common/system.js';
import type { GatewayOptions } from '../../gateway/app.js';
import { type RunningGateway, startGateway } from '../../gateway/server.js';
import { cleanupBroker, connectBroker, namespace, silentLogger, testConfig } from './env.js';
import { FakeServices } from './fake-services.js';

/** A PCM WAV file: a 44-byte header and `dataBytes` of a repeating, position-dependent pattern. */
export function wavBytes(dataBytes: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(8000, 24); // sample rate
  header.writeUInt32LE(8000, 28); // byte rate
  header.writeUInt16LE(1, 32); // block align
  header.writeUInt16LE(8, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = i % 251;
  return Buffer.concat([header, data]);
}

export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

export interface RequestOptions {
  method?: string;
  /** Sent as JSON unless it is already a string or a Buffer. */
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
}

export interface GatewayHarness {
  ns: string;
  url: string;
  fakes: FakeServices;
  gateway: RunningGateway;
  /** A broker connection in the gateway's namespace, for serving extra test services. */
  serviceBroker: Broker;
  audio: Buffer;
  audioPath: string;
  request(path: string, opts?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * The gateway (as its process starts it, on port 0) with a real broker connection, RPC client
 * and publisher in a test namespace, in front of the in-memory fake services.
 */
export async function startTestGateway(
  opts: {
    rpcTimeoutMs?: number;
    options?: GatewayOptions;
    logger?: Logger;
    /** Settings other than the defaults (caps, throttling, token cache). */
    config?: Partial<Config>;
    /** The services the gateway fronts (default: the music system's). */
    system?: System;
  } = {},
): Promise<GatewayHarness> {
  const ns = namespace('gw');
  const dir = await mkdtemp(join(tmpdir(), `${ns}-`));
  const audio = wavBytes(4000);
  const audioPath = join(dir, 'track.wav');
  await writeFile(audioPath, audio);

  const serviceBroker = await connectBroker(ns, 'fake-services');
  const fakes = new FakeServices(serviceBroker, audioPath);
  await fakes.start();
  const gateway = await startGateway({
    config: testConfig({ port: 0, rpcTimeoutMs: opts.rpcTimeoutMs ?? 5000, ...opts.config }),
    logger: opts.logger ?? silentLogger,
    namespace: ns,
    options: opts.options,
    ...(opts.system ? { system: opts.system } : {}),
    drainMs: 2000,
  });
  const url = `http://127.0.0.1:${gateway.port}`;

  async function request(path: string, ro: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...ro.headers };
    if (ro.token) headers.authorization = `Bearer ${ro.token}`;
    let body: string | Buffer | undefined;
    if (typeof ro.body === 'string' || Buffer.isBuffer(ro.body)) body = ro.body;
    else if (ro.body !== undefined) body = JSON.stringify(ro.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${url}${path}`, { method: ro.method ?? 'GET', headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    if (res.headers.get('content-type')?.includes('json')) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  return {
    ns,
    url,
    fakes,
    gateway,
    serviceBroker,
    audio,
    audioPath,
    request,
    async close() {
      await gateway.stop();
      await fakes.stop();
      await serviceBroker.close();
      await cleanupBroker(ns);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
