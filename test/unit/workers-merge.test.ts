import { describe, expect, it } from 'vitest';
import { chunkReplies } from '../../dp/ctrl/chunk-replies.js';
import { groupReplies, mergeReplies } from '../../dp/workers/merge-replies.js';

const j = (o: unknown): string => JSON.stringify(o);
const parse = (rs: string[]): Record<string, any>[] => rs.map((r) => JSON.parse(r) as Record<string, any>);

describe('dp -n N reply merging', () => {
  it('sums traffic counters recursively, keeps configuration and ctrl counters from worker 0, shows the per-worker breakdown', () => {
    const w = (rx: number, tcp: number) => [
      j({
        dp_counter_device: {
          pipeline: { rxPackets: rx, txPackets: rx - 1 },
          engine: { tcp, malformed: { 'x.y': 1 } },
          ctrl: { datagrams: 5, errors: 1 },
        },
      }),
    ];
    const [m] = parse(mergeReplies([w(10, 3), w(20, 4)], { repliesSent: 7 }));
    expect(m!.dp_counter_device.pipeline).toEqual({ rxPackets: 30, txPackets: 28 });
    expect(m!.dp_counter_device.engine).toEqual({ tcp: 7, malformed: { 'x.y': 2 } });
    expect(m!.dp_counter_device.ctrl).toEqual({ datagrams: 5, errors: 1, repliesSent: 7 });
    expect(m!.dp_counter_device.workers).toEqual([
      { worker: 0, pipeline: { rxPackets: 10, txPackets: 9 }, engine: { tcp: 3, malformed: { 'x.y': 1 } } },
      { worker: 1, pipeline: { rxPackets: 20, txPackets: 19 }, engine: { tcp: 4, malformed: { 'x.y': 1 } } },
    ]);
  });

  it('stats_device and stats_macs: traffic summed, sizes and MAC lists not multiplied', () => {
    const dev = (rx: number) =>
      j({
        dp_stats_device: {
          uptime_s: 9,
          rx_packets: rx,
          endpoints: 2,
          ports: [{ iface: 'vth', mtu: 1500 }],
          internal_nets: 3,
          sessions: { cur: rx, udp: 1 },
        },
      });
    const [d] = parse(mergeReplies([[dev(1)], [dev(2)], [dev(3)]]));
    expect(d!.dp_stats_device).toEqual({
      uptime_s: 9,
      rx_packets: 6,
      endpoints: 2,
      ports: [{ iface: 'vth', mtu: 1500 }],
      internal_nets: 3,
      sessions: { cur: 6, udp: 3 },
    });
    const macs = (rx: number) =>
      j({ dp_stats_macs: { macs: ['a'], unknown: [], tap: [false], rx_packets: rx, cur_sessions: 1 } });
    const [s] = parse(mergeReplies([[macs(4)], [macs(5)]]));
    expect(s!.dp_stats_macs).toEqual({ macs: ['a'], unknown: [], tap: [false], rx_packets: 9, cur_sessions: 2 });
  });

  it('session lists: concatenated across workers and re-chunked into datagrams of at most 8192 bytes', () => {
    const mk = (w: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ id: `${w}-${i}`, pad: 'x'.repeat(100) }));
    const a = mk(0, 150);
    const b = mk(1, 90);
    const replies = mergeReplies([
      chunkReplies('dp_session_list', 'sessions', a, { total: 150, truncated: 0 }),
      chunkReplies('dp_session_list', 'sessions', b, { total: 90, truncated: 0 }),
    ]);
    expect(replies.every((r) => Buffer.byteLength(r) <= 8192)).toBe(true);
    const docs = parse(replies);
    expect(docs.slice(0, -1).every((d) => d.dp_session_list.more === true)).toBe(true);
    expect(docs.at(-1)!.dp_session_list).toMatchObject({ more: false, total: 240, truncated: 0 });
    expect(docs.flatMap((d) => d.dp_session_list.sessions.map((s: { id: string }) => s.id))).toEqual(
      [...a, ...b].map((s) => s.id),
    );
  });

  it('several messages in one datagram stay aligned; errors and keep-alive come once, from worker 0', () => {
    const worker = (cur: number) => [
      j({ dp_keep_alive: { seq_num: 4 } }),
      j({ dp_error: { code: 'EUNKNOWNCTRL', message: 'unknown', count: 1 } }),
      ...chunkReplies('dp_session_list', 'sessions', [{ w: cur }], { total: 1, truncated: 0 }),
      j({ dp_session_count: { cur, udp: cur } }),
      j({ dp_ok: { ctrl: 'ctrl_cfg_mac' } }),
    ];
    const docs = parse(mergeReplies([worker(1), worker(2)]));
    expect(docs.map((d) => Object.keys(d)[0])).toEqual([
      'dp_keep_alive',
      'dp_error',
      'dp_session_list',
      'dp_session_count',
      'dp_ok',
    ]);
    expect(docs[1]!.dp_error.count).toBe(1);
    expect(docs[2]!.dp_session_list.sessions).toEqual([{ w: 1 }, { w: 2 }]);
    expect(docs[3]!.dp_session_count).toEqual({ cur: 3, udp: 3 });
  });

  it("a change that failed in one worker is reported as that failure, not as worker 0's dp_ok", () => {
    const ok = [j({ dp_ok: { ctrl: 'ctrl_add_srvc_port' } })];
    const err = [
      j({ dp_error: { code: 'EIFACE', message: 'cannot open', field: 'ctrl_add_srvc_port.iface', count: 1 } }),
    ];
    expect(parse(mergeReplies([ok, err]))[0]!.dp_error.code).toBe('EIFACE');
  });

  it('groups replies per message: chunks up to the final reply', () => {
    const rs = [
      ...chunkReplies(
        'dp_session_list',
        'sessions',
        Array.from({ length: 300 }, (_, i) => ({ i, p: 'y'.repeat(60) })),
      ),
      j({ dp_ok: {} }),
    ];
    const g = groupReplies(rs);
    expect(g).toHaveLength(2);
    expect(g[0]!.texts.length).toBe(rs.length - 1);
  });
});
