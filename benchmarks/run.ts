/**
 * `npm run bench:micro` (also the first part of `npm run bench`): the hot path's
 * micro-benchmarks, each against a baseline measured in the same run (benchmarks/harness.ts).
 *   node dist/benchmarks/run.js [decode|session|policy]… [--ops N] [--rounds N]
 * No root, no namespaces: it runs the dp's own code on in-memory inputs.
 */
import { decodeCase } from './decode.bench.js';
import { formatResults, type MicroCase, runCase } from './harness.js';
import { policyCase } from './policy.bench.js';
import { sessionCase } from './session.bench.js';

const CASES: Record<string, () => MicroCase> = { decode: decodeCase, session: sessionCase, policy: policyCase };

function main(argv: string[]): number {
  let ops = 1_000_000;
  let rounds = 7;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--ops') ops = Number(argv[++i]);
    else if (a === '--rounds') rounds = Number(argv[++i]);
    else if (a in CASES) only.push(a);
    else {
      process.stderr.write(
        `bench:micro: unknown argument ${a} (cases: ${Object.keys(CASES).join(', ')}; --ops N, --rounds N)\n`,
      );
      return 2;
    }
  }
  if (!(ops > 0) || !(rounds > 0)) {
    process.stderr.write('bench:micro: --ops and --rounds must be positive numbers\n');
    return 2;
  }
  const names = only.length > 0 ? only : Object.keys(CASES);
  const rows = names.map((n) => runCase(CASES[n]!(), ops, rounds));
  process.stdout.write(`${formatResults(rows).join('\n')}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
