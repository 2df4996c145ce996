/**
 * Synthetic pcap generator.
 *   node dist/scripts/pcapgen/cli.js --mix bench --out /tmp/bench.pcap [--seed N]
 *   node dist/scripts/pcapgen/cli.js --case tcp-full --out /tmp/tcp-full.pcap
 *   node dist/scripts/pcapgen/cli.js --list
 * Output is byte-identical for the same arguments.
 */
import { Command } from 'commander';
import { writeBenchMix } from './bench-mix.js';
import { CASES, buildCase } from './cases.js';
import { PcapWriter } from '../../shared/pcap/writer.js';

const program = new Command()
  .name('pcapgen')
  .description('deterministic synthetic pcap generator')
  .option('--mix <name>', 'a traffic mix: bench (~1M packets)')
  .option('--case <name>', 'one named synthetic case')
  .option('--all-cases', 'every named case, one after another')
  .option('--list', 'list case names')
  .option('--out <file>', 'output pcap path')
  .option('--seed <n>', 'seed', (v) => Number.parseInt(v, 10), 2024);
program.parse();
const o = program.opts<{
  mix?: string;
  case?: string;
  allCases?: boolean;
  list?: boolean;
  out?: string;
  seed: number;
}>();

if (o.list) {
  for (const c of CASES) process.stdout.write(`${c.name}\t${c.description}\n`);
  process.exit(0);
}
if (!o.out) {
  process.stderr.write('pcapgen: --out FILE is required\n');
  process.exit(2);
}
if (o.mix) {
  if (o.mix !== 'bench') {
    process.stderr.write(`pcapgen: unknown mix ${o.mix} (known: bench)\n`);
    process.exit(2);
  }
  const r = writeBenchMix(o.out, { seed: o.seed });
  process.stdout.write(`${JSON.stringify({ out: o.out, ...r })}\n`);
} else if (o.case || o.allCases) {
  const names = o.allCases ? CASES.map((c) => c.name) : [o.case!];
  const w = new PcapWriter(o.out);
  let t0 = 0;
  for (const n of names) {
    let frames: ReturnType<typeof buildCase>;
    try {
      frames = buildCase(n, o.seed);
    } catch (e) {
      process.stderr.write(`pcapgen: ${(e as Error).message}\n`);
      process.exit(2);
    }
    for (const f of frames) w.write(f.bytes, 0, f.bytes.length, f.tsMs + t0);
    t0 += 120_000; // cases 2 minutes apart so their sessions never mix
  }
  w.close();
  process.stdout.write(`${JSON.stringify({ out: o.out, cases: names, packets: w.packets })}\n`);
} else {
  process.stderr.write('pcapgen: one of --mix, --case, --all-cases, --list\n');
  process.exit(2);
}
