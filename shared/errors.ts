/**
 * Control-plane errors: a stable code, a human message, and the path of the offending
 * field (e.g. `workloads[1].mac`) where there is one. Data-path code never throws these;
 * it returns codes and counts reasons instead.
 *
 * Every code is defined once, in ERRORS below, with what it means; `TollgateError` takes
 * only those codes. `ctrl: true` marks the codes a dp control reply (`dp_error`) can carry
 * (the table in docs/CONTROL.md); docs/ERRORS.md lists them all (test/unit/names.test.ts
 * checks both against this table).
 */
export const ERRORS = {
  // dp control socket (dp_error replies)
  EMSGSIZE: { ctrl: true, meaning: 'datagram > 8192 bytes' },
  EBADJSON: { ctrl: true, meaning: 'not JSON, or the top level is not an object' },
  EEMPTY: { ctrl: true, meaning: '`{}`: no message in the object' },
  EUNKNOWNCTRL: {
    ctrl: true,
    meaning: 'unknown key (`field` = the key). NeuVector ignores these silently; we reject them',
  },
  EMISSING: { ctrl: true, meaning: 'a required field is absent' },
  EBADFIELD: { ctrl: true, meaning: 'a field has the wrong type or value (bad MAC, IPv4, range, enum, ...)' },
  ECHUNK: { ctrl: true, meaning: 'a non-START chunk with no pending START (chunked config)' },
  ENOTFOUND: { ctrl: true, meaning: 'the named MAC / service port is not known' },
  EINUSE: {
    ctrl: true,
    meaning:
      '`ctrl_add_mac`: the `mac` or `ucmac` is already a key of another endpoint (compared as numbers, so case never matters)',
  },
  ELIMIT: {
    ctrl: true,
    meaning:
      'a pending START..END transaction grew past its cap (65,536 policy rules, 4,096 internal subnets): it is abandoned, the configuration in force stays',
  },
  EIFACE: { ctrl: true, meaning: 'the service port cannot be opened (no such interface, not Ethernet, pcap error)' },
  ENOLIVE: { ctrl: true, meaning: 'service port requested on a dp without live I/O' },
  EINTERNAL: { ctrl: true, meaning: 'a handler failed unexpectedly (a bug; logged at error level with the stack)' },
  // dp start
  ENORING: { ctrl: false, meaning: '`dp --io ring` was asked for but the ring addon is not built or does not load' },
  // agent: its dp client
  EDPCLIENT: { ctrl: false, meaning: 'the dp control client is not open (or was closed while a request waited)' },
  EDPSEND: { ctrl: false, meaning: 'a datagram could not be sent to the dp control socket' },
  EDPTIMEOUT: { ctrl: false, meaning: 'the dp did not answer a control request in time' },
  EDPREJECT: { ctrl: false, meaning: 'the dp answered a control request with `dp_error` (its code is in the message)' },
  // agent: the daemon and its API
  EBADREQ: { ctrl: false, meaning: 'an API request without a string `cmd`' },
  EBADCMD: { ctrl: false, meaning: 'an API request names no known command' },
  EAPITIMEOUT: { ctrl: false, meaning: 'the agent daemon did not answer an API request in time' },
  ENODAEMON: { ctrl: false, meaning: 'no agent daemon listens on the API socket' },
  EDAEMON: { ctrl: false, meaning: 'the agent daemon gave an answer that cannot be read' },
  ENOTRUNNING: { ctrl: false, meaning: 'the agent daemon is not running (the command needs it)' },
  ENORUNTIME: { ctrl: false, meaning: 'no container runtime answered and no lab spec was given' },
  ERUNTIME: { ctrl: false, meaning: 'the container runtime socket does not exist' },
  EAMBIGUOUS: { ctrl: false, meaning: 'a name matches workloads of several groups' },
  ENOGROUP: { ctrl: false, meaning: 'unknown group, container or workload name' },
  EBADGROUP: { ctrl: false, meaning: 'a group label value is not a group name' },
  EBADMODE: { ctrl: false, meaning: 'a mode other than learn, monitor or protect' },
  ENORULE: { ctrl: false, meaning: 'no rule with that id' },
  ERULESFILE: { ctrl: false, meaning: 'the rules file cannot be read and no usable last good copy exists' },
  EENROL: {
    ctrl: false,
    meaning: 'a container of a protected group could not be enrolled (it must not run unprotected)',
  },
  EALREADY: { ctrl: false, meaning: "the container's port already exists in the enforcer namespace" },
  ENONS: { ctrl: false, meaning: 'the container is not running, so it has no network namespace' },
  ENOLINK: { ctrl: false, meaning: 'the container has no network interface to enrol' },
  // agent: OCI hook and wrapper
  EHOOKSTATE: { ctrl: false, meaning: "the OCI hook's stdin is not the OCI state JSON" },
  EHOOKDIR: { ctrl: false, meaning: 'the OCI hook cannot be installed in the hooks directory' },
  EHOOKREFUSED: { ctrl: false, meaning: 'the daemon refused to enrol the container the hook reported' },
  EWRAPPER: { ctrl: false, meaning: 'the OCI wrapper runtime cannot be written' },
  EBADARG: { ctrl: false, meaning: 'a missing or invalid command-line argument' },
  // agent: lab spec, topology, steering
  ESPEC: { ctrl: false, meaning: 'the lab spec is invalid (the field is named)' },
  ENOWORKLOAD: { ctrl: false, meaning: 'the spec names no such workload' },
  EOWNED: { ctrl: false, meaning: 'a port in the enforcer namespace belongs to another lab or instance' },
  EBUSY: { ctrl: false, meaning: 'namespaces to remove run processes the agent did not start (nothing was changed)' },
  ENOTPULLED: { ctrl: false, meaning: "the namespace's interface is not pulled into the enforcer namespace" },
  EBADMAC: { ctrl: false, meaning: 'an invalid MAC address' },
  EEXEC: { ctrl: false, meaning: 'an empty command was to be run' },
  ESTEERINPUT: { ctrl: false, meaning: 'invalid steering input (backend name, port, MAC)' },
  ESTEERUNAVAILABLE: { ctrl: false, meaning: 'the steering backend asked for cannot work on this kernel' },
  ESTEERSTATE: { ctrl: false, meaning: 'the links steering needs are missing' },
  ESTEERAPPLY: { ctrl: false, meaning: 'the tc commands of the steering failed' },
  ESTEERVERIFY: { ctrl: false, meaning: 'after applying, the tc state is not what steering asked for' },
  ESTEERBPFOBJ: { ctrl: false, meaning: 'the BPF steering object is missing or cannot be loaded' },
  EBADLABEL: { ctrl: false, meaning: 'a label key is not a valid Kubernetes label key' },
  EIMPORT: { ctrl: false, meaning: 'a rules file to import is invalid (the field is named)' },
  ELISTEN: { ctrl: false, meaning: 'an HTTP listener (metrics, UI) cannot bind its address' },
  // agent vm: VM connections (Kata-style)
  EIFNAME: { ctrl: false, meaning: 'an interface name is missing or invalid' },
  ERATE: { ctrl: false, meaning: 'not a rate (use e.g. 50mbit, 50M or 50000000)' },
  EVMBUSY: { ctrl: false, meaning: 'the tap or veth already has tc configuration the agent did not add' },
  EVMTAP: { ctrl: false, meaning: 'the tap cannot be created or set up' },
  EVMTAPEXISTS: { ctrl: false, meaning: "an interface of the tap's name already exists" },
  EVMVETH: { ctrl: false, meaning: "the VM's veth is missing" },
  EVMTC: { ctrl: false, meaning: 'the tc redirects between veth and tap cannot be added or removed' },
  EVMRATE: { ctrl: false, meaning: 'the HTB rate limit cannot be set' },
  EVMQUEUES: { ctrl: false, meaning: 'queues must be an integer from 1 to the maximum' },
  EVMOWNER: { ctrl: false, meaning: 'the tap owner must be a uid' },
  EVMSTATE: { ctrl: false, meaning: 'the VM state file cannot be read' },
  EVMUNKNOWN: { ctrl: false, meaning: 'no connected VM with that tap' },
  EVMINSPECT: { ctrl: false, meaning: 'the VM cannot be put behind the inspection pair' },
} as const satisfies Record<string, { ctrl: boolean; meaning: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Every code, in table order. */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** The codes a dp control reply can carry (docs/CONTROL.md). */
export type CtrlErrorCode = { [K in ErrorCode]: (typeof ERRORS)[K]['ctrl'] extends true ? K : never }[ErrorCode];

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(ERRORS, s);
}

export class TollgateError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'TollgateError';
  }
}

export function isTollgateError(e: unknown): e is TollgateError {
  return e instanceof TollgateError;
}

/** Best-effort message of any thrown value, for logs and error replies. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
