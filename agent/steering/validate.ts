import { TollgateError } from '../../shared/errors.js';
import { isMac, ucmacForIfindex } from '../../shared/mac.js';
import type { ServicePair, SteeredPort } from './backend.js';

/** Link names tc accepts (IFNAMSIZ 16 incl. NUL), with nothing a tc batch line could split on. */
const IFNAME_RE = /^[A-Za-z0-9_.@-]{1,15}$/;

function ifname(v: unknown, field: string): void {
  if (typeof v !== 'string' || !IFNAME_RE.test(v))
    throw new TollgateError('ESTEERINPUT', `invalid interface name ${JSON.stringify(v)}`, field);
}

function ifindex(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 0x7fffffff)
    throw new TollgateError('ESTEERINPUT', `invalid ifindex ${JSON.stringify(v)}`, field);
}

function unicastMac(v: unknown, field: string): void {
  if (typeof v !== 'string' || !isMac(v))
    throw new TollgateError('ESTEERINPUT', `invalid MAC ${JSON.stringify(v)}`, field);
  if (parseInt(v.slice(0, 2), 16) & 1)
    throw new TollgateError('ESTEERINPUT', `MAC ${v} is multicast, a workload MAC must be unicast`, field);
}

export function checkPair(pair: ServicePair): void {
  if (typeof pair.agentNs !== 'string' || !pair.agentNs)
    throw new TollgateError('ESTEERINPUT', 'missing enforcer namespace', 'pair.agentNs');
  ifname(pair.vbr, 'pair.vbr');
  ifname(pair.vth, 'pair.vth');
  ifindex(pair.vbrIfindex, 'pair.vbrIfindex');
}

/** Everything a rule set is derived from, checked before any plan line is produced. */
export function checkPort(port: SteeredPort, pair: ServicePair): void {
  checkPair(pair);
  const f = `ports[${JSON.stringify(port.workload ?? '')}]`;
  ifname(port.vex, `${f}.vex`);
  ifname(port.vin, `${f}.vin`);
  ifindex(port.vexIfindex, `${f}.vexIfindex`);
  ifindex(port.vinIfindex, `${f}.vinIfindex`);
  unicastMac(port.wlMac, `${f}.wlMac`);
  if (port.mode !== 'tap' && port.mode !== 'inline')
    throw new TollgateError('ESTEERINPUT', `mode must be tap or inline, got ${JSON.stringify(port.mode)}`, `${f}.mode`);
  if (port.agentNs !== pair.agentNs)
    throw new TollgateError(
      'ESTEERINPUT',
      `port is in ${port.agentNs}, service pair in ${pair.agentNs}`,
      `${f}.agentNs`,
    );
  const want = ucmacForIfindex(port.vexIfindex);
  if (typeof port.ucMac !== 'string' || port.ucMac.toLowerCase() !== want)
    throw new TollgateError('ESTEERINPUT', `ucMac must be ${want} (from vex ifindex ${port.vexIfindex})`, `${f}.ucMac`);
  if (port.vex === port.vin || port.vex === pair.vbr || port.vin === pair.vbr)
    throw new TollgateError('ESTEERINPUT', 'vex, vin and vbr must be distinct links', f);
}
