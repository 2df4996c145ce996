/**
 * The dp's side of the kernel fast path: it decides which sessions the steering program
 * may forward on its own (tg_flows, agent/steering/bpf/steer.bpf.c), writes and removes
 * their entries with the bpf() syscall (native/bpf_map.c), and folds the kernel's packet
 * and byte counts and last-seen times back into the session table, so connection
 * reports, session lists and idle timeouts stay the dp's.
 *
 * A session is offloaded when it is TCP or UDP, not denied, has a current decision and
 * has seen packets both ways (TCP: established after the handshake; UDP: after the first
 * exchange). Adds are queued on the packet path and written in one call after each
 * batch (flush()); removals happen at once, before the change that needs them takes
 * effect (policy commit, mode switch, endpoint removal: removeEndpoints()). A flow whose
 * entry does not fit (the limit or a full map) is counted and stays on the slow path.
 */
import type { Logger } from '../../shared/log.js';
import { FAST_PATH_COUNTERS, namesOf, zeroed, type FastPathCounterName } from '../../shared/names/counters.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../decode/packet.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { POLICY_DENY } from '../engine-types.js';
import type { SessionTable } from '../session/table.js';
import { SF_DATA, TcpState } from '../session/tcp-state.js';
import { BPF_ANY, E2BIG, ENOENT, ENOMEM, MapOp, type BpfMapModule } from './bpf-map-native.js';
import {
  FLOW_KEY_SIZE,
  FLOW_MAP_NAME,
  FLOW_VAL_SIZE,
  portOfUcmac,
  readFlowCounts,
  towardWorkloadIndex,
  writeFlowKey,
  writeFlowValue,
} from './flow-entry.js';
import type { FastPathHook } from './hook.js';

/** Counter names, as they appear in the device counters (ctrl_counter_device, counters records). */
/** Names, merge rule and meaning: shared/names/counters.ts. */
export type FastPathCounters = Record<FastPathCounterName, number>;

/** Per-slot state. */
const NONE = 0;
const PENDING = 1;
const IN_MAP = 2;
/** Did not fit: stays on the slow path until the session ends. */
const REFUSED = 3;

/**
 * The largest TCP frame without payload: Ethernet 14 + IPv6 40 + TCP with full options 60.
 * Fast-path packets averaging more than this carried payload, which moves an offloaded
 * session that the dp saw only as a handshake to the long established-with-data timeout.
 */
const MAX_BARE_TCP_FRAME = 114;

/** Entries per bpf_map.op call. */
const CHUNK = 256;

export interface FastPathOptions {
  addon: BpfMapModule;
  /** Pinned map path, or a map id. */
  map: string | number;
  /** At most this many entries (default and ceiling: the map's max_entries). */
  maxEntries?: number;
  log: Logger;
}

export class FastPath implements FastPathHook {
  readonly counters: FastPathCounters = zeroed(namesOf(FAST_PATH_COUNTERS));
  private readonly a: BpfMapModule;
  private readonly fd: number;
  private readonly limit: number;
  private readonly log: Logger;
  private t: SessionTable | null = null;
  private st = new Uint8Array(0);
  private port = new Uint16Array(0);
  /** Kernel counts already folded into the table, per slot: pktsIn, bytesIn, pktsOut, bytesOut. */
  private base = new Float64Array(0);
  private pending = new Int32Array(0);
  private pendingN = 0;
  private readonly keys = new Uint8Array(FLOW_KEY_SIZE * CHUNK);
  private readonly kdv = new DataView(this.keys.buffer);
  /** One entry's kernel counts, read by readFlowCounts (reused: no allocation per entry). */
  private readonly cnt = new Float64Array(5);
  private readonly vals = new Uint8Array(FLOW_VAL_SIZE * CHUNK);
  private readonly vdv = new DataView(this.vals.buffer);
  private readonly errs = new Int32Array(CHUNK);
  private readonly batch = new Int32Array(CHUNK);
  private closed = false;

  constructor(o: FastPathOptions) {
    this.a = o.addon;
    this.log = o.log;
    this.fd = o.addon.open(o.map);
    const info = o.addon.info(this.fd);
    if (info.keySize !== FLOW_KEY_SIZE || info.valueSize !== FLOW_VAL_SIZE || !info.name.startsWith(FLOW_MAP_NAME)) {
      o.addon.close(this.fd);
      throw new Error(
        `map ${String(o.map)} is "${info.name}" with key ${info.keySize} B / value ${info.valueSize} B, not ${FLOW_MAP_NAME} (${FLOW_KEY_SIZE}/${FLOW_VAL_SIZE})`,
      );
    }
    this.limit = Math.min(info.maxEntries, o.maxEntries ?? info.maxEntries);
    this.counters.fastPathLimit = this.limit;
    // A dp starting up owns no session yet: whatever is in the map was left by a dp that
    // died, and none of it can be checked against a session, so none of it may stay.
    this.counters.fastPathFlushed = this.flushMap();
    this.log.info(
      {
        map: o.map,
        mapId: info.id,
        maxEntries: info.maxEntries,
        limit: this.limit,
        flushed: this.counters.fastPathFlushed,
      },
      'fast path on',
    );
  }

  attach(t: SessionTable): void {
    this.t = t;
    this.st = new Uint8Array(t.capacity);
    this.port = new Uint16Array(t.capacity);
    this.base = new Float64Array(t.capacity * 4);
    this.pending = new Int32Array(t.capacity);
  }

  afterAccount(s: number, ep: Endpoint | null): void {
    const t = this.t!;
    const st = this.st[s]!;
    if (st === IN_MAP) {
      // FIN or RST seen (those never take the fast path), or the session is now denied:
      // the rest of it goes through the dp again.
      if ((t.proto[s] === IPPROTO_TCP && t.state[s] !== TcpState.Established) || t.action[s] === POLICY_DENY)
        this.removeOne(s);
      return;
    }
    if (st !== NONE || ep === null || this.closed) return;
    const proto = t.proto[s];
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return;
    if (t.action[s] === POLICY_DENY) return;
    if (proto === IPPROTO_TCP && t.state[s] !== TcpState.Established) return;
    if (t.pkts[s << 1] === 0 || t.pkts[(s << 1) + 1] === 0) return;
    if (this.counters.fastPathActive + this.pendingN >= this.limit) {
      this.counters.fastPathFull++;
      this.st[s] = REFUSED;
      return;
    }
    this.st[s] = PENDING;
    this.port[s] = portOfUcmac(ep.ucmacNum);
    this.pending[this.pendingN++] = s;
  }

  /** Writes the queued entries (after each batch of frames, and before control messages). */
  flush(): void {
    if (this.pendingN === 0) return;
    const t = this.t!;
    const now = this.a.monoNs();
    let i = 0;
    while (i < this.pendingN) {
      let n = 0;
      for (; i < this.pendingN && n < CHUNK; i++) {
        const s = this.pending[i]!;
        if (this.st[s] !== PENDING || t.inUse[s] !== 1) continue;
        this.st[s] = IN_MAP; // settled below
        writeFlowKey(this.kdv, n * FLOW_KEY_SIZE, t, s, this.port[s]!);
        writeFlowValue(this.vals, this.vdv, n * FLOW_VAL_SIZE, now, s, t.serial[s]!);
        this.batch[n++] = s;
      }
      if (n === 0) continue;
      this.a.op(this.fd, MapOp.Update, this.keys, FLOW_KEY_SIZE, this.vals, FLOW_VAL_SIZE, n, BPF_ANY, this.errs);
      for (let j = 0; j < n; j++) {
        const s = this.batch[j]!;
        const e = this.errs[j]!;
        if (e === 0) {
          this.counters.fastPathAdded++;
          this.counters.fastPathActive++;
          const b = s << 2;
          this.base[b] = 0;
          this.base[b + 1] = 0;
          this.base[b + 2] = 0;
          this.base[b + 3] = 0;
        } else {
          if (e === E2BIG || e === ENOMEM) this.counters.fastPathFull++;
          else this.counters.fastPathErrors++;
          this.st[s] = REFUSED;
        }
      }
    }
    this.pendingN = 0;
  }

  beforeEnd(s: number): void {
    const st = this.st[s]!;
    if (st === IN_MAP) this.removeOne(s);
    this.st[s] = NONE;
  }

  /** Folds the kernel's counts and last-seen times of every offloaded session into the table. */
  sync(nowMs: number): void {
    const t = this.t;
    if (t === null) return;
    let n = 0;
    for (let s = 0; s < t.highWater; s++) {
      if (this.st[s] !== IN_MAP) continue;
      this.batch[n++] = s;
      if (n === CHUNK) {
        this.readBatch(n, nowMs, false);
        n = 0;
      }
    }
    if (n > 0) this.readBatch(n, nowMs, false);
  }

  /**
   * Removes the entries of these endpoints' sessions now (their counts folded in first),
   * before a policy, mode or endpoint change takes effect. Allowed sessions are offloaded
   * again on their next packet through the dp.
   */
  removeEndpoints(epIds: readonly number[]): number {
    const t = this.t;
    if (t === null || epIds.length === 0) return 0;
    this.flush();
    let n = 0;
    let removed = 0;
    for (let s = 0; s < t.highWater; s++) {
      if (this.st[s] !== IN_MAP || !epIds.includes(t.ep[s]!)) continue;
      this.batch[n++] = s;
      if (n === CHUNK) {
        removed += this.readBatch(n, Date.now(), true);
        n = 0;
      }
    }
    if (n > 0) removed += this.readBatch(n, Date.now(), true);
    // Refused sessions get another chance under the new configuration.
    for (let s = 0; s < t.highWater; s++) if (this.st[s] === REFUSED && epIds.includes(t.ep[s]!)) this.st[s] = NONE;
    return removed;
  }

  /** Every entry out (a change that may affect any endpoint, e.g. the internal subnets). */
  removeAll(): number {
    const t = this.t;
    if (t === null) return 0;
    const ids = new Set<number>();
    for (let s = 0; s < t.highWater; s++) if (this.st[s] === IN_MAP || this.st[s] === REFUSED) ids.add(t.ep[s]!);
    return this.removeEndpoints([...ids]);
  }

  /** Removes every entry and stops offloading (dp shutdown). */
  close(): void {
    if (this.closed) return;
    this.pendingN = 0;
    this.removeAll();
    this.closed = true;
    this.a.close(this.fd);
  }

  private removeOne(s: number): void {
    this.batch[0] = s;
    this.readBatch(1, Date.now(), true);
  }

  /**
   * Reads batch[0..n) and folds their counts in; with `remove`, takes them out of the map
   * in the same syscall (lookup-and-delete), so nothing the kernel counts between a read
   * and a delete is lost. Returns how many entries were removed.
   */
  private readBatch(n: number, nowMs: number, remove: boolean): number {
    const t = this.t!;
    for (let j = 0; j < n; j++) {
      const s = this.batch[j]!;
      writeFlowKey(this.kdv, j * FLOW_KEY_SIZE, t, s, this.port[s]!);
    }
    const op = remove ? MapOp.LookupAndDelete : MapOp.Lookup;
    this.a.op(this.fd, op, this.keys, FLOW_KEY_SIZE, this.vals, FLOW_VAL_SIZE, n, 0, this.errs);
    const mono = this.a.monoNs();
    const c = this.counters;
    let removed = 0;
    for (let j = 0; j < n; j++) {
      const s = this.batch[j]!;
      if (this.errs[j] !== 0) {
        // Gone from under us (someone else emptied the map): offload again later.
        if (this.errs[j] !== ENOENT) c.fastPathErrors++;
        this.st[s] = NONE;
        c.fastPathActive--;
        continue;
      }
      const b = s << 2;
      const cnt = this.cnt;
      readFlowCounts(this.vdv, j * FLOW_VAL_SIZE, cnt);
      const pIn = cnt[0]!,
        bIn = cnt[1]!,
        pOut = cnt[2]!,
        bOut = cnt[3]!;
      const dpIn = pIn - this.base[b]!,
        dbIn = bIn - this.base[b + 1]!,
        dpOut = pOut - this.base[b + 2]!,
        dbOut = bOut - this.base[b + 3]!;
      this.base[b] = pIn;
      this.base[b + 1] = bIn;
      this.base[b + 2] = pOut;
      this.base[b + 3] = bOut;
      const iIn = (s << 1) + towardWorkloadIndex(t, s);
      const iOut = iIn ^ 1;
      t.pkts[iIn]! += dpIn;
      t.bytes[iIn]! += dbIn;
      t.pkts[iOut]! += dpOut;
      t.bytes[iOut]! += dbOut;
      if (t.proto[s] === IPPROTO_TCP && dbIn + dbOut > (dpIn + dpOut) * MAX_BARE_TCP_FRAME)
        t.flags[s] = t.flags[s]! | SF_DATA;
      c.fastPathPackets += dpIn + dpOut;
      c.fastPathBytes += dbIn + dbOut;
      if (dpIn + dpOut > 0) {
        const last = nowMs - (mono - cnt[4]!) / 1e6;
        if (last > t.lastMs[s]!) t.lastMs[s] = Math.min(last, nowMs);
      }
      if (remove) {
        this.st[s] = NONE;
        c.fastPathActive--;
        c.fastPathRemoved++;
        removed++;
      }
    }
    return removed;
  }

  /** Deletes every entry in the map; returns how many. */
  private flushMap(): number {
    let total = 0;
    for (;;) {
      const n = this.a.keys(this.fd, this.keys, FLOW_KEY_SIZE, CHUNK);
      if (n === 0) break;
      const ok = this.a.op(this.fd, MapOp.Delete, this.keys, FLOW_KEY_SIZE, this.vals, FLOW_VAL_SIZE, n, 0, this.errs);
      total += ok;
      if (ok === 0) throw new Error(`cannot delete entries of ${FLOW_MAP_NAME} (errno ${this.errs[0]})`);
    }
    return total;
  }
}
