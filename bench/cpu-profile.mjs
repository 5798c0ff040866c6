// Preloaded with NODE_OPTIONS=--import by BENCH_PROFILE=1 (Node 20 refuses --cpu-prof in
// NODE_OPTIONS): profiles the whole process and writes .prof/<SERVICE_NAME or script>.<pid>.cpuprofile
// on exit. The in-process inspector session answers synchronously, so the exit handler can write.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { basename, join } from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR ?? join(process.cwd(), '.prof');
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (err, result) => {
    if (err) return;
    const name = process.env.SERVICE_NAME ?? basename(process.argv[1] ?? 'node', '.ts');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
});
