import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type Logger = PinoLogger;

/** Lines are written in batches of this many bytes, or after `FLUSH_EVERY_MS` at the latest. */
const BATCH_BYTES = 4096;
const FLUSH_EVERY_MS = 250;

/**
 * JSON lines on stdout (SPEC §8). Level names instead of pino's numbers, ISO timestamps: the lines are read by
 * people running a site at least as often as by log shippers. Written in batches, as nginx's buffered access log
 * is: a write (and a thread hand-off) per request line cost a pass-through request a tenth of its CPU. A batch is
 * never older than a quarter of a second, and is written out when the process exits (pino's exit hook).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? batchedStdout(),
  );
}

function batchedStdout(): DestinationStream {
  const batched = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
  let unwritten = false;
  setInterval(() => {
    if (!unwritten) return;
    unwritten = false;
    try {
      batched.flush();
    } catch {
      // Destroyed: stdout is gone (a log shipper that died); nothing to write to.
    }
  }, FLUSH_EVERY_MS).unref();
  return {
    write(line: string) {
      unwritten = true;
      batched.write(line);
    },
  };
}

/**
 * The handler for a promise nobody awaits (background work: cluster messages, experiments' bookkeeping): its
 * failure is logged, never left unhandled (Node ends the process on an unhandled rejection).
 */
export function logFailure(logger: Logger, what: string): (err: unknown) => void {
  return (err) => logger.error({ error: err instanceof Error ? err.message : String(err) }, `${what} failed`);
}
