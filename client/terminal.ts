/** Terminal plumbing shared by the prompt and one-shot mode: questions, the status line, error lines. */
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Io } from './commands.js';

/** stdout that can be muted while a password is typed, so readline's echo goes nowhere. */
export class MutableOutput extends Writable {
  muted = false;
  constructor(private readonly target: NodeJS.WriteStream) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.muted) this.target.write(chunk);
    done();
  }
  get columns(): number | undefined {
    return this.target.columns;
  }
}

/** Asks through `rl`; hidden answers are not echoed. */
export function question(rl: Interface, out: MutableOutput, text: string, hidden: boolean): Promise<string> {
  return new Promise((resolve) => {
    rl.question(text, (answer) => {
      if (hidden) {
        out.muted = false;
        out.write('\n');
      }
      // readline keeps every line in its history; answers are not commands, and a password
      // must never come back with the Up key.
      const history = (rl as unknown as { history?: string[] }).history;
      if (history?.[0] === answer) history.shift();
      resolve(answer);
    });
    // The question text is already written; mute only what is typed after it.
    if (hidden) out.muted = true;
  });
}

/** Asks one question on the terminal (one-shot mode), then lets go of stdin. */
async function askOnce(text: string, hidden = false): Promise<string> {
  const out = new MutableOutput(process.stdout);
  const rl = createInterface({ input: process.stdin, output: out, terminal: true });
  try {
    return await question(rl, out, text, hidden);
  } finally {
    rl.close();
  }
}

/** The progress bar lives on stderr and only on a terminal, so stdout stays clean for pipes. */
function statusIo(): Pick<Io, 'status' | 'endStatus'> {
  if (!process.stderr.isTTY) return {};
  let shown = '';
  return {
    status(line) {
      if (line === shown) return;
      shown = line;
      process.stderr.write(`\r\x1b[2K${line}`);
    },
    endStatus() {
      shown = '';
      process.stderr.write('\n');
    },
  };
}

/** What one-shot mode can do with the terminal: ask only when someone is there to answer. */
export function oneShotIo(): Io {
  return { ...(process.stdin.isTTY ? { ask: askOnce } : {}), ...statusIo() };
}

export function promptIo(ask: Io['ask']): Io {
  return { ...(ask ? { ask } : {}), ...statusIo() };
}

/** Any failure as one line, never a stack trace. */
export function errorLine(err: unknown): string {
  let message: string;
  if (err instanceof Error && err.name === 'AbortError') message = 'interrupted';
  else if (err instanceof Error && err.name === 'TimeoutError')
    message = 'the gateway did not answer in time';
  else if (err instanceof Error) message = err.message;
  else message = String(err);
  return `error: ${message.replace(/\s*\n\s*/g, ' ')}`;
}

export function printResult(out: { data: unknown; text: string; json: boolean }): void {
  if (out.json) process.stdout.write(`${JSON.stringify(out.data, null, 2)}\n`);
  else if (out.text) process.stdout.write(`${out.text}\n`);
}
