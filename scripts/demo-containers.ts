/**
 * The demo with real containers (what `npm start` runs when podman is there): a web
 * server and a client container on a podman network, the agent following podman's API,
 * learn → protect by group. podman runs in a namespace of the demo's own so its bridge
 * stays out of the root namespace, and everything it made is removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { Daemon, defaultStateDir } from '../agent/daemon/daemon.js';
import { DockerApiRuntime } from '../agent/runtime/docker-api.js';
import { downEnforcer } from '../agent/topology/down.js';
import { formatRules, formatWorkloads } from '../agent/cli/format-status.js';
import { createLogger } from '../shared/log.js';
import { POLICY_ACTION_NAMES } from '../shared/policy-actions.js';
import { PodmanLab } from './fixtures/runtime-lab.js';

const ok = (b: boolean) => (b ? '\x1b[32m✓ passes\x1b[0m' : '\x1b[31m✗ blocked\x1b[0m');
const say = (s = '') => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAGE = 'tollgate test page';

export async function containerDemo(prefix: string, keep: boolean): Promise<number> {
  const name = `${prefix}ag`;
  const work = mkdtempSync(join(tmpdir(), 'tollgate-demo-'));
  let lab: PodmanLab | undefined;
  let daemon: Daemon | undefined;
  try {
    say('Tollgate demo with real containers: learn who talks to whom, then enforce it.');
    lab = await PodmanLab.create(`${prefix}rt`, randomInt(100, 250));
    say(
      `podman runs in namespace ${lab.ns} (network ${lab.network}, ${lab.ip(0)}/24); the agent follows its API at ${lab.socket}.`,
    );
    daemon = new Daemon({
      name,
      rulesPath: join(work, 'rules.yaml'),
      log: createLogger('agent', 'error'),
      runtime: new DockerApiRuntime('podman', lab.socket),
      selectors: [{ key: 'tollgate.demo', value: prefix }],
      hooksDir: lab.hooksDir,
      reportInterval: 0.5,
    });
    await daemon.start();
    say(
      `The agent created the enforcer namespace ${daemon.agentNs}, steering ${daemon.status().steering}, and installed its OCI hook.`,
    );
    say();
    const labels = (g: string) => ({ 'tollgate.group': g, 'tollgate.demo': prefix });
    await lab.runContainer({
      name: `${prefix}web`,
      labels: labels('web'),
      ip: lab.ip(10),
      cmd: ['sh', '-c', 'httpd -p 8080 -h /www; httpd -p 2222 -h /www; exec sleep 100000'],
    });
    await lab.runContainer({
      name: `${prefix}client`,
      labels: labels('client'),
      ip: lab.ip(20),
      cmd: ['sleep', '100000'],
    });
    say(
      "1. Two containers started (podman run). The hook enrolled each before its first packet, in its group's mode (learn):",
    );
    for (const l of formatWorkloads(daemon.workloadStatus())) say(`    ${l}`);
    const web = (port: number) => lab!.tcp(`${prefix}client`, lab!.ip(10), port).then((o) => o.includes(PAGE));
    say();
    say('2. Traffic in learn mode:');
    say(`    client → web:8080 (the web service)               ${ok(await web(8080))}`);
    await sleep(1500);
    say();
    say("3. Rules learned between groups (compiled to the members' current addresses):");
    for (const l of formatRules(daemon.store.list())) say(`    ${l}`);
    say();
    say('4. Groups web and client switch to PROTECT: the dp goes inline for every member.');
    await daemon.setMode('web', 'protect');
    await daemon.setMode('client', 'protect');
    say();
    say('5. The learned flow still passes; a port nobody used is blocked:');
    const learned = await web(8080);
    say(`    client → web:8080                                 ${ok(learned)}`);
    const fresh = await web(2222);
    say(`    client → web:2222 (an admin port)                 ${ok(fresh)}`);
    await sleep(1200);
    say();
    say('6. Violations the dp reported:');
    const vs = daemon.status().recentViolations.filter((v) => v.serverPort === 2222);
    const seen = new Set<string>();
    for (const v of vs) {
      const key = `${v.ep}|${v.client}|${v.server}|${v.serverPort}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const w = daemon.registry.byMac(v.ep);
      say(
        `    ${w?.name ?? v.ep} (group ${w?.group ?? '?'}): ${v.client} → ${v.server}:${v.serverPort} tcp, ${POLICY_ACTION_NAMES[v.action]}${v.dropped ? ', dropped' : ''}`,
      );
    }
    const good = learned && !fresh && vs.length > 0;
    say();
    say(
      good
        ? 'As intended: learned flows keep working in protect mode; everything new is dropped and reported.'
        : 'Something did not behave as intended: see above.',
    );
    return good ? 0 : 1;
  } finally {
    await daemon?.stop();
    if (keep && lab) {
      say(
        `\n--keep: containers and the agent's enforcer left in place. podman: CONTAINERS_CONF=${lab.dir}/containers.conf nsenter --net=/run/netns/${lab.ns} podman ps`,
      );
      say(
        `  resume: agent run --name ${name} --runtime podman --runtime-socket ${lab.socket} --hooks-dir ${lab.hooksDir}; remove: agent down --name ${name}`,
      );
    } else {
      await lab?.stop();
      await downEnforcer(name).catch(() => undefined);
      rmSync(defaultStateDir(name), { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
      say("\nRemoved: the containers, podman's namespace and storage, the enforcer namespace and its BPF pins.");
    }
  }
}
