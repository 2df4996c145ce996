/**
 * The lab `agent up` builds when no spec is given: a CNI-like bridge with the host
 * address and two workloads. MACs are fixed and locally administered (02:...) so
 * captures and tests can name them.
 */
export const DEFAULT_LAB = {
  prefix: 'tg-',
  hostSide: { name: 'host', address: '198.18.0.1/24' },
  agentNs: 'agent',
  steering: 'auto',
  workloads: [
    { name: 'web', ip: '198.18.0.10/24', mac: '02:74:67:00:00:0a', mode: 'learn' },
    { name: 'db', ip: '198.18.0.11/24', mac: '02:74:67:00:00:0b', mode: 'learn' },
  ],
} as const;
