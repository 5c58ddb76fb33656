// Compiled (tsc --noEmit --strict) against the installed package's index.d.ts
// by bindings/run-tests.sh: the types cover what a program uses.
import * as pmc from 'pymemcache';

async function main(): Promise<void> {
  const c = new pmc.Client('127.0.0.1:11211', {
    timeout: 1000, deadline: 2000, usePooling: true, compression: { minLength: 10 },
    hashKeyForm: 'python_bytes', keyPrefix: 'app:',
    serde: { serialize: (k, v, flags) => ({ value: v, flags }), deserialize: () => undefined },
  });
  const v: Buffer | null = c.get('k');
  const a: Buffer | null = await c.getAsync(Buffer.from('k'));
  const items: Map<pmc.Key, pmc.Item> = c.getMany(['a'], { items: true });
  const n: bigint | null | undefined = await c.incrAsync('n', 1n, { noreply: false });
  const failed: pmc.Key[] = c.setMany([['a', 'b']], { flags: 1, expire: 10 });
  const stats: Map<string, Map<string, string>> = await c.statsAsync('settings');
  const stored: boolean | null = c.cas('k', 'v', 1n);
  const text: string | null = c.getText('t');
  const json: unknown = await c.getJsonAsync('j');
  const lock: pmc.LockResult = await c.getOrLockAsync('k', 30, 0);
  const won: boolean = lock.lease === pmc.Lease.MISS_WON || lock.lease === 'stale_won';
  const inv: boolean = c.invalidate('k', 30);
  const b = new pmc.Batch();
  const pos: number = b.get('k');
  b.meta('mg', 'k', ['v', 'f'], undefined);
  const results: pmc.BatchResult[] = await b.executeAsync(c);
  const first: pmc.LeaseState | null = b.execute(c)[0].lease;
  b.free();
  const ev = new pmc.Client('127.0.0.1:11211', { asyncEngine: 'auto' });
  const engine: 'addon' | 'worker' = ev.asyncEngine;
  const why: string | null = ev.asyncEngineReason;
  ev.close();
  const m = pmc.Client.mock();
  const r = pmc.Client.retrying(pmc.Client.fallback([c, m]), { attempts: 2, retryFor: [pmc.Status.IO_ERROR] });
  r.close();
  try {
    c.get('bad key');
  } catch (e) {
    if (e instanceof pmc.IllegalInputError) console.log(e.status, e.statusName);
  }
  console.log(won, inv, pos, results, first, v, a, items, n, failed, stats, stored, text, json, pmc.libraryVersion(), pmc.libraryPath, engine, why);
}

void main;
