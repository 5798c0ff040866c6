import { z } from 'zod';
import { defineContract, internalMethod } from '../common/index.js';

/** The rpc benchmark's one method, served by bench/rpc-servers.ts and called by bench/rpc.ts. */
export const echoContract = defineContract('echo', {
  echo: internalMethod(z.object({ text: z.string(), n: z.number() })).returns<{ text: string; n: number }>(),
});
