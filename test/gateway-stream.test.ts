import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../common/errors.js';
import { type GatewayHarness, startTestGateway } from './support/gateway-harness.js';

let gw: GatewayHarness;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

async function stream(range?: string, extra: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(`${gw.url}/api/tracks/t1/stream`, {
    method,
    headers: range ? { range, ...extra } : extra,
  });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('GET /api/tracks/:id/stream', () => {
  it('sends the whole file with its type, length and range support', async () => {
    const { res, bytes } = await stream();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('content-length')).toBe(String(gw.audio.length));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('etag')).toBeTruthy();
    expect(res.headers.get('last-modified')).toBeTruthy();
    expect(bytes.equals(gw.audio)).toBe(true);
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('RIFF');
  });

  it('answers bytes=a-b with 206 and exactly those bytes', async () => {
    const { res, bytes } = await stream('bytes=10-109');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 10-109/${gw.audio.length}`);
    expect(res.headers.get('content-length')).toBe('100');
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(bytes.equals(gw.audio.subarray(10, 110))).toBe(true);
  });

  it('answers an open range bytes=a- with the rest of the file', async () => {
    const { res, bytes } = await stream('bytes=4000-');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 4000-${gw.audio.length - 1}/${gw.audio.length}`);
    expect(bytes.equals(gw.audio.subarray(4000))).toBe(true);
  });

  it('answers a suffix range bytes=-n with the last n bytes', async () => {
    const { res, bytes } = await stream('bytes=-50');
    expect(res.status).toBe(206);
    const size = gw.audio.length;
    expect(res.headers.get('content-range')).toBe(`bytes ${size - 50}-${size - 1}/${size}`);
    expect(bytes.equals(gw.audio.subarray(size - 50))).toBe(true);
  });

  it('clamps a range running past the end', async () => {
    const size = gw.audio.length;
    const { res, bytes } = await stream(`bytes=${size - 10}-${size + 1000}`);
    expect(res.status).toBe(206);
    expect(bytes.equals(gw.audio.subarray(size - 10))).toBe(true);
  });

  it('answers 416 with the size for an unsatisfiable range', async () => {
    const size = gw.audio.length;
    const { res, bytes } = await stream(`bytes=${size}-${size + 10}`);
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(JSON.parse(bytes.toString())).toMatchObject({ error: { code: ErrorCodes.INVALID_REQUEST } });
  });

  it('answers HEAD with the headers only and If-None-Match with 304', async () => {
    const head = await stream(undefined, {}, 'HEAD');
    expect(head.res.status).toBe(200);
    expect(head.res.headers.get('content-length')).toBe(String(gw.audio.length));
    expect(head.bytes.length).toBe(0);
    // fetch turns a conditional request into a no-cache one (per the Fetch spec), so plain http.
    const etag = head.res.headers.get('etag')!;
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http
        .get(`${gw.url}/api/tracks/t1/stream`, { headers: { 'if-none-match': etag } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on('error', reject);
    });
    expect(status).toBe(304);
  });

  it('answers 404 for an unknown track and for a track whose file is missing', async () => {
    const unknown = await gw.request('/api/tracks/nope/stream');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: ErrorCodes.NOT_FOUND } });
    const missing = await gw.request('/api/tracks/t2/stream');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/json/);
    expect((missing.body as { error: { message: string } }).error.message).toMatch(/t2/);
    expect(missing.text).not.toContain(gw.audioPath);
  });
});
