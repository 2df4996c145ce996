/**
 * The graph the page draws: groups (with mode) and CIDR peers as nodes, allow rules as
 * edges (client → server, port/proto, hits), and violations as edges keyed by group, peer,
 * port and protocol (the latest action and a running count). Violations come from the dp
 * records as they arrive; the last 200 distinct ones are kept.
 */
import type { ViolationRecord } from '../../shared/events/schema.js';
import { POLICY_ACTION_NAMES } from '../../shared/policy-actions.js';
import { protoName } from '../learn/rule.js';
import type { DaemonView, GroupView } from '../observe/view.js';
import { isCidr } from '../export/peers.js';

export interface GraphNode {
  id: string;
  kind: 'group' | 'cidr';
  name: string;
  mode?: string;
}

export interface GraphEdge {
  id: string;
  kind: 'rule' | 'violation';
  source: string;
  target: string;
  proto: string;
  port: number;
  /** Rules: hits and origin; violations: count and action. */
  ruleId?: number;
  origin?: string;
  hits?: number;
  count?: number;
  action?: string;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const nodeId = (peer: string) => (isCidr(peer) ? `c:${peer}` : `g:${peer}`);

function peerOf(ip: string, groups: readonly GroupView[]): string {
  for (const g of groups) if (g.workloads.some((w) => w.ip === ip)) return g.name;
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

export class GraphModel {
  private readonly violations = new Map<string, GraphEdge>();

  constructor(private readonly view: DaemonView) {}

  /** Records a violation; returns its edge (as it now stands). */
  violation(r: ViolationRecord): GraphEdge {
    const groups = this.view.groups();
    const own = groups.find((g) => g.workloads.some((w) => w.mac === r.ep))?.name ?? r.ep;
    const client = r.ingress ? peerOf(r.client, groups) : own;
    const server = r.ingress ? own : peerOf(r.server, groups);
    const proto = protoName(r.proto) ?? String(r.proto);
    const port = proto === 'icmp' || proto === 'icmpv6' ? 0 : r.serverPort;
    const id = `v:${client}>${server}:${port}/${proto}`;
    const have = this.violations.get(id);
    const e: GraphEdge = {
      id,
      kind: 'violation',
      source: nodeId(client),
      target: nodeId(server),
      proto,
      port,
      count: (have?.count ?? 0) + r.count,
      action: POLICY_ACTION_NAMES[r.action] ?? String(r.action),
    };
    this.violations.delete(id);
    this.violations.set(id, e);
    if (this.violations.size > 200) this.violations.delete(this.violations.keys().next().value!);
    return e;
  }

  graph(): Graph {
    const nodes = new Map<string, GraphNode>();
    for (const g of this.view.groups())
      nodes.set(nodeId(g.name), { id: nodeId(g.name), kind: 'group', name: g.name, mode: g.mode });
    const peer = (p: string) => {
      const id = nodeId(p);
      if (!nodes.has(id)) nodes.set(id, isCidr(p) ? { id, kind: 'cidr', name: p } : { id, kind: 'group', name: p });
      return id;
    };
    const edges: GraphEdge[] = this.view.rules().map((r) => ({
      id: `r:${r.id}`,
      kind: 'rule',
      source: peer(r.from),
      target: peer(r.to),
      proto: r.proto,
      port: r.port,
      ruleId: r.id,
      origin: r.origin,
      hits: r.hits,
    }));
    for (const v of this.violations.values()) {
      for (const end of [v.source, v.target]) if (!nodes.has(end)) peer(end.slice(2));
      edges.push(v);
    }
    return { nodes: [...nodes.values()], edges };
  }
}
