/**
 * A micro-benchmark compares a subject with a baseline measured in the same run, on the
 * same inputs, alternating between the two, so the machine's load of the moment weighs
 * on both alike. The ratio is the figure to read; the ns/op are this machine's.
 */
export interface MicroCase {
  name: string;
  /** What the subject is held against (a plain Map lookup, a read-only loop over the same bytes). */
  baselineName: string;
  /** One operation each; the return value is summed so the work cannot be optimized away. */
  baseline: (i: number) => number;
  subject: (i: number) => number;
}

export interface MicroResult {
  name: string;
  baselineName: string;
  baselineNs: number;
  subjectNs: number;
  /** subjectNs / baselineNs. */
  ratio: number;
}

/** Sink for the benchmark results, so V8 cannot drop the measured work as dead code. */
let sink = 0;

function timeOps(fn: (i: number) => number, ops: number): number {
  const t0 = process.hrtime.bigint();
  let acc = 0;
  for (let i = 0; i < ops; i++) acc += fn(i);
  const ns = Number(process.hrtime.bigint() - t0);
  sink += acc;
  return ns / ops;
}

/** Median ns/op of each side over `rounds` alternating rounds of `ops` operations, after a warm-up. */
export function runCase(c: MicroCase, ops: number, rounds: number): MicroResult {
  timeOps(c.baseline, ops);
  timeOps(c.subject, ops);
  const b: number[] = [];
  const s: number[] = [];
  for (let r = 0; r < rounds; r++) {
    b.push(timeOps(c.baseline, ops));
    s.push(timeOps(c.subject, ops));
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const baselineNs = med(b);
  const subjectNs = med(s);
  return { name: c.name, baselineName: c.baselineName, baselineNs, subjectNs, ratio: subjectNs / baselineNs };
}

export function formatResults(rows: readonly MicroResult[]): string[] {
  const out = ['| micro-benchmark | ns/op | baseline (same run) | ns/op | ratio |', '|---|---:|---|---:|---:|'];
  for (const r of rows)
    out.push(
      `| ${r.name} | ${r.subjectNs.toFixed(1)} | ${r.baselineName} | ${r.baselineNs.toFixed(1)} | ${r.ratio.toFixed(2)}× |`,
    );
  if (sink === 0.5) out.push(''); // never true; keeps `sink` alive
  return out;
}
