/**
 * START..END assembly of ctrl_cfg_policy: chunks accumulate until END, then the whole
 * rule list is compiled and swapped in for the listed endpoints in one step. A chunk
 * that fails (bad field, chunk without START, a rule that does not compile) abandons the
 * pending policy; the policy already in force stays.
 */
import { TollgateError } from '../../shared/errors.js';
import { compileRules, type PolicyTable, type WireRule } from './policy-table.js';
import { MSG_END, MSG_START } from '../../shared/ctrl/flags.js';
import { MAX_POLICY_RULES } from '../ctrl/limits.js';

const CMD_DELETE = 3;

export interface PolicyMessage {
  cmd: number;
  flag: number;
  defact: number;
  dir: number;
  mac: string[];
  rules?: WireRule[] | null | undefined;
}

interface Pending {
  macs: string[];
  defact: number;
  dir: number;
  rules: WireRule[];
}

export class PolicyChunks {
  private pending: Pending | undefined;

  /**
   * Applies one chunk. `resolve` maps MACs to endpoint ids (unknown MACs are skipped, as
   * in NeuVector). Returns the endpoint ids the policy was committed to, or null before END.
   */
  apply(msg: PolicyMessage, table: PolicyTable, resolve: (mac: string) => number | undefined): number[] | null {
    if (msg.cmd === CMD_DELETE) {
      const ids = msg.mac.map(resolve).filter((x): x is number => x !== undefined);
      table.deletePolicy(ids);
      this.pending = undefined;
      return ids;
    }
    if (msg.flag & MSG_START) {
      this.pending = { macs: msg.mac, defact: msg.defact, dir: msg.dir, rules: [] };
    } else if (!this.pending) {
      throw new TollgateError('ECHUNK', 'chunk without START (flag bit 1) and no pending START', 'flag');
    }
    const p = this.pending!;
    if (msg.rules) {
      if (p.rules.length + msg.rules.length > MAX_POLICY_RULES) {
        this.pending = undefined;
        throw new TollgateError('ELIMIT', `a policy of more than ${MAX_POLICY_RULES} rules is refused (the pending policy is abandoned)`, 'rules');
      }
      for (const r of msg.rules) p.rules.push(r);
    }
    if (!(msg.flag & MSG_END)) return null;
    this.pending = undefined;
    const index = compileRules(p.rules);
    const ids = p.macs.map(resolve).filter((x): x is number => x !== undefined);
    if (!ids.length) throw new TollgateError('ENOTFOUND', `no endpoint for any of ${p.macs.join(', ')}`, 'mac');
    table.setPolicy(ids, p.defact, p.dir, index);
    return ids;
  }

  abort(): void {
    this.pending = undefined;
  }
}
