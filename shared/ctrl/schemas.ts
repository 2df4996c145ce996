import { z } from 'zod';
import { isMac } from '../mac.js';

/**
 * zod schemas of every ctrl_* message the dp accepts, with NeuVector's field names and
 * JSON types (docs/CONTROL.md). Extra fields are ignored (clients of other versions may
 * send more); missing or mistyped fields are errors that name the field. The dp validates
 * with them (dp/ctrl/dispatch.ts); the agent's message builders return their input types.
 */

const u8 = z.number().int().min(0).max(0xff);
const u16 = z.number().int().min(0).max(0xffff);
const u32 = z.number().int().min(0).max(0xffff_ffff);

const mac = z.string().refine(isMac, { message: 'not a MAC address (expected xx:xx:xx:xx:xx:xx)' });
/** NeuVector marshals an unset net.HardwareAddr as "" */
const optionalMac = z
  .union([z.literal(''), mac])
  .optional()
  .default('');

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv4 = z.string().regex(IPV4_RE, { message: 'not a dotted IPv4 address' });

/** Linux interface names: 1..15 bytes, no '/', no whitespace. */
const iface = z
  .string()
  .min(1)
  .max(15)
  .regex(/^[^/\s:]+$/, { message: 'not an interface name' });

/** START / END chunking bitmask (./flags.ts); a single message uses 3. */
const flag = z.number().int().min(0).max(3);

export const DEBUG_CATEGORIES = [
  'all',
  'init',
  'error',
  'ctrl',
  'packet',
  'session',
  'timer',
  'tcp',
  'parser',
  'log',
  'ddos',
  'policy',
  'dlp',
] as const;

const empty = z.object({}).optional().default({});

/** Policy rule addresses: dotted IPv4 (NeuVector) or IPv6 text (Tollgate polices IPv6 too); parsed by the compiler. */
const ipText = z.string().min(2).max(45);

/** One rule of ctrl_cfg_policy (NeuVector's DPPolicyIPRule; vhost/fqdn/apps accepted, not used). */
const policyRule = z.object({
  id: u32,
  sip: ipText,
  sipr: ipText.optional(),
  dip: ipText,
  dipr: ipText.optional(),
  port: u16.optional(),
  portr: u16.optional(),
  proto: u8.optional(),
  action: z.number().int().min(0).max(7),
  ingress: z.boolean(),
  vhost: z.boolean().optional(),
  fqdn: z.string().max(256).optional(),
  apps: z
    .array(z.object({ app: u32, action: u8, rid: u32 }))
    .max(64)
    .optional(),
});

export const schemas = {
  ctrl_keep_alive: z.object({ seq_num: u32 }),
  ctrl_add_srvc_port: z.object({ iface, jumboframe: z.boolean().optional() }),
  ctrl_del_srvc_port: z.object({ iface }),
  ctrl_cfg_internal_net: z.object({
    flag,
    subnet_addr: z.array(z.object({ ip: ipv4, mask: ipv4, iptype: z.string().max(32).optional() })).max(4096),
  }),
  ctrl_add_mac: z.object({
    iface,
    mac,
    ucmac: mac,
    bcmac: mac,
    oldmac: optionalMac,
    pmac: optionalMac,
    pips: z
      .array(z.object({ ip: ipv4 }))
      .max(256)
      .nullable()
      .optional(),
  }),
  ctrl_del_mac: z.object({ iface: iface.optional(), mac }),
  ctrl_cfg_mac: z.object({
    macs: z.array(mac).min(1).max(256),
    tap: z.boolean().optional(),
    apps: z
      .array(z.object({ ip_proto: u8, port: u16, app: u32, server: u32 }))
      .max(64)
      .optional(),
  }),
  ctrl_count_session: empty,
  ctrl_list_session: empty,
  ctrl_clear_session: z
    .object({ filter_id: u32.optional().default(0) })
    .optional()
    .default({ filter_id: 0 }),
  ctrl_stats_device: empty,
  ctrl_counter_device: empty,
  ctrl_stats_macs: z.object({ macs: z.array(mac).min(1).max(256) }),
  /** Tollgate extension: list endpoints. */
  ctrl_list_mac: empty,
  ctrl_set_debug: z.object({ categories: z.array(z.enum(DEBUG_CATEGORIES)).max(32) }),
  /** cmd 1 ADD, 2 MODIFY, 3 DELETE; dir 1 egress, 2 ingress (bitmask, 0 = both); START..END chunked. */
  ctrl_cfg_policy: z.object({
    cmd: z.number().int().min(1).max(3),
    flag,
    defact: z.number().int().min(0).max(7),
    dir: z.number().int().min(0).max(3),
    mac: z.array(mac).min(1).max(256),
    rules: z.array(policyRule).max(4096).nullable().optional(),
  }),
  ctrl_enable_icmp_policy: z.object({ enable_icmp_policy: z.boolean() }),
} as const;

export type CtrlName = keyof typeof schemas;
/** A message as the dp's handler sees it (after defaults). */
export type CtrlMessage<N extends CtrlName> = z.output<(typeof schemas)[N]>;
/** A message body as a client may send it. */
export type CtrlInput<N extends CtrlName> = z.input<(typeof schemas)[N]>;
/** One datagram of one message, `{"ctrl_xxx": {...}}`, as a client may send it. */
export type CtrlRequest<N extends CtrlName = CtrlName> = { [K in N]: { [P in K]: CtrlInput<K> } }[N];
/** One rule of ctrl_cfg_policy on the wire. */
export type WireRule = z.input<typeof policyRule>;

export function isCtrlName(key: string): key is CtrlName {
  return Object.prototype.hasOwnProperty.call(schemas, key);
}
