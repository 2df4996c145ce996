/**
 * In a pod, the agent watches Tollgate's custom resources with the pod's service account
 * (KUBERNETES_SERVICE_HOST set and the account token mounted); elsewhere it does nothing.
 */
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../shared/log.js';
import type { PolicyTarget } from '../export/import.js';
import { PolicyWatch } from './watch.js';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function inCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN);
}

/** Starts the CRD watch when running in a cluster; undefined otherwise. */
export async function startInClusterWatch(target: PolicyTarget, log: Logger): Promise<PolicyWatch | undefined> {
  if (!inCluster()) return undefined;
  const kc = new KubeConfig();
  kc.loadFromCluster();
  const w = new PolicyWatch(kc, target, log);
  await w.start();
  log.info({ server: kc.getCurrentCluster()?.server }, 'watching TollgateGroup and TollgateRule objects');
  return w;
}
