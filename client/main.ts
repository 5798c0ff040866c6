/**
 * The terminal client: `npm run client` opens the prompt; `npm run client -- <command> [args]
 * [--json]` runs one command and exits (non-zero on error). The gateway is `--gateway URL`,
 * else GATEWAY_URL, else http://127.0.0.1:8080.
 */
import { Api } from './api.js';
import { UsageError } from './args.js';
import { runCommand } from './commands.js';
import { colorWanted, makeStyle } from './render.js';
import { runPrompt } from './repl.js';
import { Store } from './store.js';
import { errorLine, oneShotIo, printResult } from './terminal.js';

const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';

/** Takes `--gateway URL` (or `--gateway=URL`) out of the arguments. */
function takeGateway(argv: string[]): { gateway: string; words: string[] } {
  let gateway = process.env.GATEWAY_URL || DEFAULT_GATEWAY;
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--gateway') {
      const value = argv[++i];
      if (value === undefined) throw new UsageError('--gateway needs a URL');
      gateway = value;
    } else if (word.startsWith('--gateway=')) gateway = word.slice('--gateway='.length);
    else words.push(word);
  }
  let url: URL;
  try {
    url = new URL(gateway);
  } catch {
    throw new UsageError(`--gateway: "${gateway}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('--gateway must be an http(s) URL');
  return { gateway: url.origin, words };
}

async function main(): Promise<number> {
  const { gateway, words } = takeGateway(process.argv.slice(2));
  const store = new Store(gateway);
  const api = new Api(gateway, store.session()?.token);
  if (words.length === 0) {
    await runPrompt({ gateway, api, store });
    return 0;
  }
  // Ctrl-C stops what runs (a track playing: the partial time is still reported); twice quits at once.
  const stop = new AbortController();
  process.on('SIGINT', () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  });
  const result = await runCommand(words, {
    gateway,
    api,
    store,
    style: makeStyle(!words.includes('--json') && colorWanted(process.stdout)),
    io: oneShotIo(),
    interactive: false,
    signal: stop.signal,
  });
  printResult(result);
  return stop.signal.aborted ? 130 : 0;
}

// Whatever goes wrong, the user sees one line, never a stack trace.
const fail = (err: unknown) => {
  process.stderr.write(`${errorLine(err)}\n`);
  process.exit(1);
};
process.on('uncaughtException', fail);
main().then((code) => {
  process.exitCode = code;
}, fail);
