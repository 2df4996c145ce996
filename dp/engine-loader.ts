import type { EngineApi } from './pipeline.js';

/** The engine pieces the dp command needs, resolved at run time. */
export interface LoadedEngine {
  createEngine(): EngineApi;
  forwardVerdict: number;
  runOffline(opts: { inputs: string[]; out?: string | undefined; dropPcap?: string | undefined }): Promise<unknown>;
}

/**
 * Loads dp/engine.js and dp/offline/run.js (helper C's modules). Kept behind one
 * function so the dp command's wiring does not depend on the engine's constructor shape.
 */
export async function loadEngine(): Promise<LoadedEngine> {
  const engineSpec = './engine.js';
  const offlineSpec = './offline/run.js';
  const em = (await import(engineSpec)) as { Engine: new () => EngineApi; Verdict: { Forward: number } };
  return {
    createEngine: () => new em.Engine(),
    forwardVerdict: em.Verdict.Forward,
    runOffline: async (opts) => {
      const om = (await import(offlineSpec)) as { runOffline: LoadedEngine['runOffline'] };
      return om.runOffline(opts);
    },
  };
}
