/**
 * The peer of the bench: NeuVector's C data plane, run in the same bench run on the same
 * input as Tollgate's dp, so every figure quoted against it is measured, never a constant.
 *
 * The binary comes from /work/shared/tools/build-neuvector-dp.sh (outside the repo); its
 * path is $NEUVECTOR_DP, default /tmp/neuvector-dp/dp/dp. Without it the bench says loudly
 * that the peer was not measured and quotes no peer figure.
 *
 * NeuVector's dp binds fixed paths (/tmp/dp_listen.sock, and /dev/shm/dp_mnt.shm in inline
 * mode). So that two runs on one machine never meet there, each inline dp runs in a mount
 * namespace of its own (`unshare --mount --propagation private`: nsenter --net gives none)
 * with fresh tmpfs mounts on /tmp and /dev/shm; the script refuses to mount anything unless
 * its mount namespace differs from PID 1's, so the host's /tmp can never be covered. The
 * bench reaches the peer's socket through /proc/<pid>/root, and binds its own reply socket
 * there too, so the replies the dp sends to that path land back here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { netnsArgv } from '../shared/exec.js';

const require = createRequire(import.meta.url);

export const PEER_NAME = 'NeuVector C dp';
export const DEFAULT_NEUVECTOR_DP = '/tmp/neuvector-dp/dp/dp';

/** The peer's binary, or undefined (with the reason) when there is none to run. */
export function neuvectorDp(): { path?: string; why?: string } {
  const path = process.env.NEUVECTOR_DP ?? DEFAULT_NEUVECTOR_DP;
  try {
    accessSync(path, constants.X_OK);
    return { path };
  } catch {
    return {
      why: `no executable at ${path} (set NEUVECTOR_DP, or build it with /work/shared/tools/build-neuvector-dp.sh)`,
    };
  }
}

/** Says loudly, once per run, that the peer was not measured. */
export function warnPeerMissing(log: (s: string) => void, why: string): void {
  const bar = '!'.repeat(78);
  log(
    `${bar}\n!! ${PEER_NAME} NOT MEASURED in this run: ${why}\n!! No figure of it is quoted: peer columns say "not measured".\n${bar}`,
  );
}

export interface ProcessUsage {
  wallSecs: number;
  userSecs: number;
  sysSecs: number;
  /** Peak resident set of the process (getrusage ru_maxrss). */
  maxRssMiB: number;
  status: number;
}

/** wait4() gives the child's own peak RSS and CPU times, which Node's child_process does not. */
const TIMED = `
import os, sys, time, json
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1); os.dup2(fd, 2)
    if sys.argv[1]: os.chdir(sys.argv[1])
    os.execvp(sys.argv[2], sys.argv[2:])
_, st, ru = os.wait4(pid, 0)
print(json.dumps({"wallSecs": time.monotonic() - t0, "userSecs": ru.ru_utime, "sysSecs": ru.ru_stime,
                  "maxRssMiB": ru.ru_maxrss / 1024, "status": os.waitstatus_to_exitcode(st)}))
`;

/** Runs argv to completion with stdout and stderr to /dev/null; wall time, CPU times and peak RSS. */
export function timedProcess(argv: string[], cwd = ''): ProcessUsage {
  const r = spawnSync('python3', ['-c', TIMED, cwd, ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`timing ${argv[0]}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as ProcessUsage;
}

/** `dp -p FILE` of the peer, whole process; its working directory is a fresh temp dir. */
export function peerOffline(dp: string, pcap: string): ProcessUsage {
  const dir = mkdtempSync('/tmp/tgb-nv-offline-');
  try {
    const u = timedProcess([dp, '-p', pcap], dir);
    if (u.status !== 0) throw new Error(`${PEER_NAME} -p ${pcap} exited ${u.status}`);
    return u;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface UnixDgramSocket {
  bind(path: string): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
  on(ev: 'message', fn: (buf: Buffer) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
}

/** Binary reply kinds of the peer's control socket that the bench reads. */
const KIND_SESSION_COUNT = 3;
const KIND_KEEP_ALIVE = 10;

/**
 * The peer's control client. Configuration messages get no reply from it, so `sync()`
 * sends a keep-alive and waits for its echo: the control thread handles datagrams in order,
 * so every message sent before is applied by then.
 */
export class PeerCtrl {
  private readonly sock: UnixDgramSocket;
  private readonly path: string;
  private readonly server: string;
  private seq = 1;
  private replies: Buffer[] = [];

  constructor(pid: number) {
    const root = `/proc/${pid}/root/tmp`;
    this.server = `${root}/dp_listen.sock`;
    this.path = `${root}/tgb-cli-${randomBytes(3).toString('hex')}.sock`;
    const unix = require('unix-dgram') as { createSocket(t: 'unix_dgram'): UnixDgramSocket };
    this.sock = unix.createSocket('unix_dgram');
    this.sock.on('error', () => {});
    this.sock.on('message', (buf) => this.replies.push(buf));
    this.sock.bind(this.path);
  }

  send(msg: string): Promise<void> {
    const buf = Buffer.from(msg);
    return new Promise((res, rej) => this.sock.send(buf, 0, buf.length, this.server, (e) => (e ? rej(e) : res())));
  }

  /** The first reply of `kind` that `match` accepts, within `ms`. */
  private async reply(kind: number, match: (b: Buffer) => boolean, ms: number): Promise<Buffer> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.replies.findIndex((b) => b.length >= 4 && b[0] === kind && match(b));
      if (i >= 0) return this.replies.splice(i, 1)[0]!;
      if (Date.now() > end) throw new Error(`${PEER_NAME}: no reply of kind ${kind} in ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async sync(ms = 5000): Promise<void> {
    const seq = this.seq++;
    this.replies = [];
    await this.send(JSON.stringify({ ctrl_keep_alive: { seq_num: seq } }));
    await this.reply(KIND_KEEP_ALIVE, (b) => b.length >= 8 && b.readUInt32BE(4) === seq, ms);
  }

  /** DPMsgSessionCount.CurSess (big-endian, after the 4-byte header). */
  async sessionCount(): Promise<number> {
    this.replies = [];
    await this.send('{"ctrl_count_session":{}}');
    return (await this.reply(KIND_SESSION_COUNT, (b) => b.length >= 8, 5000)).readUInt32BE(4);
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }
}

export interface PeerInline {
  child: ChildProcess;
  pid: number;
  ctrl: PeerCtrl;
  stop(): Promise<void>;
}

/**
 * Starts the peer inline (`dp -n 1`) in network namespace `ns` with private /tmp and
 * /dev/shm (see the header), and waits for its control socket.
 */
export async function startPeerInline(dp: string, ns: string): Promise<PeerInline> {
  // /tmp is covered by the private tmpfs, so the binary runs from a copy under /run.
  const dir = mkdtempSync('/run/tgb-nv-');
  copyFileSync(dp, `${dir}/dp`);
  const script = [
    'set -e',
    '[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] || { echo "not in a private mount namespace: refusing to mount" >&2; exit 97; }',
    'mount -t tmpfs -o size=64m tgb-nv /tmp',
    'mount -t tmpfs -o size=16m tgb-nv /dev/shm',
    'truncate -s 4096 /dev/shm/dp_mnt.shm',
    'cd /tmp',
    `exec "${dir}/dp" -n 1`,
  ].join('\n');
  const [cmd, ...args] = netnsArgv(ns, ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script]);
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const pid = child.pid!;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((res) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(t);
          res();
        });
        child.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 100 && !existsSync(`/proc/${pid}/root/tmp/dp_listen.sock`); i++) {
      if (child.exitCode !== null)
        throw new Error(`${PEER_NAME} exited (${child.exitCode}) before its control socket appeared`);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!existsSync(`/proc/${pid}/root/tmp/dp_listen.sock`))
      throw new Error(`${PEER_NAME}: control socket did not appear in 10 s`);
    const ctrl = new PeerCtrl(pid);
    await ctrl.sync();
    return {
      child,
      pid,
      ctrl,
      stop: async () => {
        ctrl.close();
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
