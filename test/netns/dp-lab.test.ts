import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.js';
import { labUp, type Lab } from '../helpers/lab.js';
import { DpClient, startDp, stopDp, tempSockPath, type DpProcess } from '../helpers/dp-client.js';

/**
 * The full path: a protect-mode lab (A/B's topology + BPF steering) with the real dp in
 * the agent namespace, configured only by the four datagrams from a plain python client.
 */
const SEND = fileURLToPath(new URL('../helpers/dp_send.py', import.meta.url));
const ECHO = fileURLToPath(new URL('../helpers/tcp-echo.py', import.meta.url));

let lab: Lab | undefined;
let dp: DpProcess | undefined;
let cli: DpClient;
let server: ChildProcess | undefined;

const PING = fileURLToPath(new URL('../helpers/ping.py', import.meta.url));

/** Python ICMP echo (this machine has no iputils-ping): true when any reply came back. */
async function ping(count = 3): Promise<boolean> {
  const r = await lab!.exec('host', ['python3', PING, lab!.workload('web').ip.split('/')[0]!, String(count)], {
    allowFail: true,
  });
  if (r.code !== 0) console.log('ping failed', r.code, r.stdout, r.stderr);
  return r.code === 0;
}

describe.skipIf(!isRoot)('dp inline in the protect-mode lab', () => {
  beforeAll(async () => {
    lab = await labUp({
      mode: 'protect',
      workloads: [{ name: 'web', ip: '198.18.0.10/24', mac: '02:74:67:00:00:0a' }],
    });
    const web = lab.workload('web');
    dp = await startDp({ netns: lab.agentNs, ctrl: tempSockPath('dplab') });
    const four = [
      '{"ctrl_cfg_internal_net":{"flag":3,"subnet_addr":[{"ip":"198.18.0.0","mask":"255.254.0.0"},{"ip":"198.18.0.66","mask":"255.255.255.0","iptype":"devip"}]}}',
      '{"ctrl_add_srvc_port":{"iface":"vth","jumboframe":false}}',
      `{"ctrl_add_mac":{"iface":"vth","mac":"${web.mac}","ucmac":"${web.ucMac}","bcmac":"ff:ff:ff:00:${web.ucMac.slice(12)}","oldmac":"","pmac":"","pips":null}}`,
      `{"ctrl_cfg_mac":{"tap":false,"macs":["${web.mac}"]}}`,
    ];
    await lab.exec('host', ['python3', SEND, dp.ctrl, ...four]); // the socket path is in /tmp, shared by all namespaces
    cli = new DpClient(dp.ctrl);
    await cli.sync();
    server = spawn('nsenter', [`--net=/run/netns/${web.ns}`, '--', 'python3', ECHO, 'server', '5201'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve) => server!.stdout!.once('data', () => resolve()));
  }, 120_000);

  afterAll(async () => {
    server?.kill();
    cli?.close();
    if (dp) await stopDp(dp);
    await lab?.down();
  });

  it('ping and a TCP transfer from the host side to the workload pass through dp', async () => {
    expect(await ping(5)).toBe(true);
    const r = await lab!.exec('host', ['python3', ECHO, 'send', '198.18.0.10', '5201', String(4 * 1024 * 1024)], {
      timeoutMs: 60_000,
    });
    expect(JSON.parse(r.stdout)).toEqual({ sent: 4 * 1024 * 1024, received: 4 * 1024 * 1024, equal: true });
    const c = (await cli.call({ ctrl_counter_device: {} })).dp_counter_device.pipeline;
    expect(c.txPackets).toBeGreaterThan(1000);
    expect(c.oversize).toBe(0);
    const m = (await cli.call({ ctrl_stats_macs: { macs: [lab!.workload('web').mac] } })).dp_stats_macs;
    expect(m.rx_packets).toBeGreaterThan(0);
    expect(m.tx_packets).toBeGreaterThan(0);
  });

  it('with tap:true nothing is forwarded, but dp counts the traffic', async () => {
    const web = lab!.workload('web');
    expect((await cli.call({ ctrl_cfg_mac: { tap: true, macs: [web.mac] } })).dp_ok).toBeDefined();
    const before = (await cli.call({ ctrl_counter_device: {} })).dp_counter_device.pipeline;
    expect(await ping(3)).toBe(false);
    const after = (await cli.call({ ctrl_counter_device: {} })).dp_counter_device.pipeline;
    expect(after.tapPackets - before.tapPackets).toBeGreaterThanOrEqual(3);
    expect(after.txPackets).toBe(before.txPackets);
    expect((await cli.call({ ctrl_cfg_mac: { tap: false, macs: [web.mac] } })).dp_ok).toBeDefined();
    expect(await ping(3)).toBe(true);
  });
});
