import { Engine, Verdict, type EngineOptions } from './engine.js';
import type { EngineApi } from './pipeline.js';
import type { OfflineSummary } from './offline/run.js';

/** The engine pieces the dp command needs. */
export interface LoadedEngine {
  createEngine(opts?: EngineOptions): EngineApi;
  forwardVerdict: number;
  runOffline(opts: {
    inputs: string[];
    out?: string | undefined;
    dropPcap?: string | undefined;
    policyFile?: string | undefined;
  }): Promise<OfflineSummary>;
}

/**
 * The live engine is imported statically; offline mode (dp/offline/run.js) is loaded only
 * when -p is used, so a live dp never pays for the pcap reader.
 */
export async function loadEngine(): Promise<LoadedEngine> {
  const offlineSpec = './offline/run.js';
  return {
    createEngine: (opts?: EngineOptions) => new Engine(opts),
    forwardVerdict: Verdict.Forward,
    runOffline: async (opts) => {
      const om = (await import(offlineSpec)) as { runOffline: LoadedEngine['runOffline'] };
      return om.runOffline(opts);
    },
  };
}
