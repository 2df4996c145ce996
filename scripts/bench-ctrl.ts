import { DpClient, type DpReply } from '../shared/ctrl/client.js';

/**
 * The bench's control client: the one dp client (shared/ctrl/client.ts), bound at
 * construction. call() sends one ctrl_* datagram (JSON text) and waits for the dp's final
 * reply, so configuration is known applied before traffic starts.
 */
export class BenchCtrl extends DpClient {
  constructor(server: string) {
    super(server, 'bench');
    this.open();
  }

  /** Sends `msg` (JSON text) and returns the final reply; throws on dp_error or a timeout (default 5 s). */
  async call(msg: string, timeoutMs = 5000): Promise<DpReply> {
    const replies = await this.request(msg, timeoutMs);
    const last = replies[replies.length - 1];
    if (!last) throw new Error(`no reply from dp to ${msg}`);
    if (replies.some((r) => 'dp_error' in r))
      throw new Error(`dp rejected ${msg}: ${JSON.stringify(replies.find((r) => 'dp_error' in r))}`);
    return last;
  }
}

/** The four datagrams that put one workload inline on vth (docs/CONTROL.md "Example"). */
export function inlineConfig(wlMac: string, ucMac: string): string[] {
  return [
    '{"ctrl_cfg_internal_net":{"flag":3,"subnet_addr":[{"ip":"198.18.0.0","mask":"255.254.0.0"},{"ip":"198.18.0.66","mask":"255.255.255.0","iptype":"devip"}]}}',
    '{"ctrl_add_srvc_port":{"iface":"vth","jumboframe":false}}',
    `{"ctrl_add_mac":{"iface":"vth","mac":"${wlMac}","ucmac":"${ucMac}","bcmac":"ff:ff:ff:00:${ucMac.slice(12)}","oldmac":"","pmac":"","pips":null}}`,
    `{"ctrl_cfg_mac":{"tap":false,"macs":["${wlMac}"]}}`,
  ];
}
