/**
 * The dp's resident memory with 100,000 sessions: the real dp process (dist) in a
 * namespace of its own (prefix tgm<hex>-, no addresses at all), a veth pair as its service
 * port, two tapped endpoints, and 100,000 distinct UDP flows (50,000 per endpoint, under
 * the per-endpoint quota) sent at it from the peer end with one AF_PACKET socket. RSS is
 * read from /proc before the traffic, at 100k sessions, and after one ctrl_list_session
 * (which streams the table instead of building it). The peer (NeuVector's C dp, bench-peer.ts)
 * gets the same namespace layout, datagrams and flows in the same run, when its build is present.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dpCommand } from '../shared/repo-root.js';
import { newRunPrefix } from '../shared/run-id.js';
import { BenchCtrl } from './bench-ctrl.js';
import { rssMiB } from './bench-iperf.js';
import { neuvectorDp, startPeerInline, warnPeerMissing } from './bench-peer.js';

export interface MemoryFigures {
  sessions: number;
  /** RSS after configuration, before traffic. */
  idleMiB: number;
  /** RSS with `sessions` sessions in the table. */
  loadedMiB: number;
  /** RSS right after a ctrl_list_session of the whole table (Tollgate only). */
  afterListMiB?: number;
  /** VmHWM at `sessions` sessions: the peak RSS over what both dps did (start, configuration, the flows). */
  peakMiB: number;
  /** VmHWM after the listing too (Tollgate only: the peer is not asked for one). */
  peakAfterListMiB?: number;
}

export interface MemoryBenchRow {
  tollgate: MemoryFigures;
  /** Absent when the peer was not measured (`peerMissing` says why). */
  peer?: MemoryFigures;
  peerMissing?: string;
}

/** One dp under measurement: Tollgate's (JSON replies) or the peer (binary replies). */
interface Subject {
  pid: number;
  /** Sends a configuration datagram; resolves once it is applied. */
  config(msg: string): Promise<void>;
  sessions(): Promise<number>;
  /** Lists every session (Tollgate only); resolves with the count listed. */
  list?(): Promise<number>;
  stop(): Promise<void>;
}

const SESSIONS = 100_000;
const UCMACS = ['4e:65:75:56:00:01', '4e:65:75:56:00:02'];

/** Sends 50,000 UDP flows toward each steering MAC out of `iface` (run inside the namespace). */
const SENDER = `
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
peer = bytes.fromhex('029900000001')
def csum(h):
    t = sum(struct.unpack('!10H', h))
    while t > 0xffff: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
for e, uc in enumerate(sys.argv[2:]):
    da = bytes.fromhex(uc.replace(':', ''))
    for i in range(50000):
        src = bytes([198, 19, (i >> 8) & 255, i & 255])
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 32, 0, 0, 64, 17, 0, src, bytes([198, 18, 0, 10 + e]))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        udp = struct.pack('!HHHH', 1024, 53, 12, 0) + b'tgbm'
        s.send(da + peer + b'\\x08\\x00' + ip + udp)
        if i % 2000 == 1999: time.sleep(0.01)
print('sent', flush=True)
`;

function sh(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`);
}

async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Tollgate's dp in `ns` (`ip netns exec` execs node: the child's pid is the dp's). */
async function startTollgate(ns: string): Promise<Subject> {
  const sock = `/tmp/${ns}.sock`;
  const child = spawn('ip', ['netns', 'exec', ns, ...dpCommand(), '--ctrl', sock, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = child.pid!;
  await waitFor(() => existsSync(sock), 'the dp control socket');
  const ctrl = new BenchCtrl(sock);
  return {
    pid,
    config: async (m) => void (await ctrl.call(m)),
    sessions: async () =>
      ((await ctrl.call('{"ctrl_count_session":{}}')) as { dp_session_count: { cur: number } }).dp_session_count.cur,
    list: async () =>
      ((await ctrl.call('{"ctrl_list_session":{}}', 120_000)) as { dp_session_list: { total: number } }).dp_session_list
        .total,
    stop: async () => {
      ctrl.close();
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      await waitFor(
        () => !existsSync(`/proc/${pid}`) || /State:\s+Z/.test(safeRead(`/proc/${pid}/status`)),
        'the dp to exit',
        5000,
      ).catch(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      });
    },
  };
}

async function startPeer(bin: string, ns: string): Promise<Subject> {
  const peer = await startPeerInline(bin, ns);
  return {
    pid: peer.pid,
    config: async (m) => {
      await peer.ctrl.send(m);
      await peer.ctrl.sync();
    },
    sessions: () => peer.ctrl.sessionCount(),
    stop: () => peer.stop(),
  };
}

function peakMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(safeRead(`/proc/${pid}/status`));
  return m ? Number(m[1]) / 1024 : 0;
}

/** One dp, its own namespace and veth pair, the same datagrams and flows. */
async function measureOne(
  name: string,
  start: (ns: string) => Promise<Subject>,
  log: (s: string) => void,
): Promise<MemoryFigures> {
  const ns = `${newRunPrefix('tgm')}mem`;
  sh(['ip', 'netns', 'add', ns]);
  let dp: Subject | undefined;
  try {
    sh(['ip', '-n', ns, 'link', 'add', 'vth', 'type', 'veth', 'peer', 'name', 'vsrc']);
    sh(['ip', '-n', ns, 'link', 'set', 'vth', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'vsrc', 'up']);
    dp = await start(ns);
    await dp.config('{"ctrl_add_srvc_port":{"iface":"vth","jumboframe":false}}');
    for (const [i, uc] of UCMACS.entries()) {
      await dp.config(
        JSON.stringify({
          ctrl_add_mac: {
            iface: 'vth',
            mac: `02:74:67:00:00:0${i + 1}`,
            ucmac: uc,
            bcmac: `ff:ff:ff:00:00:0${i + 1}`,
            oldmac: '',
            pmac: '',
            pips: null,
          },
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    const idleMiB = rssMiB(dp.pid);
    for (let attempt = 0; attempt < 5 && (await dp.sessions()) < SESSIONS; attempt++) {
      log(`memory: ${name}: sending ${SESSIONS} flows (attempt ${attempt + 1})`);
      sh(['ip', 'netns', 'exec', ns, 'python3', '-c', SENDER, 'vsrc', ...UCMACS]);
      await new Promise((r) => setTimeout(r, 500));
    }
    const sessions = await dp.sessions();
    const loadedMiB = rssMiB(dp.pid);
    const peakLoaded = peakMiB(dp.pid);
    let afterListMiB: number | undefined;
    if (dp.list) {
      const t0 = Date.now();
      const total = await dp.list();
      log(`memory: ${name}: ctrl_list_session listed ${total} sessions in ${Date.now() - t0} ms`);
      afterListMiB = rssMiB(dp.pid);
    }
    const fig: MemoryFigures = {
      sessions,
      idleMiB,
      loadedMiB,
      peakMiB: peakLoaded,
      ...(afterListMiB !== undefined ? { afterListMiB, peakAfterListMiB: peakMiB(dp.pid) } : {}),
    };
    log(
      `memory: ${name}: ${sessions} sessions, RSS idle ${idleMiB.toFixed(0)} MiB, loaded ${loadedMiB.toFixed(0)} MiB, peak ${fig.peakMiB.toFixed(0)} MiB`,
    );
    return fig;
  } finally {
    await dp?.stop();
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

export async function runMemoryBench(log: (s: string) => void = () => {}): Promise<MemoryBenchRow> {
  const tollgate = await measureOne('Tollgate dp', startTollgate, log);
  const bin = neuvectorDp();
  if (!bin.path) {
    warnPeerMissing(log, bin.why!);
    return { tollgate, peerMissing: bin.why! };
  }
  return { tollgate, peer: await measureOne('NeuVector dp', (ns) => startPeer(bin.path!, ns), log) };
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
