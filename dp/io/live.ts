import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import type { FrameSink } from '../pipeline.js';
import { RingPort, L2_HEADROOM, type BatchHandler, type RingTx } from './ring-port.js';
import { ringAddon, ringLoadError } from './ring-native.js';

const require = createRequire(import.meta.url);

/** The subset of the `cap` addon's Cap object that the live port uses. */
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  send(buf: Buffer, len: number): void;
  emit(ev: string, nbytes: number, truncated: boolean): boolean;
}
type CapClass = new () => CapHandle;
interface CapModule {
  Cap: CapClass;
}

/**
 * cap's native constructor looks up `this.emit` once and calls it for every frame as
 * emit('packet', nbytes, truncated). A subclass whose prototype has its own `emit`
 * sends frames straight to the handler instead of through EventEmitter.emit (listener
 * array walk and a megamorphic keyed load per frame). cap only ever emits 'packet'.
 */
type PacketFn = (nbytes: number, truncated: boolean) => void;
let directCap: (new (onPacket: PacketFn) => CapHandle) | undefined;
function directCapClass(): new (onPacket: PacketFn) => CapHandle {
  if (directCap) return directCap;
  const { Cap } = require('cap') as CapModule;
  class DirectCap extends Cap {
    private onPacket: PacketFn;
    constructor(onPacket: PacketFn) {
      super();
      this.onPacket = onPacket;
    }
    override emit(_ev: string, nbytes: number, truncated: boolean): boolean {
      this.onPacket(nbytes, truncated);
      return true;
    }
  }
  return (directCap = DirectCap);
}

/**
 * Kernel capture ring. 16 MiB holds ~7k frames of the 2048-byte service MTU (~70 ms at
 * 100 kpps), ample for GC pauses; the ring is mapped into the process, so it is RSS
 * (32 MiB made the dp's RSS ~150 MiB for no measurable throughput gain).
 */
const KERNEL_BUFFER_BYTES = 16 * 1024 * 1024;
/** cap copies each frame into one reused Buffer; 64 KiB + 1 so GSO super-frames show as oversize, not truncated. */
const FRAME_BUFFER_BYTES = 65536 + 1;

export type FrameHandler = (buf: Buffer, len: number, truncated: boolean, maxFrame: number, sink: FrameSink) => void;

/** MTU of `iface` in the current network namespace (ip link, not /sys, which may belong to another netns). */
export function interfaceMtu(iface: string): number {
  let out: string;
  try {
    out = execFileSync('ip', ['-j', 'link', 'show', 'dev', iface], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    throw new TollgateError('EIFACE', `interface "${iface}" not found: ${errorMessage(e).split('\n')[0]}`, 'iface');
  }
  const links = JSON.parse(out) as { mtu?: number }[];
  const mtu = links[0]?.mtu;
  if (typeof mtu !== 'number') throw new TollgateError('EIFACE', `no MTU for interface "${iface}"`, 'iface');
  return mtu;
}

/**
 * A service port (NeuVector's vth-neuv) opened with libpcap through `cap`: captures
 * inbound frames only ("inbound" filter, so what dp sends is never seen again), in
 * immediate mode (cap sets it), and sends forwarded frames back out the same port.
 *
 * cap calls emit once per frame (here: straight into the handler) with the frame in a
 * single reused Buffer, synchronously inside pcap_dispatch; the handler therefore must
 * finish with the frame (verdict and send) before returning, which is exactly what the pipeline does. No copy is made.
 */
export class LivePort implements FrameSink {
  readonly maxFrame: number;
  readonly backend = 'cap';
  private readonly cap: CapHandle;
  private readonly buffer = Buffer.alloc(FRAME_BUFFER_BYTES);
  private closed = false;

  constructor(
    readonly iface: string,
    readonly mtu: number,
    onFrame: FrameHandler,
  ) {
    this.maxFrame = mtu + L2_HEADROOM;
    const buf = this.buffer;
    const maxFrame = this.maxFrame;
    // cap polls only after open(); the closed check covers frames of a dispatch round that close() ended.
    this.cap = new (directCapClass())((nbytes, truncated) => {
      if (!this.closed) onFrame(buf, nbytes, truncated, maxFrame, this);
    });
    try {
      const linkType = this.cap.open(iface, 'inbound', KERNEL_BUFFER_BYTES, this.buffer);
      if (linkType !== 'ETHERNET') {
        this.cap.close();
        throw new TollgateError('EIFACE', `interface "${iface}" has link type ${linkType}, not Ethernet`, 'iface');
      }
    } catch (e) {
      if (e instanceof TollgateError) throw e;
      throw new TollgateError('EIFACE', `cannot open "${iface}" for capture: ${errorMessage(e)}`, 'iface');
    }
  }

  send(buf: Buffer, len: number): boolean {
    try {
      this.cap.send(buf, len);
      return true;
    } catch {
      return false; // e.g. ENOBUFS under load: counted by the caller, never thrown into the data path
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cap.close();
  }
}

/** I/O backend of the service ports: the batched AF_PACKET ring, libpcap via cap, or ring when built. */
export type IoBackend = 'ring' | 'cap' | 'auto';
export const IO_BACKENDS: readonly IoBackend[] = ['auto', 'ring', 'cap'];

export interface ServicePortsOptions {
  onFrame: FrameHandler;
  onBatch: BatchHandler;
  /** Forwarded frames the ring's TX side refused after the pipeline counted them as sent. */
  onTxFail?: (n: number) => void;
  io?: IoBackend;
  /** Fanout group the ring sockets join (dp -n workers). */
  fanoutGroup?: number;
  /** How the ring backend sends forwarded frames. */
  ringTx?: RingTx;
  /** Ring backend: RX interrupt moderation in µs (ring-port.ts RX_COALESCE_US). */
  rxCoalesceUs?: number;
}

export type ServicePort = LivePort | RingPort;

/** Ring addon counters the pipeline counters carry (refreshed by the runtime's tick). */
const RING_TOTALS = ['csumCompleted', 'rxCoalesced'] as const;
export type RingTotal = (typeof RING_TOTALS)[number];

/**
 * Which backend `io` means on this machine: 'auto' is the ring when the addon is built,
 * else cap; 'ring' without the addon is an error (a forced choice must not silently change).
 */
export function resolveIoBackend(io: IoBackend): 'ring' | 'cap' {
  if (io === 'cap') return 'cap';
  if (ringAddon()) return 'ring';
  if (io === 'ring') throw new TollgateError('ENORING', `--io ring: ${ringLoadError()}`, 'io');
  return 'cap';
}

/** Open service ports by interface name. */
export class ServicePorts {
  private readonly ports = new Map<string, ServicePort>();
  readonly backend: 'ring' | 'cap';
  /** Drops of ring ports closed since start, so the total never goes backwards. */
  private closedRingDrops = 0;
  /** Addon counters (RING_TOTALS) of ring ports closed since start. */
  private readonly closedRing = Object.fromEntries(RING_TOTALS.map((k) => [k, 0])) as Record<RingTotal, number>;

  constructor(private readonly opts: ServicePortsOptions) {
    this.backend = resolveIoBackend(opts.io ?? 'auto');
  }

  /** Opens `iface` (re-opening if already open: the MTU may have changed). */
  open(iface: string): ServicePort {
    const mtu = interfaceMtu(iface);
    this.retire(this.ports.get(iface));
    this.ports.delete(iface);
    const o = this.opts;
    const port =
      this.backend === 'ring'
        ? new RingPort(iface, mtu, o.onBatch, o.onTxFail, o.fanoutGroup, o.ringTx, o.rxCoalesceUs)
        : new LivePort(iface, mtu, o.onFrame);
    this.ports.set(iface, port);
    return port;
  }

  /** Closes `iface`; false if it was not open. */
  close(iface: string): boolean {
    const p = this.ports.get(iface);
    if (!p) return false;
    this.retire(p);
    this.ports.delete(iface);
    return true;
  }

  closeAll(): void {
    for (const p of this.ports.values()) this.retire(p);
    this.ports.clear();
  }

  private retire(p: ServicePort | undefined): void {
    if (!p) return;
    if (p instanceof RingPort) {
      this.closedRingDrops += p.kernelDrops();
      for (const k of RING_TOTALS) this.closedRing[k] += p.stat(k);
    }
    p.close();
  }

  /** Kernel RX drops summed over the open ring ports (PACKET_STATISTICS; a syscall per port). */
  ringDrops(): number {
    let n = this.closedRingDrops;
    for (const p of this.ports.values()) if (p instanceof RingPort) n += p.kernelDrops();
    return n;
  }

  /**
   * An addon counter summed over the ring ports, closed ports included: partial checksums
   * completed (native/l4_csum.c), coalesced wake-ups (native/ring_rx.c).
   */
  ringTotal(stat: RingTotal): number {
    let n = this.closedRing[stat];
    for (const p of this.ports.values()) if (p instanceof RingPort) n += p.stat(stat);
    return n;
  }

  get(iface: string): ServicePort | undefined {
    return this.ports.get(iface);
  }

  list(): { iface: string; mtu: number }[] {
    return [...this.ports.values()].map((p) => ({ iface: p.iface, mtu: p.mtu }));
  }
}
