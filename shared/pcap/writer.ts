/**
 * Classic pcap writer (little-endian, microsecond timestamps, Ethernet by default).
 * Buffers records and writes in large chunks; synchronous so a caller can write from the
 * packet loop without back-pressure bookkeeping.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import {
  LINKTYPE_ETHERNET,
  MAX_RECORD_LEN,
  PCAP_GLOBAL_HEADER_LEN,
  PCAP_MAGIC_USEC,
  PCAP_RECORD_HEADER_LEN,
} from './format.js';

const FLUSH_AT = 1 << 20;

export class PcapWriter {
  private fd: number;
  private buf = Buffer.allocUnsafe(FLUSH_AT + MAX_RECORD_LEN + PCAP_RECORD_HEADER_LEN);
  private len = 0;
  packets = 0;

  constructor(path: string, linkType = LINKTYPE_ETHERNET, snapLen = MAX_RECORD_LEN) {
    this.fd = openSync(path, 'w');
    const h = this.buf;
    h.writeUInt32LE(PCAP_MAGIC_USEC, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8);
    h.writeUInt32LE(0, 12);
    h.writeUInt32LE(snapLen, 16);
    h.writeUInt32LE(linkType, 20);
    this.len = PCAP_GLOBAL_HEADER_LEN;
  }

  /** Appends one frame (bytes off..off+len of src); wireLen defaults to len. */
  write(src: Uint8Array, off: number, len: number, tsMs: number, wireLen = len): void {
    if (this.fd < 0) return;
    const capLen = Math.min(len, MAX_RECORD_LEN);
    const b = this.buf;
    let sec = Math.floor(tsMs / 1000);
    let usec = Math.round((tsMs - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec++;
      usec -= 1_000_000;
    }
    b.writeUInt32LE(sec >>> 0, this.len);
    b.writeUInt32LE(usec, this.len + 4);
    b.writeUInt32LE(capLen, this.len + 8);
    b.writeUInt32LE(Math.max(wireLen, capLen), this.len + 12);
    this.len += PCAP_RECORD_HEADER_LEN;
    b.set(src.subarray(off, off + capLen), this.len);
    this.len += capLen;
    this.packets++;
    if (this.len >= FLUSH_AT) this.flush();
  }

  flush(): void {
    let o = 0;
    while (o < this.len) o += writeSync(this.fd, this.buf, o, this.len - o);
    this.len = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}
