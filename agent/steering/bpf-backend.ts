import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../shared/exec.js';
import { TollgateError } from '../../shared/errors.js';
import { emptyPlan, type ServicePair, type SteeredPort, type SteeringBackend, type SteeringPlan } from './backend.js';
import { applySteeringPlan } from './apply.js';
import {
  MAP_COUNTERS,
  MAP_FLOWS,
  MAP_PORTS,
  MAP_UCMACS,
  PROG_VBR,
  PROG_VEX,
  PROG_VIN,
  mapDeleteArgv,
  mapPath,
  mapUpdateArgv,
  portKey,
  portValue,
  progPath,
  ucKey,
  ucValue,
} from './bpf-maps.js';
import { qdiscRemoval, readIngress, readIngressMany, type IngressState } from './tc-state.js';
import { checkPair, checkPort } from './validate.js';

/** Our one filter per device: clsact ingress, pref 1, handle 1. */
const PREF = 1;

/** build/steer.bpf.o of this checkout (works from agent/… under vitest and from dist/agent/…). */
export function bpfObjectPath(): string {
  const env = process.env.TOLLGATE_BPF_OBJ;
  if (env) return env;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'agent')))
      return join(dir, 'build', 'steer.bpf.o');
    dir = dirname(dir);
  }
  return join(process.cwd(), 'build', 'steer.bpf.o');
}

export function checkPinDir(pinDir: string): void {
  if (!/^\/sys\/fs\/bpf\/[A-Za-z0-9_.-]+$/.test(pinDir))
    throw new TollgateError('ESTEERINPUT', `pin directory must be /sys/fs/bpf/<name>, got "${pinDir}"`, 'pinDir');
}

async function pinnedProgId(path: string): Promise<number | undefined> {
  if (!existsSync(path)) return undefined;
  const r = await run(['bpftool', '-j', 'prog', 'show', 'pinned', path], { allowFail: true });
  if (r.code !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as { id?: number }).id;
  } catch {
    return undefined;
  }
}

async function mapHasKey(pinDir: string, map: string, key: Buffer): Promise<boolean> {
  const p = mapPath(pinDir, map);
  if (!existsSync(p)) return false;
  const hex = [...key].map((x) => x.toString(16).padStart(2, '0'));
  const r = await run(['bpftool', 'map', 'lookup', 'pinned', p, 'key', 'hex', ...hex], { allowFail: true });
  return r.code === 0;
}

/**
 * TC BPF steering: steer.bpf.c's three programs, loaded once per lab and pinned under
 * pinDir (progs/, maps/), attached with clsact + cls_bpf da. Per-port data lives in the
 * maps, so attaching a port is a map update plus a filter, and a mode switch is map
 * updates only.
 */
export class BpfSteering implements SteeringBackend {
  readonly kind = 'bpf' as const;

  constructor(
    readonly pinDir: string,
    readonly objectPath = bpfObjectPath(),
  ) {
    checkPinDir(pinDir);
  }

  private pinsComplete(): boolean {
    return (
      [PROG_VEX, PROG_VIN, PROG_VBR].every((p) => existsSync(progPath(this.pinDir, p))) &&
      [MAP_PORTS, MAP_UCMACS, MAP_COUNTERS, MAP_FLOWS].every((m) => existsSync(mapPath(this.pinDir, m)))
    );
  }

  /** tc lines that make `dev` run `prog`, given what is there now (nothing if already so). */
  private async attachLines(dev: string, st: IngressState, prog: string, loadedNow: boolean): Promise<string[]> {
    if (!st.linkExists)
      throw new TollgateError('ESTEERSTATE', `link ${dev} does not exist in the enforcer namespace`, dev);
    if (st.qdisc === 'ingress')
      throw new TollgateError('ESTEERSTATE', `${dev} has a plain ingress qdisc (u32 steering?); remove it first`, dev);
    const lines: string[] = [];
    if (!st.qdisc) lines.push(`qdisc add dev ${dev} clsact`);
    const cur = st.filters.get(PREF);
    // Only a filter already there needs the pinned program's id (is it the current program?).
    const want = loadedNow || cur?.progId === undefined ? undefined : await pinnedProgId(progPath(this.pinDir, prog));
    if (!cur || cur.progId === undefined || want === undefined || cur.progId !== want || st.filters.size !== 1) {
      for (const p of st.filters.keys()) if (p !== PREF) lines.push(`filter del dev ${dev} ingress pref ${p}`);
      lines.push(
        `filter replace dev ${dev} ingress protocol all pref ${PREF} handle 1 bpf da object-pinned ${progPath(this.pinDir, prog)}`,
      );
    }
    return lines;
  }

  async planService(pair: ServicePair): Promise<SteeringPlan> {
    checkPair(pair);
    const plan = emptyPlan();
    const loadNow = !this.pinsComplete();
    if (loadNow) {
      if (!existsSync(this.objectPath))
        throw new TollgateError(
          'ESTEERBPFOBJ',
          `BPF object ${this.objectPath} is missing; run scripts/setup.sh`,
          'bpfObject',
        );
      // A half-made pin dir (interrupted load) would make loadall fail on the first existing pin.
      plan.prepare.push(['rm', '-rf', `${this.pinDir}/progs`, `${this.pinDir}/maps`]);
      plan.prepare.push(['mkdir', '-p', this.pinDir]);
      plan.prepare.push([
        'bpftool',
        'prog',
        'loadall',
        this.objectPath,
        `${this.pinDir}/progs`,
        'pinmaps',
        `${this.pinDir}/maps`,
      ]);
    }
    const st = await readIngress(pair.agentNs, pair.vbr);
    plan.tc.push(...(await this.attachLines(pair.vbr, st, PROG_VBR, loadNow)));
    return plan;
  }

  /**
   * A port's map entries in the order that never misroutes: into inline the return path
   * (vbr) learns first; into tap the ports stop sending to the dp first.
   */
  private entries(port: SteeredPort, pair: ServicePair): string[][] {
    const base = { vbrIfindex: pair.vbrIfindex, wlMac: port.wlMac, ucMac: port.ucMac, mode: port.mode };
    const vexEntry = mapUpdateArgv(
      this.pinDir,
      MAP_PORTS,
      portKey(port.vexIfindex),
      portValue({ ...base, ingressIfindex: port.vexIfindex, role: 'vex', peerIfindex: port.vinIfindex }),
    );
    const vinEntry = mapUpdateArgv(
      this.pinDir,
      MAP_PORTS,
      portKey(port.vinIfindex),
      portValue({ ...base, ingressIfindex: port.vinIfindex, role: 'vin', peerIfindex: port.vexIfindex }),
    );
    const ucEntry = mapUpdateArgv(
      this.pinDir,
      MAP_UCMACS,
      ucKey(port.ucMac),
      ucValue({
        ucMac: port.ucMac,
        vinIfindex: port.vinIfindex,
        vexIfindex: port.vexIfindex,
        wlMac: port.wlMac,
        mode: port.mode,
      }),
    );
    return port.mode === 'inline' ? [ucEntry, vexEntry, vinEntry] : [vexEntry, vinEntry, ucEntry];
  }

  /** vex and vin entries in drain mode; the ucmac entry (the way back from the dp) stays as it is. */
  planDrain(ports: readonly SteeredPort[], pair: ServicePair): SteeringPlan {
    const plan = emptyPlan();
    for (const port of ports) {
      checkPort(port, pair);
      const base = { vbrIfindex: pair.vbrIfindex, wlMac: port.wlMac, ucMac: port.ucMac, mode: 'drain' as const };
      plan.prepare.push(
        mapUpdateArgv(
          this.pinDir,
          MAP_PORTS,
          portKey(port.vexIfindex),
          portValue({ ...base, ingressIfindex: port.vexIfindex, role: 'vex', peerIfindex: port.vinIfindex }),
        ),
        mapUpdateArgv(
          this.pinDir,
          MAP_PORTS,
          portKey(port.vinIfindex),
          portValue({ ...base, ingressIfindex: port.vinIfindex, role: 'vin', peerIfindex: port.vexIfindex }),
        ),
      );
    }
    return plan;
  }

  planModeSwitch(ports: readonly SteeredPort[], pair: ServicePair): SteeringPlan {
    const plan = emptyPlan();
    for (const p of ports) {
      checkPort(p, pair);
      plan.prepare.push(...this.entries(p, pair));
    }
    return plan;
  }

  async planPort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan> {
    checkPort(port, pair);
    const plan = emptyPlan();
    const loaded = this.pinsComplete();
    // Entries before filters, so a new filter never sees a frame it has no data for.
    plan.prepare.push(...this.entries(port, pair));
    const states = await readIngressMany(pair.agentNs, [port.vex, port.vin]);
    const [vexSt, vinSt] = [states.get(port.vex)!, states.get(port.vin)!];
    plan.tc.push(...(await this.attachLines(port.vex, vexSt, PROG_VEX, !loaded)));
    plan.tc.push(...(await this.attachLines(port.vin, vinSt, PROG_VIN, !loaded)));
    return plan;
  }

  async planRemovePort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan> {
    checkPort(port, pair);
    const plan = emptyPlan();
    for (const dev of [port.vex, port.vin]) plan.tc.push(...(await qdiscRemoval(pair.agentNs, dev)));
    if (await mapHasKey(this.pinDir, MAP_UCMACS, ucKey(port.ucMac)))
      plan.commands.push(mapDeleteArgv(this.pinDir, MAP_UCMACS, ucKey(port.ucMac)));
    for (const ifx of [port.vexIfindex, port.vinIfindex])
      if (await mapHasKey(this.pinDir, MAP_PORTS, portKey(ifx)))
        plan.commands.push(mapDeleteArgv(this.pinDir, MAP_PORTS, portKey(ifx)));
    return plan;
  }

  async planRemoveService(pair: ServicePair): Promise<SteeringPlan> {
    checkPair(pair);
    const plan = emptyPlan();
    plan.tc.push(...(await qdiscRemoval(pair.agentNs, pair.vbr)));
    // Unpinning does not pull programs out from under filters still attached elsewhere:
    // the kernel keeps them alive until their last filter goes.
    if (existsSync(this.pinDir)) plan.commands.push(['rm', '-rf', this.pinDir]);
    return plan;
  }

  applyPlan(agentNs: string, plan: SteeringPlan): Promise<void> {
    return applySteeringPlan(agentNs, plan);
  }
}
