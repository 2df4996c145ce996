/**
 * The bench's same-run user-space baseline: the most naive Node forwarder there is.
 * `cap` on IFACE (inbound only), every captured frame sent straight back out of IFACE:
 * no decode, no sessions, no policy. What the Tollgate dp adds over this is its cost.
 *   node dist/scripts/bench-naive-forwarder.js IFACE
 * Prints "ready" once open; on SIGTERM prints the frame count and exits.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  send(buf: Buffer, len: number): void;
  close(): void;
  on(ev: 'packet', fn: (nbytes: number, truncated: boolean) => void): void;
}

const iface = process.argv[2];
if (!iface) {
  process.stderr.write('usage: bench-naive-forwarder IFACE\n');
  process.exit(2);
}
const { Cap } = require('cap') as { Cap: new () => CapHandle };
const cap = new Cap();
const buf = Buffer.alloc(65536);
cap.open(iface, 'inbound', 32 * 1024 * 1024, buf);
let frames = 0;
let errors = 0;
cap.on('packet', (n) => {
  try {
    cap.send(buf, n);
    frames++;
  } catch {
    errors++;
  }
});
const stop = (): void => {
  cap.close();
  process.stdout.write(`forwarded ${frames} errors ${errors}\n`);
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdout.write('ready\n');
