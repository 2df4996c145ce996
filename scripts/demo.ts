/**
 * `npm start`: the whole job on an embedded default, narrated for a newcomer. With podman
 * installed (scripts/setup.sh installs it) the demo uses real containers
 * (scripts/demo-containers.ts); `--lab`, or a machine without podman, gets the lab below.
 *
 * Builds a lab (a host side and two workloads, web and db), runs the agent daemon and
 * the dp, lets the workloads talk in learn mode, shows the rules learned from that
 * traffic, switches both workloads to protect, and shows that the learned flows still
 * pass while new ones are dropped and reported. Cleans up unless --keep.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../agent/daemon/daemon.js';
import { downLab } from '../agent/topology/down.js';
import { labNamespaces, parseLabSpec, type LabSpec } from '../agent/topology/spec.js';
import { DEFAULT_LAB } from '../agent/topology/default-lab.js';
import { formatRules } from '../agent/cli/format-status.js';
import { createLogger } from '../shared/log.js';
import { netnsArgv, run } from '../shared/exec.js';
import { newRunPrefix } from '../shared/run-id.js';
import { POLICY_ACTION_NAMES } from '../shared/policy-actions.js';
import { errorMessage } from '../shared/errors.js';
import { containerDemo } from './demo-containers.js';
import { runtimeUnavailable } from './fixtures/runtime-lab.js';

const keep = process.argv.includes('--keep');
const netcat = fileURLToPath(new URL('../../scripts/demo/netcat.py', import.meta.url));
const ok = (b: boolean) => (b ? '\x1b[32m✓ passes\x1b[0m' : '\x1b[31m✗ blocked\x1b[0m');
const say = (s = '') => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const prefix = newRunPrefix('tgdemo');
// The embedded default lab, under a per-run prefix so parallel runs never collide.
const specInput = { ...DEFAULT_LAB, prefix };
const spec: LabSpec = parseLabSpec(specInput);
const ns = labNamespaces(spec);
const children: ChildProcess[] = [];
const work = mkdtempSync(join(tmpdir(), 'tollgate-demo-'));

async function serve(nsName: string, port: number, name: string): Promise<void> {
  const [cmd, ...args] = netnsArgv(nsName, ['python3', netcat, 'serve', String(port), name]);
  const p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(p);
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', () => reject(new Error(`server ${name}:${port} did not start`)));
  });
}

async function ask(from: string, host: string, port: number, text: string): Promise<boolean> {
  const r = await run(netnsArgv(from, ['python3', netcat, 'ask', host, String(port), text]), { allowFail: true });
  return r.code === 0;
}

async function pingOk(from: string, host: string): Promise<boolean> {
  const r = await run(netnsArgv(from, ['ping', '-c', '1', '-W', '1', host]), { allowFail: true });
  return r.code === 0;
}

interface Flow {
  label: string;
  run: () => Promise<boolean>;
}

const flows = {
  pingWeb: { label: 'host → web      ping', run: () => pingOk(ns.host, '198.18.0.10') },
  httpWeb: { label: 'host → web:8080 tcp (the web service)', run: () => ask(ns.host, '198.18.0.10', 8080, 'GET /') },
  webDb: {
    label: 'web  → db:5432  tcp (web queries its database)',
    run: () => ask(ns.workload('web'), '198.18.0.11', 5432, 'SELECT 1'),
  },
  sshWeb: {
    label: 'host → web:2222 tcp (an admin port nobody used)',
    run: () => ask(ns.host, '198.18.0.10', 2222, 'hello'),
  },
  hostDb: {
    label: 'host → db:5432  tcp (straight to the database)',
    run: () => ask(ns.host, '198.18.0.11', 5432, 'SELECT 1'),
  },
} satisfies Record<string, Flow>;

async function show(list: Flow[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const f of list) {
    const r = await f.run();
    out.push(r);
    say(`    ${f.label.padEnd(52)} ${ok(r)}`);
  }
  return out;
}

async function main(): Promise<number> {
  say('Tollgate demo (lab): learn who talks to whom, then enforce it.');
  say(
    `Lab: namespaces ${ns.host} (the network, 198.18.0.1), ${ns.workload('web')} (198.18.0.10), ${ns.workload('db')} (198.18.0.11),`,
  );
  say(`and ${ns.agent}, the enforcer namespace where the dp runs on vth.`);
  say();
  const daemon = new Daemon({
    spec,
    rulesPath: join(work, 'rules.yaml'),
    log: createLogger('agent', 'error'),
    reportInterval: 0.5,
  });
  await daemon.start();
  const st = daemon.status();
  say(
    `1. The agent built the lab, pulled each workload's eth0 inline behind ${ns.agent}, programmed ${st.steering} steering`,
  );
  say(`   (chosen by probing the kernel: u32+pedit where act_pedit exists, else a TC BPF program)`);
  say(
    `   and started the dp (pid ${st.dp.pid}). Both workloads are in LEARN mode: traffic passes directly, the dp sees copies.`,
  );
  await serve(ns.workload('web'), 8080, 'web');
  await serve(ns.workload('web'), 2222, 'web-admin');
  await serve(ns.workload('db'), 5432, 'db');
  say();
  say('2. Normal traffic in learn mode:');
  await show([flows.pingWeb, flows.httpWeb, flows.httpWeb, flows.webDb]);
  await sleep(1500); // one report interval and a bit: the dp reports, the agent learns
  say();
  say('3. Rules the agent learned from that traffic (stored in a YAML file a person can edit):');
  for (const l of formatRules(daemon.store.list())) say(`    ${l}`);
  say();
  say('4. Switching web and db to PROTECT: the dp goes inline; anything not learned is dropped and reported.');
  await daemon.setMode('web', 'protect');
  await daemon.setMode('db', 'protect');
  say();
  say('5. The learned flows still pass:');
  const learned = await show([flows.pingWeb, flows.httpWeb, flows.webDb]);
  say('   New flows are blocked:');
  const fresh = await show([flows.sshWeb, flows.hostDb]);
  await sleep(1200);
  say();
  say('6. What the dp reported to the agent (violations):');
  const seen = new Set<string>();
  for (const v of daemon.status().recentViolations) {
    const wl = spec.workloads.find((w) => w.mac === v.ep)?.name ?? v.ep;
    const key = `${wl}|${v.client}|${v.server}|${v.serverPort}|${v.proto}`;
    if (seen.has(key)) continue;
    seen.add(key);
    say(
      `    workload ${wl}: ${v.client} → ${v.server}:${v.serverPort} ${v.proto === 6 ? 'tcp' : v.proto === 17 ? 'udp' : `proto ${v.proto}`}, rule ${v.ruleId} (default), ${POLICY_ACTION_NAMES[v.action]}${v.dropped ? ', dropped' : ''}`,
    );
  }
  const s2 = daemon.status();
  const d = s2.counters?.device ?? {};
  say();
  say('Summary');
  say(
    `  learned rules: ${s2.rules}; dp forwarded ${d.tx ?? 0} frames inline and dropped ${d.rxDrop ?? 0}; ${s2.events.violations} violation reports.`,
  );
  const good = learned.every(Boolean) && fresh.every((x) => !x) && seen.size >= 2;
  say(
    good
      ? '  As intended: what was learned keeps working in protect mode, and everything new is dropped and reported.'
      : '  Something did not behave as intended: see the lines above.',
  );
  await daemon.stop();
  return good ? 0 : 1;
}

async function cleanup(): Promise<void> {
  for (const c of children) c.kill('SIGKILL');
  if (keep) {
    const file = join(tmpdir(), `${prefix}lab.json`);
    writeFileSync(file, JSON.stringify(specInput, null, 2));
    say(`\n--keep: lab left in place (namespaces ${prefix}*). Resume with: agent run --config ${file}`);
    say(`  look around: agent status ${file}; remove it: agent down ${file}`);
    return;
  }
  await downLab(spec).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  say('\nLab removed (namespaces, links, filters, BPF pins, processes). Run with --keep to look around first.');
}

// Real containers when podman is there (setup installs it), else the lab of namespaces.
const noRuntime = process.argv.includes('--lab') ? '--lab given' : runtimeUnavailable('podman');
if (!noRuntime) {
  containerDemo(prefix, keep).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`demo failed: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
} else {
  say(`(no container runtime for the demo: ${noRuntime}; showing the lab demo instead)`);
  runLabDemo();
}

function runLabDemo(): void {
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  main()
    .then(async (code) => {
      await cleanup();
      process.exit(code);
    })
    .catch(async (e) => {
      process.stderr.write(`demo failed: ${errorMessage(e)}\n`);
      await cleanup();
      process.exit(1);
    });
}
