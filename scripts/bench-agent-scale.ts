/**
 * The control plane at scale, with real podman containers: how long the agent takes to
 * enrol N running containers from a cold start, to switch one group of N to protect and
 * back, and how N concurrent CLI mode calls are answered (queued, never half-applied).
 * podman runs in a namespace of the bench's own; everything is removed at the end.
 *   node dist/scripts/bench-agent-scale.js [--containers 100]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { Daemon, defaultStateDir } from '../agent/daemon/daemon.js';
import { DockerApiRuntime } from '../agent/runtime/docker-api.js';
import { downEnforcer } from '../agent/topology/down.js';
import { callApi } from '../agent/daemon/api-commands.js';
import { createLogger } from '../shared/log.js';
import { newRunPrefix } from '../shared/run-id.js';
import { errorMessage } from '../shared/errors.js';
import { PodmanLab, runtimeUnavailable } from './fixtures/runtime-lab.js';

export interface ScaleRow {
  what: string;
  n: number;
  seconds: number;
  target: string;
  note: string;
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

export async function runScaleBench(n: number): Promise<ScaleRow[]> {
  const why = runtimeUnavailable('podman');
  if (why) throw new Error(`agent scale bench needs podman: ${why}`);
  const prefix = newRunPrefix('tgb');
  const name = `${prefix}ag`;
  const work = mkdtempSync(join(tmpdir(), 'tg-scale-'));
  let lab: PodmanLab | undefined;
  let daemon: Daemon | undefined;
  const rows: ScaleRow[] = [];
  try {
    lab = await PodmanLab.create(`${prefix}rt`, randomInt(100, 250));
    log(`scale: starting ${n} containers (podman, ${lab.ns})…`);
    const t0 = Date.now();
    for (let i = 0; i < n; i += 4) {
      await Promise.all(
        Array.from({ length: Math.min(4, n - i) }, (_, k) =>
          lab!.runContainer({
            name: `${prefix}s${i + k}`,
            labels: { 'tollgate.group': 'scale', 'tollgate.bench': prefix },
            ip: lab!.ip(10 + i + k),
            cmd: ['sleep', '100000'],
          }),
        ),
      );
    }
    log(`scale: ${n} containers up in ${((Date.now() - t0) / 1000).toFixed(1)} s (podman itself)`);
    daemon = new Daemon({
      name,
      rulesPath: join(work, 'rules.yaml'),
      log: createLogger('agent', process.env.TOLLGATE_LOG_LEVEL ? undefined : 'error'),
      runtime: new DockerApiRuntime('podman', lab.socket),
      selectors: [{ key: 'tollgate.bench', value: prefix }],
      reportInterval: 2,
    });
    const t1 = Date.now();
    await daemon.start();
    const enrolled = daemon.registry.members('scale').length;
    rows.push({
      what: 'agent start → all running containers enrolled',
      n,
      seconds: (Date.now() - t1) / 1000,
      target: '< 30 s for 100',
      note: `${enrolled}/${n} enrolled`,
    });
    const t2 = Date.now();
    const sw = await daemon.setMode('scale', 'protect');
    rows.push({
      what: 'one group learn → protect',
      n,
      seconds: (Date.now() - t2) / 1000,
      target: '< 2 s for 100',
      note: `${sw.members} members`,
    });
    const t3 = Date.now();
    await daemon.setMode('scale', 'learn');
    rows.push({ what: 'one group protect → learn', n, seconds: (Date.now() - t3) / 1000, target: '-', note: '' });
    // Concurrent CLI calls over the real API socket: all queued and answered.
    const calls = 10;
    const t4 = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: calls }, (_, i) =>
        callApi(daemon!.apiPath, 'mode', { group: 'scale', mode: i % 2 ? 'learn' : 'protect' }, 300_000),
      ),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    const final = daemon.modeOf('scale');
    rows.push({
      what: `${calls} concurrent \`agent mode\` calls`,
      n,
      seconds: (Date.now() - t4) / 1000,
      target: 'all answered, none half-applied',
      note: `${calls - failed.length} ok, ${failed.length} failed${failed.length ? ` (${errorMessage((failed[0] as PromiseRejectedResult).reason)})` : ''}; final mode ${final} = last call's`,
    });
  } finally {
    await daemon?.stop().catch(() => undefined);
    await lab?.stop().catch(() => undefined);
    await downEnforcer(name).catch(() => undefined);
    rmSync(defaultStateDir(name), { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

export function formatScaleRows(rows: readonly ScaleRow[]): string[] {
  return [
    '| control plane (real podman containers) | N | seconds | target | note |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.what} | ${r.n} | ${r.seconds.toFixed(2)} | ${r.target} | ${r.note} |`),
  ];
}

if (process.argv[1]?.endsWith('bench-agent-scale.js')) {
  const i = process.argv.indexOf('--containers');
  const n = i >= 0 ? Number(process.argv[i + 1]) : 100;
  if (!Number.isInteger(n) || n < 1 || n > 240)
    throw new Error(`--containers must be 1..240, got ${process.argv[i + 1]}`);
  runScaleBench(n).then(
    (rows) => {
      process.stdout.write(`${formatScaleRows(rows).join('\n')}\n`);
      process.exit(0);
    },
    (e) => {
      log(`scale bench failed: ${errorMessage(e)}`);
      process.exit(1);
    },
  );
}
