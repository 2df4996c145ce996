/**
 * A sliding read window over a file: keeps [pos, fill) of the file in one reusable buffer
 * and refills it in large chunks, so readers hand out (buffer, offset) pairs without
 * copying each record and memory stays bounded for files of any size.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const CHUNK = 1 << 20;

export class FileWindow {
  buf: Buffer;
  /** Start of unconsumed bytes in buf, and end of valid bytes. */
  pos = 0;
  fill = 0;
  /** File offset of buf[0]. */
  base = 0;
  private eof = false;
  private fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    // Small files get a small window: a directory of captures should not cost 1 MiB each.
    let size = CHUNK;
    try {
      size = Math.min(CHUNK, Math.max(4096, fstatSync(this.fd).size));
    } catch {
      /* keep the default */
    }
    this.buf = Buffer.allocUnsafe(size);
  }

  /** File offset of the current position. */
  get fileOffset(): number {
    return this.base + this.pos;
  }

  /** Makes n bytes from pos available; false if the file ends first. */
  ensure(n: number): boolean {
    if (this.pos + n <= this.fill) return true;
    if (this.eof && this.pos + n > this.fill) return false;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.pos, this.fill);
      this.buf = bigger;
    } else if (this.pos > 0) {
      this.buf.copy(this.buf, 0, this.pos, this.fill);
    }
    this.base += this.pos;
    this.fill -= this.pos;
    this.pos = 0;
    while (this.fill < n && !this.eof) {
      const got = readSync(this.fd, this.buf, this.fill, this.buf.length - this.fill, null);
      if (got === 0) this.eof = true;
      this.fill += got;
    }
    return this.fill >= n;
  }

  /** Bytes left in the window plus whether more may follow (for error messages). */
  get available(): number {
    return this.fill - this.pos;
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
