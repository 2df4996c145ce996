/**
 * START..END assembly of ctrl_cfg_policy: each chunk's rules are compiled and indexed as
 * the chunk arrives (a datagram holds at most a few dozen rules), so compiling the
 * largest policy never holds the packet loop for more than one chunk: frames are
 * forwarded between chunks, under the policy in force. END swaps the complete index in
 * for the listed endpoints in one step. A chunk that fails (bad field, chunk without
 * START, a rule that does not compile, named by its index in that chunk) abandons the
 * pending policy; the policy already in force stays.
 */
import { TollgateError } from '../../shared/errors.js';
import { compileRule, type PolicyTable, type WireRule } from './policy-table.js';
import { RuleIndexBuilder } from './rule-index.js';
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
  index: RuleIndexBuilder;
}

export class PolicyChunks {
  private pending: Pending | undefined;

  /** Rules of the pending policy compiled so far (every rule of every chunk received). */
  get pendingRules(): number {
    return this.pending?.index.rules.length ?? 0;
  }

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
      this.pending = { macs: msg.mac, defact: msg.defact, dir: msg.dir, index: new RuleIndexBuilder() };
    } else if (!this.pending) {
      throw new TollgateError('ECHUNK', 'chunk without START (flag bit 1) and no pending START', 'flag');
    }
    const p = this.pending!;
    if (msg.rules) {
      const have = p.index.rules.length;
      if (have + msg.rules.length > MAX_POLICY_RULES) {
        this.pending = undefined;
        throw new TollgateError(
          'ELIMIT',
          `a policy of more than ${MAX_POLICY_RULES} rules is refused (the pending policy is abandoned)`,
          'rules',
        );
      }
      try {
        for (const [i, r] of msg.rules.entries()) p.index.add(compileRule(r, have + i, `rules[${i}]`));
      } catch (e) {
        this.pending = undefined;
        throw e;
      }
    }
    if (!(msg.flag & MSG_END)) return null;
    this.pending = undefined;
    const index = p.index.build();
    const ids = p.macs.map(resolve).filter((x): x is number => x !== undefined);
    if (!ids.length) throw new TollgateError('ENOTFOUND', `no endpoint for any of ${p.macs.join(', ')}`, 'mac');
    table.setPolicy(ids, p.defact, p.dir, index);
    return ids;
  }

  abort(): void {
    this.pending = undefined;
  }
}
