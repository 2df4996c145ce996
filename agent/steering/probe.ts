import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { run, runIn } from '../../shared/exec.js';
import { errorMessage } from '../../shared/errors.js';
import { bpfObjectPath } from './bpf-backend.js';
import { PROG_VEX, progPath } from './bpf-maps.js';

export interface SteeringProbe {
  u32: boolean;
  bpf: boolean;
  /** One line per capability tried: "ok" or the tool's error. */
  detail: Record<string, string>;
}

async function attempt(detail: Record<string, string>, key: string, f: () => Promise<unknown>): Promise<boolean> {
  try {
    await f();
    detail[key] = 'ok';
    return true;
  } catch (e) {
    detail[key] = errorMessage(e).replace(/\s+/g, ' ').trim();
    return false;
  }
}

/**
 * Tries both backends for real in a throw-away namespace (unique name, always deleted):
 * u32 needs act_pedit, act_mirred and act_gact (`action drop` for tap mode's vbr rules);
 * bpf needs the steering object, bpffs, clsact and cls_bpf direct-action.
 */
export async function probeSteering(): Promise<SteeringProbe> {
  const tag = randomBytes(3).toString('hex');
  const ns = `tollgate-probe-${tag}`;
  const pinDir = `/sys/fs/bpf/tollgate-probe-${tag}`;
  const detail: Record<string, string> = {};
  let u32 = false;
  let bpf = false;
  try {
    await run(['ip', 'netns', 'add', ns]);
    const tc = (...a: string[]) => runIn(ns, ['tc', ...a]);
    await runIn(ns, ['ip', 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
    await tc('qdisc', 'add', 'dev', 'probe0', 'ingress');
    const mirred = await attempt(detail, 'u32+mirred', () =>
      tc(
        'filter',
        'add',
        'dev',
        'probe0',
        'parent',
        'ffff:',
        'pref',
        '10002',
        'protocol',
        'all',
        'u32',
        'match',
        'u8',
        '0',
        '0',
        'action',
        'mirred',
        'egress',
        'mirror',
        'dev',
        'probe1',
      ),
    );
    const pedit = await attempt(detail, 'u32+pedit', () =>
      tc(
        'filter',
        'add',
        'dev',
        'probe0',
        'parent',
        'ffff:',
        'pref',
        '10001',
        'protocol',
        'ip',
        'u32',
        'match',
        'u8',
        '0',
        '1',
        'at',
        '-14',
        'action',
        'pedit',
        'munge',
        'offset',
        '-14',
        'u16',
        'set',
        '0x4e65',
        'pipe',
        'action',
        'mirred',
        'egress',
        'mirror',
        'dev',
        'probe1',
      ),
    );
    const gact = await attempt(detail, 'u32+gact', () =>
      tc(
        'filter',
        'add',
        'dev',
        'probe0',
        'parent',
        'ffff:',
        'pref',
        '10003',
        'protocol',
        'all',
        'u32',
        'match',
        'u16',
        '0x4e65',
        '0xffff',
        'at',
        '-14',
        'action',
        'drop',
      ),
    );
    u32 = mirred && pedit && gact;

    const obj = bpfObjectPath();
    if (!existsSync(obj)) detail.bpf = `BPF object ${obj} is missing (run scripts/setup.sh)`;
    else {
      bpf = await attempt(detail, 'bpf', async () => {
        await run(['mkdir', '-p', pinDir]);
        await run(['bpftool', 'prog', 'loadall', obj, `${pinDir}/progs`, 'pinmaps', `${pinDir}/maps`]);
        await tc('qdisc', 'add', 'dev', 'probe1', 'clsact');
        await tc('filter', 'add', 'dev', 'probe1', 'ingress', 'bpf', 'da', 'object-pinned', progPath(pinDir, PROG_VEX));
      });
    }
  } catch (e) {
    detail.namespace = errorMessage(e);
  } finally {
    await run(['ip', 'netns', 'del', ns], { allowFail: true });
    await run(['rm', '-rf', pinDir], { allowFail: true });
  }
  return { u32, bpf, detail };
}
