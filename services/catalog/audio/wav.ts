/** 16-bit PCM mono WAV: the simplest format every player and browser understands. */

export const WAV_HEADER_BYTES = 44;

export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Bytes of sample data. */
  dataBytes: number;
  durationMs: number;
}

/** Size of the file `encodeWav` writes for this many samples. */
export function wavFileSize(samples: number): number {
  return WAV_HEADER_BYTES + samples * 2;
}

/** Encodes samples in [-1, 1] as a 16-bit PCM mono WAV file. */
export function encodeWav(samples: Float32Array, sampleRate: number): Buffer {
  const dataBytes = samples.length * 2;
  const buf = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16); // fmt chunk size
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28); // byte rate
  buf.writeUInt16LE(2, 32); // block align
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++)
    pcm[i] = Math.round(Math.max(-1, Math.min(1, samples[i]!)) * 32767);
  // WAV is little-endian, as is every platform Node runs on in practice; say so if not.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new Error('big-endian hosts are not supported');
  Buffer.from(pcm.buffer).copy(buf, WAV_HEADER_BYTES);
  return buf;
}

/** Reads the header `encodeWav` writes; throws when the bytes are not such a file. */
export function readWavHeader(buf: Buffer): WavInfo {
  if (buf.length < WAV_HEADER_BYTES) throw new Error('too short for a WAV header');
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  if (buf.toString('ascii', 12, 16) !== 'fmt ' || buf.readUInt16LE(20) !== 1) {
    throw new Error('not PCM');
  }
  if (buf.toString('ascii', 36, 40) !== 'data') throw new Error('data chunk not where expected');
  const channels = buf.readUInt16LE(22);
  const sampleRate = buf.readUInt32LE(24);
  const bitsPerSample = buf.readUInt16LE(34);
  const dataBytes = buf.readUInt32LE(40);
  const frameBytes = channels * (bitsPerSample / 8);
  return {
    sampleRate,
    channels,
    bitsPerSample,
    dataBytes,
    durationMs: Math.round((dataBytes / frameBytes / sampleRate) * 1000),
  };
}
