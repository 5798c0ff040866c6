/** The interactive prompt: readline with history and tab completion over the command table. */
import { createInterface } from 'node:readline';
import type { Api } from './api.js';
import { splitWords } from './args.js';
import { COMMANDS, type Context, findCommand, runCommand } from './commands.js';
import { colorWanted, makeStyle } from './render.js';
import type { Store } from './store.js';
import { errorLine, MutableOutput, printResult, promptIo, question } from './terminal.js';

/** Completes command names, then the second word of two-word commands, then option names. */
export function complete(line: string): [string[], string] {
  const words = line.trimStart().split(/\s+/);
  const last = words[words.length - 1] ?? '';
  let candidates: string[];
  if (words.length === 1) {
    candidates = [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]!))];
  } else if (last.startsWith('--')) {
    const found = findCommand(words.slice(0, -1));
    candidates = [...Object.keys(found?.command.flags ?? {}), 'json'].map((f) => `--${f}`);
  } else if (words.length === 2) {
    candidates = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `)).map((c) => c.name.split(' ')[1]!);
  } else {
    candidates = [];
  }
  const hits = candidates.filter((c) => c.startsWith(last)).sort();
  return [hits.length === 1 ? [`${hits[0]} `] : hits, last];
}

export async function runPrompt(base: { gateway: string; api: Api; store: Store }): Promise<void> {
  const terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const out = new MutableOutput(process.stdout);
  const rl = createInterface({
    input: process.stdin,
    output: out,
    terminal,
    completer: complete,
    historySize: 500,
  });
  const style = makeStyle(colorWanted(process.stdout));
  const ask = terminal ? (text: string, hidden = false) => question(rl, out, text, hidden) : undefined;

  // Ctrl-C stops the running command (a track playing); at an empty prompt it leaves.
  let running: AbortController | null = null;
  const interrupt = () => {
    if (running) running.abort();
    else if (rl.line) {
      out.write('\n');
      rl.write(null, { ctrl: true, name: 'u' });
      rl.prompt();
    } else rl.close();
  };
  rl.on('SIGINT', interrupt);
  process.on('SIGINT', interrupt);

  const run = async (words: string[]): Promise<boolean> => {
    running = new AbortController();
    const ctx: Omit<Context, 'json'> = {
      ...base,
      style,
      io: promptIo(ask),
      interactive: true,
      signal: running.signal,
    };
    try {
      const result = await runCommand(words, ctx);
      printResult(result);
      return result.quit === true;
    } catch (err) {
      process.stderr.write(`${errorLine(err)}\n`);
      return false;
    } finally {
      running = null;
    }
  };

  const setPrompt = () => {
    const who = base.store.session()?.user.username ?? 'guest';
    rl.setPrompt(terminal ? `${style.accent(who)}${style.dim('@music')}> ` : '');
  };

  if (terminal) {
    out.write(
      `${style.bold('music')} ${style.dim(`at ${base.gateway}`)}: type help for commands, quit to leave.\n`,
    );
    if (!base.api.token) {
      out.write('Log in first (the demo user is demo / demo1234), or press Enter and type register.\n');
      const username = (await question(rl, out, 'username: ', false)).trim();
      if (username) await run(['login', username]);
    }
  }
  setPrompt();
  rl.prompt();
  for await (const line of rl) {
    let words: string[] = [];
    try {
      words = splitWords(line);
    } catch (err) {
      process.stderr.write(`${errorLine(err)}\n`);
    }
    if (words.length > 0 && (await run(words))) break;
    setPrompt();
    rl.prompt();
  }
  rl.close();
  process.off('SIGINT', interrupt);
}
