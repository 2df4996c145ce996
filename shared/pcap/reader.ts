/**
 * Reads classic pcap (either byte order, micro- or nanosecond timestamps) and pcapng
 * (any number of sections and interfaces, per-interface timestamp resolution and offset).
 * `next()` advances to the next packet record and exposes it as fields of the reader
 * (buffer, offset, lengths, time), valid until the following call: no per-record objects.
 * A damaged file ends iteration with `error` set and the packets before it still counted.
 */
import { FileWindow } from './window.js';
import {
  MAX_BLOCK_LEN,
  MAX_RECORD_LEN,
  PCAPNG_BYTE_ORDER_MAGIC,
  PCAPNG_EPB,
  PCAPNG_IDB,
  PCAPNG_OPB,
  PCAPNG_OPT_IF_TSOFFSET,
  PCAPNG_OPT_IF_TSRESOL,
  PCAPNG_SHB,
  PCAPNG_SPB,
  PCAP_GLOBAL_HEADER_LEN,
  PCAP_MAGIC_NSEC,
  PCAP_MAGIC_USEC,
  PCAP_RECORD_HEADER_LEN,
  type PcapError,
  type PcapErrorCode,
} from './format.js';

interface PcapngInterface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
  offsetMs: number;
}

export type CaptureFormat = 'pcap' | 'pcapng';

export class PcapReader {
  readonly format: CaptureFormat;
  bigEndian = false;
  nanosecond = false;
  /** Classic pcap: fractional timestamp units → ms. */
  private fracToMs = 1e-3;
  /** Link type of the current record's interface. */
  linkType = 1;
  snapLen = 0;

  // Current record.
  buf: Buffer;
  off = 0;
  capLen = 0;
  wireLen = 0;
  tsMs = 0;
  ifIndex = 0;
  /** Records returned so far. */
  packets = 0;
  error: PcapError | null = null;
  /** A header oddity that does not stop reading (e.g. an impossible snaplen), or null. */
  warning: PcapError | null = null;
  /** Interfaces seen across all pcapng sections. */
  interfaceCount = 0;

  private readonly win: FileWindow;
  private interfaces: PcapngInterface[] = [];
  private done = false;

  private constructor(win: FileWindow, format: CaptureFormat) {
    this.win = win;
    this.format = format;
    this.buf = win.buf;
  }

  /** Opens a capture; returns a PcapError (not thrown) when it cannot be read at all. */
  static open(path: string): PcapReader | PcapError {
    let win: FileWindow;
    try {
      win = new FileWindow(path);
    } catch (e) {
      return fail('pcap.open_failed', `cannot open ${path}: ${(e as Error).message}`, 0, 0);
    }
    if (!win.ensure(4)) {
      win.close();
      return fail('pcap.short_header', 'file shorter than a capture header', 0, 0);
    }
    const b = win.buf;
    const le = b.readUInt32LE(0);
    const be = b.readUInt32BE(0);
    if (le === PCAPNG_SHB) {
      const r = new PcapReader(win, 'pcapng');
      return r;
    }
    if (le === PCAP_MAGIC_USEC || le === PCAP_MAGIC_NSEC || be === PCAP_MAGIC_USEC || be === PCAP_MAGIC_NSEC) {
      if (!win.ensure(PCAP_GLOBAL_HEADER_LEN)) {
        win.close();
        return fail('pcap.short_header', 'pcap global header is truncated', 0, 0);
      }
      const r = new PcapReader(win, 'pcap');
      r.bigEndian = be === PCAP_MAGIC_USEC || be === PCAP_MAGIC_NSEC;
      // libpcap writes 2.4 and reads every 2.x up to it; anything else is another format.
      const major = r.rd16(b, 4);
      const minor = r.rd16(b, 6);
      if (major !== 2 || minor > 4) {
        win.close();
        return fail('pcap.bad_version', `pcap version ${major}.${minor} is not supported (2.0 to 2.4)`, 0, 4);
      }
      r.nanosecond = le === PCAP_MAGIC_NSEC || be === PCAP_MAGIC_NSEC;
      r.fracToMs = r.nanosecond ? 1e-6 : 1e-3;
      r.snapLen = r.rd32(b, 16);
      r.linkType = r.rd32(b, 20) & 0xffff;
      if (r.snapLen === 0 || r.snapLen > MAX_RECORD_LEN) {
        r.warning = fail(
          'pcap.bad_snaplen',
          `snaplen ${r.snapLen} is outside 1..${MAX_RECORD_LEN}; records are read by their own lengths`,
          0,
          16,
        );
      }
      r.interfaceCount = 1;
      win.pos = PCAP_GLOBAL_HEADER_LEN;
      return r;
    }
    win.close();
    return fail('pcap.bad_magic', `not a pcap or pcapng file (magic 0x${be.toString(16).padStart(8, '0')})`, 0, 0);
  }

  /** Advances to the next packet; false at end of file or on error (see `error`). */
  next(): boolean {
    if (this.done) return false;
    const ok = this.format === 'pcap' ? this.nextPcap() : this.nextPcapng();
    if (!ok) {
      this.done = true;
      this.win.close();
    } else {
      this.packets++;
    }
    return ok;
  }

  close(): void {
    this.done = true;
    this.win.close();
  }

  private rd32(b: Buffer, o: number): number {
    return this.bigEndian ? b.readUInt32BE(o) : b.readUInt32LE(o);
  }
  private rd16(b: Buffer, o: number): number {
    return this.bigEndian ? b.readUInt16BE(o) : b.readUInt16LE(o);
  }

  private stop(code: PcapErrorCode, message: string): false {
    this.error = fail(code, message, this.packets, this.win.fileOffset);
    return false;
  }

  private nextPcap(): boolean {
    const w = this.win;
    if (!w.ensure(PCAP_RECORD_HEADER_LEN)) {
      if (w.available === 0) return false;
      return this.stop(
        'pcap.truncated_record',
        `record header cut short after packet ${this.packets} (${w.available} bytes left)`,
      );
    }
    let b = w.buf;
    const h = w.pos;
    let sec: number, frac: number, capLen: number, wireLen: number;
    if (this.bigEndian) {
      sec = b.readUInt32BE(h);
      frac = b.readUInt32BE(h + 4);
      capLen = b.readUInt32BE(h + 8);
      wireLen = b.readUInt32BE(h + 12);
    } else {
      // Plain index loads: the per-record hot path of offline mode and the bench.
      sec = (b[h]! | (b[h + 1]! << 8) | (b[h + 2]! << 16) | (b[h + 3]! << 24)) >>> 0;
      frac = (b[h + 4]! | (b[h + 5]! << 8) | (b[h + 6]! << 16) | (b[h + 7]! << 24)) >>> 0;
      capLen = (b[h + 8]! | (b[h + 9]! << 8) | (b[h + 10]! << 16) | (b[h + 11]! << 24)) >>> 0;
      wireLen = (b[h + 12]! | (b[h + 13]! << 8) | (b[h + 14]! << 16) | (b[h + 15]! << 24)) >>> 0;
    }
    if (capLen > MAX_RECORD_LEN) {
      return this.stop(
        'pcap.record_too_large',
        `record ${this.packets + 1} claims ${capLen} captured bytes (max ${MAX_RECORD_LEN})`,
      );
    }
    if (!w.ensure(PCAP_RECORD_HEADER_LEN + capLen)) {
      return this.stop(
        'pcap.truncated_record',
        `record ${this.packets + 1} claims ${capLen} bytes but the file ends after ${w.available - PCAP_RECORD_HEADER_LEN}`,
      );
    }
    b = w.buf;
    this.buf = b;
    this.off = w.pos + PCAP_RECORD_HEADER_LEN;
    this.capLen = capLen;
    this.wireLen = wireLen;
    this.tsMs = sec * 1000 + frac * this.fracToMs;
    w.pos += PCAP_RECORD_HEADER_LEN + capLen;
    return true;
  }

  private nextPcapng(): boolean {
    const w = this.win;
    for (;;) {
      if (!w.ensure(12)) {
        if (w.available === 0) return false;
        return this.stop('pcapng.bad_block', `block header cut short after packet ${this.packets}`);
      }
      let b = w.buf;
      let p = w.pos;
      const typeLE = b.readUInt32LE(p);
      if (typeLE === PCAPNG_SHB) {
        const bom = b.readUInt32LE(p + 8);
        if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.bigEndian = false;
        else if (b.readUInt32BE(p + 8) === PCAPNG_BYTE_ORDER_MAGIC) this.bigEndian = true;
        else return this.stop('pcapng.bad_block', 'section header has an unknown byte-order magic');
        this.interfaces = []; // interface ids are per section
      }
      const type = this.rd32(b, p);
      const len = this.rd32(b, p + 4);
      if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK_LEN) {
        return this.stop('pcapng.bad_block', `block of type 0x${type.toString(16)} has invalid length ${len}`);
      }
      if (!w.ensure(len)) return this.stop('pcapng.bad_block', `block of ${len} bytes cut short by end of file`);
      b = w.buf;
      p = w.pos;
      w.pos += len;
      if (type === PCAPNG_IDB) {
        if (len < 20) return this.stop('pcapng.bad_block', 'interface description block too short');
        this.interfaces.push(this.parseIdb(b, p, len));
        this.interfaceCount++;
        continue;
      }
      if (type === PCAPNG_EPB || type === PCAPNG_OPB) {
        if (len < 32) return this.stop('pcapng.bad_block', 'packet block too short');
        const ifId = type === PCAPNG_EPB ? this.rd32(b, p + 8) : this.rd16(b, p + 8);
        const itf = this.interfaces[ifId];
        if (!itf) return this.stop('pcapng.unknown_interface', `packet block names interface ${ifId}, not described`);
        const hi = this.rd32(b, p + 12);
        const lo = this.rd32(b, p + 16);
        const capLen = this.rd32(b, p + 20);
        if (capLen > len - 32)
          return this.stop('pcapng.bad_block', `packet block claims ${capLen} bytes in a ${len}-byte block`);
        this.setRecord(
          b,
          p + 28,
          capLen,
          this.rd32(b, p + 24),
          (hi * 4294967296 + lo) / itf.unitsPerMs + itf.offsetMs,
          ifId,
          itf,
        );
        return true;
      }
      if (type === PCAPNG_SPB) {
        const itf = this.interfaces[0];
        if (!itf) return this.stop('pcapng.unknown_interface', 'simple packet block without interface 0');
        const wire = this.rd32(b, p + 8);
        let cap = Math.min(wire, len - 16);
        if (itf.snapLen > 0) cap = Math.min(cap, itf.snapLen);
        this.setRecord(b, p + 12, cap, wire, 0, 0, itf);
        return true;
      }
      // Other blocks (name resolution, statistics, custom...) carry no packets.
    }
  }

  private setRecord(
    b: Buffer,
    off: number,
    capLen: number,
    wireLen: number,
    tsMs: number,
    ifId: number,
    itf: PcapngInterface,
  ): void {
    this.buf = b;
    this.off = off;
    this.capLen = capLen;
    this.wireLen = wireLen;
    this.tsMs = tsMs;
    this.ifIndex = ifId;
    this.linkType = itf.linkType;
    this.snapLen = itf.snapLen;
  }

  private parseIdb(b: Buffer, p: number, len: number): PcapngInterface {
    const itf: PcapngInterface = {
      linkType: this.rd16(b, p + 8),
      snapLen: this.rd32(b, p + 12),
      unitsPerMs: 1000,
      offsetMs: 0,
    };
    let o = p + 16;
    const end = p + len - 4;
    while (o + 4 <= end) {
      const code = this.rd16(b, o);
      const olen = this.rd16(b, o + 2);
      if (code === 0) break;
      if (o + 4 + olen > end) break;
      if (code === PCAPNG_OPT_IF_TSRESOL && olen >= 1) {
        const v = b[o + 4]!;
        const unitsPerSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
        itf.unitsPerMs = unitsPerSec / 1000;
      } else if (code === PCAPNG_OPT_IF_TSOFFSET && olen >= 8) {
        const hi = this.rd32(b, o + 4);
        const lo = this.rd32(b, o + 8);
        itf.offsetMs = (this.bigEndian ? hi * 4294967296 + lo : lo * 4294967296 + hi) * 1000;
      }
      o += 4 + ((olen + 3) & ~3);
    }
    return itf;
  }
}

function fail(code: PcapErrorCode, message: string, packetsRead: number, fileOffset: number): PcapError {
  return { code, message, packetsRead, fileOffset };
}

export function isPcapError(x: PcapReader | PcapError): x is PcapError {
  return !(x instanceof PcapReader);
}
