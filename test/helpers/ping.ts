import { fileURLToPath } from 'node:url';
import { runIn } from '../../shared/exec.js';

const script = fileURLToPath(new URL('./ping.py', import.meta.url));

/** ICMP echo from inside `ns` to `addr`: true when at least one of `count` echoes was answered. */
export async function ping(ns: string, addr: string, count = 3): Promise<boolean> {
  const r = await runIn(ns, ['python3', script, addr, String(count)], { allowFail: true });
  return r.code === 0;
}
