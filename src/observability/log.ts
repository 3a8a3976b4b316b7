import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type Logger = PinoLogger;

/**
 * JSON lines on stdout (SPEC §8). Level names instead of pino's numbers, ISO timestamps: the lines are read by
 * people running a site at least as often as by log shippers.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/**
 * The handler for a promise nobody awaits (background work: cluster messages, experiments' bookkeeping): its
 * failure is logged, never left unhandled (Node ends the process on an unhandled rejection).
 */
export function logFailure(logger: Logger, what: string): (err: unknown) => void {
  return (err) => logger.error({ error: err instanceof Error ? err.message : String(err) }, `${what} failed`);
}
