import { macStringToNumber } from '../../shared/mac.js';
import { TollgateError } from '../../shared/errors.js';
import { newCounters, type Endpoint } from './endpoint.js';

export interface AddEndpointInput {
  iface: string;
  mac: string;
  ucmac: string;
  bcmac: string;
  /** Previous real MAC of the same workload (tap↔inline switch); '' = none. */
  oldmac: string;
}

export interface AddEndpointResult {
  ep: Endpoint;
  /** The record this one took its state from (same mac or oldmac), if any. */
  inheritedFrom: Endpoint | undefined;
}

/**
 * Endpoints (workloads) known to the dp. One record is reachable under three 48-bit
 * keys: its real MAC, its unique steering MAC (ucmac) and its bcmac, exactly like
 * NeuVector's g_ep_map. The packet path looks an EP up with `byMacNumber(macToNumber(frame, off))`,
 * a Map get on a number: no string, no allocation.
 *
 * A new EP starts in tap mode (inspect, never forward), as in NeuVector: an agent
 * must follow `ctrl_add_mac` with `ctrl_cfg_mac {tap:false}` to go inline.
 */
export class EndpointRegistry {
  private readonly byKey = new Map<number, Endpoint>();
  private readonly byRealMac = new Map<number, Endpoint>();
  private nextId = 1;

  get size(): number {
    return this.byRealMac.size;
  }

  /** Hot path: EP whose mac, ucmac or bcmac equals `key`, or undefined. */
  byMacNumber(key: number): Endpoint | undefined {
    return this.byKey.get(key);
  }

  /** EP by its real MAC string (control plane); undefined if unknown. */
  byMac(mac: string): Endpoint | undefined {
    return this.byRealMac.get(macStringToNumber(mac));
  }

  list(): Endpoint[] {
    return [...this.byRealMac.values()];
  }

  /**
   * Adds or replaces the EP of `mac`. If `oldmac` or the same `mac` is already known,
   * the new record inherits its id, tap flag, counters and app map (NeuVector copies
   * everything from COPY_START), and only the steering keys change. Inputs must be
   * validated MAC strings (the schema does that); parse errors still throw.
   */
  add(input: AddEndpointInput): AddEndpointResult {
    const macNum = macStringToNumber(input.mac, 'mac');
    const ucmacNum = macStringToNumber(input.ucmac, 'ucmac');
    const bcmacNum = macStringToNumber(input.bcmac, 'bcmac');
    const oldNum = input.oldmac ? macStringToNumber(input.oldmac, 'oldmac') : undefined;

    const prev = (oldNum !== undefined ? this.byRealMac.get(oldNum) : undefined) ?? this.byRealMac.get(macNum);
    // The steering keys are unique: an EP whose mac or ucmac another EP already uses
    // would take that EP's frames. Only the record being replaced (same mac, or the one
    // oldmac names) may hold them. Keys are numbers, so case never matters.
    for (const [num, field, text] of [
      [macNum, 'mac', input.mac],
      [ucmacNum, 'ucmac', input.ucmac],
    ] as const) {
      const owner = this.byKey.get(num);
      if (owner !== undefined && owner !== prev) {
        throw new TollgateError(
          'EINUSE',
          `${text.toLowerCase()} is already used by the endpoint of mac ${owner.mac}`,
          field,
        );
      }
    }
    if (prev) this.unlink(prev);

    const ep: Endpoint = {
      id: prev ? prev.id : this.nextId++,
      iface: input.iface,
      mac: input.mac.toLowerCase(),
      ucmac: input.ucmac.toLowerCase(),
      bcmac: input.bcmac.toLowerCase(),
      macNum,
      ucmacNum,
      bcmacNum,
      tap: prev ? prev.tap : true,
      counters: prev ? prev.counters : newCounters(),
      apps: prev?.apps ?? new Map(),
    };
    this.byRealMac.set(macNum, ep);
    this.byKey.set(macNum, ep);
    this.byKey.set(ucmacNum, ep);
    this.byKey.set(bcmacNum, ep);
    return { ep, inheritedFrom: prev };
  }

  /** Removes the EP of real MAC `mac`; returns it, or undefined if it was not known. */
  delete(mac: string): Endpoint | undefined {
    const ep = this.byRealMac.get(macStringToNumber(mac, 'mac'));
    if (ep) this.unlink(ep);
    return ep;
  }

  private unlink(ep: Endpoint): void {
    this.byRealMac.delete(ep.macNum);
    for (const k of [ep.macNum, ep.ucmacNum, ep.bcmacNum]) {
      if (k !== undefined && this.byKey.get(k) === ep) this.byKey.delete(k);
    }
  }
}
