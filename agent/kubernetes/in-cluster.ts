/**
 * In a pod, the agent watches Tollgate's custom resources with the pod's service account
 * (KUBERNETES_SERVICE_HOST set and the account token mounted); elsewhere it does nothing.
 * The client is loaded only then: @kubernetes/client-node takes about as long to import as
 * the rest of the agent, and every `agent` command loads this file.
 */
import { existsSync } from 'node:fs';
import type { Logger } from '../../shared/log.js';
import type { PolicyTarget } from '../export/import.js';
import type { PolicyWatch } from './watch.js';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function inCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN);
}

/** Starts the CRD watch when running in a cluster; undefined otherwise. */
export async function startInClusterWatch(target: PolicyTarget, log: Logger): Promise<PolicyWatch | undefined> {
  if (!inCluster()) return undefined;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { PolicyWatch } = await import('./watch.js');
  const kc = new KubeConfig();
  kc.loadFromCluster();
  const w = new PolicyWatch(kc, target, log);
  await w.start();
  log.info({ server: kc.getCurrentCluster()?.server }, 'watching TollgateGroup and TollgateRule objects');
  return w;
}
