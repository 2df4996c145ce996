/** VM workloads: Kata-style veth↔tap connection and rate limiting (see README.md here). */
export {
  connectVm,
  disconnectVm,
  MAX_QUEUES,
  type ConnectVmOptions,
  type ConnectedVm,
  type DisconnectVmOptions,
} from './connect.js';
export { setVmRateLimit, getVmRateLimit, type VmRateLimitOptions, type VmRateLimits } from './ratelimit.js';
export { parseRate, MIN_RATE_BPS, MAX_RATE_BPS, type RateInput } from './rate.js';
export { listVms, loadVm, DEFAULT_STATE_DIR, type VmRecord } from './state.js';
export { inspectVm, uninspectVm, vmSteeredPort, type InspectVmOptions } from './inspect.js';
