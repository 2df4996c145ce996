/** Turning a session slot into plain objects for events and the control plane (allocates; rare paths only). */
import type { SessionTable } from './table.js';
import type {
  SessionEndEvent,
  SessionEndReason,
  SessionProto,
  SessionStartEvent,
  SessionTuple,
} from '../engine-types.js';
import { TCP_STATE_NAMES, SF_INGRESS } from './tcp-state.js';

export function protoName(ipProto: number): SessionProto {
  return ipProto === 6 ? 'tcp' : ipProto === 17 ? 'udp' : ipProto === 1 || ipProto === 58 ? 'icmp' : 'ip';
}

export function addrString(w: Uint32Array, o: number): string {
  if (w[o] === 0 && w[o + 1] === 0 && w[o + 2] === 0xffff) {
    const v = w[o + 3]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts: number[] = [];
  for (let i = 0; i < 4; i++) {
    const v = w[o + i]!;
    parts.push(v >>> 16, v & 0xffff);
  }
  // Longest run of zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = parts.map((p) => p.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function describeTuple(t: SessionTable, s: number): SessionTuple {
  const k = s << 3;
  const ipProto = t.proto[s]!;
  return {
    id: t.id[s]!,
    proto: protoName(ipProto),
    ipProto,
    ipVersion: t.ipVersion[s] === 4 ? 4 : 6,
    client: addrString(t.addr, k),
    clientPort: t.cport[s]!,
    server: addrString(t.addr, k + 4),
    serverPort: t.sport[s]!,
    ep: t.ep[s]!,
    ingress: (t.flags[s]! & SF_INGRESS) !== 0,
  };
}

export function tcpStateName(t: SessionTable, s: number): string | undefined {
  return t.proto[s] === 6 ? TCP_STATE_NAMES[t.state[s]!] : undefined;
}

/** session.start as one literal (no spread: this runs once per session). */
export function startEvent(t: SessionTable, s: number, ts: number, midstream: boolean): SessionStartEvent {
  const k = s << 3;
  const ipProto = t.proto[s]!;
  return {
    type: 'session.start',
    ts,
    id: t.id[s]!,
    proto: protoName(ipProto),
    ipProto,
    ipVersion: t.ipVersion[s] === 4 ? 4 : 6,
    client: addrString(t.addr, k),
    clientPort: t.cport[s]!,
    server: addrString(t.addr, k + 4),
    serverPort: t.sport[s]!,
    ep: t.ep[s]!,
    ingress: (t.flags[s]! & SF_INGRESS) !== 0,
    midstream,
    action: t.action[s]!,
    ruleId: t.ruleId[s]!,
  };
}

export function endEvent(t: SessionTable, s: number, ts: number, reason: SessionEndReason): SessionEndEvent {
  const k = s << 3;
  const ipProto = t.proto[s]!;
  const ev: SessionEndEvent = {
    type: 'session.end',
    ts,
    id: t.id[s]!,
    proto: protoName(ipProto),
    ipProto,
    ipVersion: t.ipVersion[s] === 4 ? 4 : 6,
    client: addrString(t.addr, k),
    clientPort: t.cport[s]!,
    server: addrString(t.addr, k + 4),
    serverPort: t.sport[s]!,
    ep: t.ep[s]!,
    ingress: (t.flags[s]! & SF_INGRESS) !== 0,
    reason,
    durationMs: t.lastMs[s]! - t.startMs[s]!,
    pktsToServer: t.pkts[s * 2]!,
    pktsToClient: t.pkts[s * 2 + 1]!,
    bytesToServer: t.bytes[s * 2]!,
    bytesToClient: t.bytes[s * 2 + 1]!,
    action: t.action[s]!,
    ruleId: t.ruleId[s]!,
  };
  if (ipProto === 6) ev.tcpState = TCP_STATE_NAMES[t.state[s]!];
  return ev;
}
