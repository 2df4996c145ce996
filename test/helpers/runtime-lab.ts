/**
 * A real container runtime of the test run's own: podman (CLI + `podman system service`)
 * or dockerd, run inside a network namespace of this run (nsenter, not `ip netns exec`,
 * which hides the cgroup mounts runc needs), with storage, run dirs, network config and
 * hooks dir under one temp dir. Its bridge and addresses stay in that namespace; the
 * containers' network is 198.18.<x>.0/24. stop() removes exactly what start() made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ExecResult } from '../../shared/exec.js';
import { repoRoot } from '../../shared/repo-root.js';

export const IMAGE_TAR = join(repoRoot(), 'build', 'images', 'tollgate-busybox.tar');
export const IMAGE = 'localhost/tollgate-busybox:1';

export type RuntimeName = 'podman' | 'docker';

/** Why a runtime test cannot run here, or null. */
export function runtimeUnavailable(kind: RuntimeName): string | null {
  if (!existsSync(IMAGE_TAR)) return `${IMAGE_TAR} is missing (scripts/setup.sh builds it)`;
  const bin = kind === 'podman' ? '/usr/bin/podman' : '/usr/sbin/dockerd';
  if (!existsSync(bin)) return `${bin} is not installed (scripts/setup.sh installs it)`;
  return null;
}

async function waitFor(pred: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface RunOptions {
  name: string;
  labels?: Record<string, string>;
  ip?: string;
  cmd: string[];
  extra?: string[];
}

export abstract class RuntimeLab {
  readonly dir: string;
  readonly socket: string;
  readonly hooksDir: string;
  protected service: ChildProcess | undefined;
  serviceLog = '';

  constructor(
    readonly kind: RuntimeName,
    /** This run's namespace for the runtime (its bridge and NAT live here). */
    readonly ns: string,
    /** The containers' network: name and 198.18.<x>.0/24. */
    readonly network: string,
    readonly subnetPrefix: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `tg-${kind}-`));
    this.socket = join(this.dir, `${kind}.sock`);
    this.hooksDir = join(this.dir, 'hooks.d');
    mkdirSync(this.hooksDir);
  }

  /** An address on the containers' network: <prefix>.<host>. */
  ip(host: number): string {
    return `${this.subnetPrefix}.${host}`;
  }

  protected nsArgv(argv: string[]): string[] {
    return ['nsenter', `--net=/run/netns/${this.ns}`, '--', ...argv];
  }

  abstract cli(args: string[], allowFail?: boolean): Promise<ExecResult>;
  abstract startService(): Promise<void>;

  async stopService(): Promise<void> {
    const s = this.service;
    this.service = undefined;
    if (!s || s.exitCode !== null) return;
    s.kill('SIGTERM');
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        s.kill('SIGKILL');
        r();
      }, 5000);
      s.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }

  protected spawnService(argv: string[], env: NodeJS.ProcessEnv): void {
    const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d: Buffer) => (this.serviceLog = (this.serviceLog + d.toString()).slice(-8000)));
    p.stderr!.on('data', (d: Buffer) => (this.serviceLog = (this.serviceLog + d.toString()).slice(-8000)));
    this.service = p;
  }

  async runContainer(o: RunOptions): Promise<string> {
    const args = ['run', '-d', '--name', o.name, ...(o.extra?.includes('--network') ? [] : ['--network', this.network])];
    if (o.ip) args.push('--ip', o.ip);
    for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
    args.push(...(o.extra ?? []), IMAGE, ...o.cmd);
    return (await this.cli(args)).stdout.trim();
  }

  async exec(container: string, cmd: string[], allowFail = true): Promise<ExecResult> {
    return this.cli(['exec', container, ...cmd], allowFail);
  }

  /** A TCP request from inside `from` to ip:port (busybox nc): the server's answer, or '' when it does not get through. */
  async tcp(from: string, ip: string, port: number, timeoutS = 2): Promise<string> {
    const r = await this.exec(from, ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w ${timeoutS} ${ip} ${port}`]);
    return r.stdout;
  }

  async pid(container: string): Promise<number> {
    return Number((await this.cli(['inspect', '-f', '{{.State.Pid}}', container])).stdout.trim());
  }

  async stop(): Promise<void> {
    await this.cli(['rm', '-f', '-a'], true).catch(() => undefined);
    await this.stopService();
    await this.cleanupExtra();
    await run(['ip', 'netns', 'del', this.ns], { allowFail: true });
    // dockerd and containerd leave bind mounts (netns files, rootfs) under their dirs.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(this.dir + '/'));
    for (const m of mounts.sort((a, b) => b.length - a.length)) await run(['umount', '-l', m], { allowFail: true });
    rmSync(this.dir, { recursive: true, force: true });
  }

  protected async cleanupExtra(): Promise<void> {}
}

export class PodmanLab extends RuntimeLab {
  private readonly env: NodeJS.ProcessEnv;

  private constructor(ns: string, x: number) {
    super('podman', ns, `${ns}net`, `198.18.${x}`);
    const d = this.dir;
    for (const sub of ['storage', 'run', 'tmp', 'networks']) mkdirSync(join(d, sub));
    writeFileSync(
      join(d, 'containers.conf'),
      [
        '[containers]',
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        '[network]',
        `network_config_dir = "${d}/networks"`,
        '[engine]',
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${d}/events.log"`,
        `tmp_dir = "${d}/tmp"`,
        `hooks_dir = ["${this.hooksDir}"]`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(d, 'storage.conf'), ['[storage]', 'driver = "vfs"', `runroot = "${d}/run"`, `graroot = "${d}/storage"`.replace('graroot', 'graphroot'), ''].join('\n'));
    this.env = { ...process.env, CONTAINERS_CONF: join(d, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(d, 'storage.conf') };
  }

  static async create(ns: string, x: number): Promise<PodmanLab> {
    await run(['ip', 'netns', 'add', ns]);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const lab = new PodmanLab(ns, x);
    try {
      await lab.cli(['import', IMAGE_TAR, IMAGE]);
      await lab.cli(['network', 'create', '--disable-dns', '--subnet', `198.18.${x}.0/24`, lab.network]);
      await lab.startService();
    } catch (e) {
      await lab.stop();
      throw e;
    }
    return lab;
  }

  cli(args: string[], allowFail = false): Promise<ExecResult> {
    return runEnv(this.nsArgv(['podman', ...args]), this.env, allowFail);
  }

  async startService(): Promise<void> {
    rmSync(this.socket, { force: true });
    this.spawnService(this.nsArgv(['podman', 'system', 'service', '--time=0', `unix://${this.socket}`]), this.env);
    await waitFor(() => existsSync(this.socket), `podman service socket ${this.socket}`);
  }

  override async runContainer(o: RunOptions): Promise<string> {
    return super.runContainer({ ...o, extra: ['--stop-timeout', '1', ...(o.extra ?? [])] });
  }

  async restart(container: string): Promise<void> {
    await this.cli(['restart', '-t', '0', container]);
  }
}

export class DockerLab extends RuntimeLab {
  /** dockerd's default runtime: the agent writes its OCI wrapper here (agent run --oci-wrapper). */
  readonly wrapperPath: string;

  private constructor(ns: string, x: number) {
    super('docker', ns, `${ns}net`, `198.18.${x}`);
    this.wrapperPath = join(this.dir, 'tollgate-runc');
  }

  static async create(ns: string, x: number): Promise<DockerLab> {
    await run(['ip', 'netns', 'add', ns]);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const lab = new DockerLab(ns, x);
    try {
      await lab.startService();
      await lab.cli(['import', IMAGE_TAR, IMAGE]);
      await lab.cli(['network', 'create', '--subnet', `198.18.${x}.0/24`, lab.network]);
    } catch (e) {
      await lab.stop();
      throw e;
    }
    return lab;
  }

  cli(args: string[], allowFail = false): Promise<ExecResult> {
    return runEnv(['docker', '-H', `unix://${this.socket}`, ...args], process.env, allowFail);
  }

  async startService(): Promise<void> {
    rmSync(this.socket, { force: true });
    const d = this.dir;
    this.spawnService(
      this.nsArgv([
        'dockerd', '--host', `unix://${this.socket}`, '--data-root', `${d}/data`, '--exec-root', `${d}/exec`, '--pidfile', `${d}/dockerd.pid`,
        '--iptables=false', '--ip6tables=false', '--bridge=none', '--exec-opt', 'native.cgroupdriver=cgroupfs', '--storage-driver', 'vfs',
        '--containerd-namespace', `tg${this.ns}`, '--containerd-plugins-namespace', `tgp${this.ns}`,
        '--add-runtime', `tollgate=${this.wrapperPath}`, '--default-runtime', 'tollgate',
      ]),
      process.env,
    );
    await waitFor(async () => existsSync(this.socket) && (await this.cli(['version'], true)).code === 0, `dockerd at ${this.socket}`, 40_000);
  }

  override async runContainer(o: RunOptions): Promise<string> {
    return super.runContainer({ ...o, extra: ['--stop-timeout', '1', ...(o.extra ?? [])] });
  }

  async restart(container: string): Promise<void> {
    await this.cli(['restart', '-t', '0', container]);
  }
}

function runEnv(argv: string[], env: NodeJS.ProcessEnv, allowFail: boolean): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const r = { stdout, stderr, code: code ?? -1 };
      if (r.code !== 0 && !allowFail) reject(new Error(`${argv.join(' ')} failed (${r.code}): ${stderr.trim()}`));
      else resolve(r);
    });
  });
}
