import { pino, type Logger, type LevelWithSilent } from 'pino';

/**
 * Logs are pino JSON on stderr, so stdout stays free for data (dp -p writes JSONL
 * events there). Humans pipe through pino-pretty. TOLLGATE_LOG_LEVEL overrides the level.
 */
export function createLogger(name: string, level?: LevelWithSilent): Logger {
  const lvl = (level ?? (process.env.TOLLGATE_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
  return pino({ name, level: lvl, base: { name, pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

export type { Logger };
