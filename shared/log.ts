import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type pinoPretty from 'pino-pretty';

/** pino-pretty (40-odd modules) is loaded only for a terminal: daemons and `dp -p` never pay for it. */
const requirePretty = (): typeof pinoPretty => createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;

/**
 * Logs are pino JSON on stderr, so stdout stays free for data (dp -p writes JSONL events
 * there). A person at a terminal gets pino-pretty instead (TOLLGATE_LOG_JSON=1 keeps
 * JSON). TOLLGATE_LOG_LEVEL overrides the level.
 */
export function createLogger(name: string, level?: LevelWithSilent): Logger {
  const lvl = level ?? (process.env.TOLLGATE_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info';
  const opts = { name, level: lvl, base: { name, pid: process.pid } };
  if (process.stderr.isTTY && !process.env.TOLLGATE_LOG_JSON) {
    return pino(opts, requirePretty()({ destination: 2, sync: true, colorize: true }));
  }
  return pino(opts, pino.destination({ fd: 2, sync: true }));
}

export type { Logger };
