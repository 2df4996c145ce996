/**
 * The in-process dp the control-socket fail-safety tests drive (test/unit/fail-safety-ctrl*.test.ts):
 * a real DpRuntime (socket, registry, policy table, engine, pipeline) and the agent's own dp
 * client, one web endpoint inline. `rt` and `cli` are live bindings, set by startCtrlRig().
 */
import { expect } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { DpRuntime } from '../../dp/runtime.js';
import { DpClient, type DpReply } from '../../shared/ctrl/client.js';
import { parseMac } from '../../shared/mac.js';
import { frame } from '../../scripts/pcapgen/frames.js';
import { tempSockPath } from './dp-client.js';
import { rule } from './engine-rig.js';

export const logs: Record<string, unknown>[] = [];
export const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk, _e, cb) {
      logs.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  }),
);

export const WEB_MAC = '02:74:67:00:00:0a';
export const WEB_UC = '4e:65:75:56:00:0a';
export const DB_MAC = '02:74:67:00:00:0b';
export const DB_UC = '4e:65:75:56:00:0b';
export const PEER_MAC = '02:99:00:00:00:01';
export const WEB = '198.18.0.10';
export const PEER = '198.19.0.5';

export const addMac = (mac: string, ucmac: string, oldmac = '') => ({
  ctrl_add_mac: { iface: 'vth', mac, ucmac, bcmac: `ff:ff:ff:00:${ucmac.slice(12)}`, oldmac, pmac: '', pips: null },
});
/** A rule for any IPv4 peer (engine-rig.ts's `rule`, ingress). */
export const anyRule = (id: number, proto: number, port: number, action: number) => rule(id, proto, port, action);
export const policy = (mac: string, defact: number, rules: unknown[]) => ({
  ctrl_cfg_policy: { cmd: 1, flag: 3, defact, dir: 0, mac: [mac], rules },
});

export let rt: DpRuntime;
export let cli: DpClient;

/** Runs frames toward (ingress) or from (egress) the workload of `ucmac` through the pipeline; returns what went out. */
export function wire(frames: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  // push() returns the new length, never 0: every frame is sent.
  const sink = { send: (b: Buffer, len: number) => out.push(Buffer.from(b.subarray(0, len))) > 0 };
  for (const f of frames) rt.pipeline.onFrame(f, f.length, false, 1522, sink);
  return out;
}
export const toWl = (ucmac: string, l3: Buffer) => frame(l3, { dst: parseMac(ucmac), src: parseMac(PEER_MAC) });
export const fromWl = (ucmac: string, l3: Buffer) => frame(l3, { dst: parseMac(PEER_MAC), src: parseMac(ucmac) });

export async function ok(msg: object): Promise<DpReply[]> {
  const r = await cli.request(msg);
  expect(r.at(-1), JSON.stringify(r)).toHaveProperty('dp_ok');
  return r;
}

/** The dp with one web endpoint inline; its per-endpoint session quota raised for the 100,000-session listing. */
export async function startCtrlRig(name: string): Promise<void> {
  rt = new DpRuntime({
    ctrlPath: tempSockPath(name),
    log,
    live: false,
    failSafe: { sessionsPerEndpoint: 120_000 },
  });
  rt.start();
  cli = new DpClient(rt.server!.path, name);
  cli.open();
  await ok(addMac(WEB_MAC, WEB_UC));
  await ok({ ctrl_cfg_mac: { tap: false, macs: [WEB_MAC] } });
}

export function stopCtrlRig(): void {
  cli?.close();
  rt?.stop();
}
