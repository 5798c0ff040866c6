import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../common/errors.js';
import { HashQueue } from '../services/users/hashing.js';
import { passwordProblem } from '../services/users/password-policy.js';

/** A piece of hashing work that ends when the test says so. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { open, work: () => done };
}

describe('the hash queue', () => {
  it('gives hashes to make a share of the slots and refuses a flood of them at once', async () => {
    const q = new HashQueue({ slots: 3, makeSlots: 1, checkQueue: 10, makeQueue: 2 });
    const makes = Array.from({ length: 3 }, () => gate());
    const running = makes.map((g) => q.run('make', g.work));
    expect(q.load).toEqual({ running: { check: 0, make: 1 }, waiting: { check: 0, make: 2 } });
    // The fourth is refused without waiting, with a wait to retry after.
    await expect(q.run('make', async () => 1)).rejects.toMatchObject({
      code: ErrorCodes.UNAVAILABLE,
      data: { retryAfterSeconds: 2 },
    });
    // Checks still start at once on the other slots.
    const checks = [gate(), gate()];
    const checked = checks.map((g) => q.run('check', g.work));
    expect(q.load.running).toEqual({ check: 2, make: 1 });
    for (const g of [...checks, ...makes]) g.open();
    await Promise.all([...running, ...checked]);
    expect(q.load).toEqual({ running: { check: 0, make: 0 }, waiting: { check: 0, make: 0 } });
  });

  it('hands a freed slot to a waiting check before a waiting hash to make', async () => {
    const q = new HashQueue({ slots: 1, makeSlots: 1, checkQueue: 5, makeQueue: 5 });
    const order: string[] = [];
    const first = gate();
    const busy = q.run('check', first.work);
    const make = q.run('make', async () => order.push('make'));
    const check = q.run('check', async () => order.push('check'));
    first.open();
    await Promise.all([busy, make, check]);
    expect(order).toEqual(['check', 'make']);
  });
});

describe('the password policy', () => {
  it.each([
    ['12345678', 'common'],
    ['PASSWORD1', 'common'],
    ['        ', 'length'],
    [' short1 ', 'length'],
    ['Anna_Lee', 'username'],
  ])('refuses %j (%s)', (password, _why) => {
    expect(passwordProblem(password, 'anna_lee')).toBeDefined();
  });

  it.each(['correct horse battery', 'demo1234 is mine', 'long enough pw'])('takes %j', (password) => {
    expect(passwordProblem(password, 'anna_lee')).toBeUndefined();
  });
});
