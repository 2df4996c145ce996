import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import type { FrameSink } from '../pipeline.js';

const require = createRequire(import.meta.url);

/** The subset of the `cap` addon's Cap object that the live port uses. */
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  send(buf: Buffer, len: number): void;
  on(ev: 'packet', fn: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(ev?: string): void;
}
interface CapModule {
  Cap: new () => CapHandle;
}

/** Kernel capture buffer: large, so a burst while JS is busy is queued, not lost. */
const KERNEL_BUFFER_BYTES = 32 * 1024 * 1024;
/** cap copies each frame into one reused Buffer; 64 KiB + 1 so GSO super-frames show as oversize, not truncated. */
const FRAME_BUFFER_BYTES = 65536 + 1;
/** L2 headroom over the MTU: Ethernet header plus two VLAN tags. */
const L2_HEADROOM = 14 + 8;

export type FrameHandler = (buf: Buffer, len: number, truncated: boolean, maxFrame: number, sink: FrameSink) => void;

/** MTU of `iface` in the current network namespace (ip link, not /sys, which may belong to another netns). */
export function interfaceMtu(iface: string): number {
  let out: string;
  try {
    out = execFileSync('ip', ['-j', 'link', 'show', 'dev', iface], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
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
 * cap emits one 'packet' event per frame into a single reused Buffer, synchronously
 * inside pcap_dispatch; the handler therefore must finish with the frame (verdict and
 * send) before returning, which is exactly what the pipeline does. No copy is made.
 */
export class LivePort implements FrameSink {
  readonly maxFrame: number;
  private readonly cap: CapHandle;
  private readonly buffer = Buffer.alloc(FRAME_BUFFER_BYTES);
  private closed = false;

  constructor(readonly iface: string, readonly mtu: number, onFrame: FrameHandler) {
    this.maxFrame = mtu + L2_HEADROOM;
    const { Cap } = require('cap') as CapModule;
    this.cap = new Cap();
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
    const buf = this.buffer;
    const maxFrame = this.maxFrame;
    this.cap.on('packet', (nbytes, truncated) => onFrame(buf, nbytes, truncated, maxFrame, this));
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
    this.cap.removeAllListeners('packet');
    this.cap.close();
  }
}

/** Open service ports by interface name. */
export class ServicePorts {
  private readonly ports = new Map<string, LivePort>();

  constructor(private readonly onFrame: FrameHandler) {}

  /** Opens `iface` (re-opening if already open: the MTU may have changed). */
  open(iface: string): LivePort {
    const mtu = interfaceMtu(iface);
    this.ports.get(iface)?.close();
    this.ports.delete(iface);
    const port = new LivePort(iface, mtu, this.onFrame);
    this.ports.set(iface, port);
    return port;
  }

  /** Closes `iface`; false if it was not open. */
  close(iface: string): boolean {
    const p = this.ports.get(iface);
    if (!p) return false;
    p.close();
    this.ports.delete(iface);
    return true;
  }

  closeAll(): void {
    for (const p of this.ports.values()) p.close();
    this.ports.clear();
  }

  list(): { iface: string; mtu: number }[] {
    return [...this.ports.values()].map((p) => ({ iface: p.iface, mtu: p.mtu }));
  }
}
