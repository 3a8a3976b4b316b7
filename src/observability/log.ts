import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type Logger = PinoLogger;

/** Lines are written in batches of about this many bytes, or after `FLUSH_EVERY_MS` at the latest. */
const BATCH_BYTES = 16 * 1024;
const FLUSH_EVERY_MS = 250;

/**
 * JSON lines on stdout (SPEC §8). Level names instead of pino's numbers, ISO timestamps: the lines are read by
 * people running a site at least as often as by log shippers. Written in batches, as nginx's buffered access log
 * is: a write (and a thread hand-off) per request line cost a pass-through request a tenth of its CPU. A batch is
 * never older than a quarter of a second, and is written out when the process exits.
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

/** Batches not yet handed to their destination, written out by one exit hook. */
const unwritten = new Set<() => void>();

function batchedStdout(): DestinationStream {
  // The batch is gathered here, not in pino's destination (sonic-boom): it measures the byte length of its whole
  // pending text on every line it is given, and makes a Buffer of each written batch again once it is written.
  let pending = '';
  const hand = () => {
    if (pending === '') return false;
    const text = pending;
    pending = '';
    destination.write(text);
    return true;
  };
  const atExit = () => {
    if (!hand()) return;
    try {
      destination.flushSync();
    } catch {
      // Destroyed, or never opened: stdout is gone (a log shipper that died); nothing to write to.
    }
  };
  // Before the destination exists, so that at exit this hook (run in the order hooks were added) hands the last
  // batch over before pino's own hook flushes the destination.
  if (unwritten.size === 0) process.once('exit', () => unwritten.forEach((write) => write()));
  unwritten.add(atExit);
  const destination = pino.destination({ dest: 1, sync: false });
  setInterval(() => {
    if (!hand()) return;
    try {
      destination.flush();
    } catch {
      // As above.
    }
  }, FLUSH_EVERY_MS).unref();
  return {
    write(line: string) {
      pending += line;
      if (pending.length >= BATCH_BYTES) hand();
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

interface PinoInternals {
  readonly levelCache: Record<number, string>;
  readonly time: () => string;
  readonly bindings: string;
  readonly end: string;
  readonly stream: { write(line: string): void };
}

const internalsCache = new WeakMap<Logger, PinoInternals | null>();

let timeSecond = -1;
let timePrefix = '';
let timeMs = -1;
let timeField = '';
/**
 * pino's ISO time field (`toISOString`), formatted once per millisecond, its date and time of day once per second:
 * several request lines share one under load, and a new one costs a string of three digits.
 */
export function isoTimeField(now: number): string {
  if (now === timeMs) return timeField;
  timeMs = now;
  const second = Math.floor(now / 1000);
  if (second !== timeSecond) {
    timeSecond = second;
    timePrefix = `,"time":"${new Date(second * 1000).toISOString().slice(0, 20)}`;
  }
  const ms = now - second * 1000;
  timeField = `${timePrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
  return timeField;
}

const isoTimeNow = () => isoTimeField(Date.now());

function internalsOf(logger: Logger): PinoInternals | undefined {
  let known = internalsCache.get(logger);
  if (known === undefined) internalsCache.set(logger, (known = readInternals(logger) ?? null));
  return known ?? undefined;
}

function readInternals(logger: Logger): PinoInternals | undefined {
  const own = logger as unknown as Record<symbol, unknown>;
  const { lsCacheSym, timeSym, chindingsSym, endSym, streamSym, mixinSym, hooksSym, formattersSym } = pino.symbols;
  const stream = own[streamSym] as { write?: unknown } | undefined;
  const hooks = own[hooksSym] as { logMethod?: unknown } | undefined;
  const formatters = own[formattersSym] as { log?: unknown } | undefined;
  // What pino would do on top (a mixin, a log hook or formatter) is not done here: such a logger writes the usual way.
  if (typeof stream?.write !== 'function' || own[mixinSym] || hooks?.logMethod || formatters?.log) return undefined;
  return {
    levelCache: own[lsCacheSym] as Record<number, string>,
    time: own[timeSym] === pino.stdTimeFunctions.isoTime ? isoTimeNow : (own[timeSym] as () => string),
    bindings: own[chindingsSym] as string,
    end: own[endSym] as string,
    stream: stream as { write(line: string): void },
  };
}

/** The properties of one line, serialised as pino serialises them: `,"key":value` for each. */
export class LineFields {
  private text = '';

  string(key: string, value: string | undefined): this {
    if (value !== undefined) this.text += `,"${key}":${JSON.stringify(value)}`;
    return this;
  }

  /** A number (pino writes a non-finite one as null). */
  number(key: string, value: number): this {
    this.text += `,"${key}":${Number.isFinite(value) ? String(value) : 'null'}`;
    return this;
  }

  flag(key: string, value: boolean): this {
    this.text += `,"${key}":${value}`;
    return this;
  }

  toString(): string {
    return this.text;
  }
}

/**
 * Writes the line `logger[level](fields, msg)` writes, the same bytes (tested against pino), from fields
 * serialised as they are gathered: the request line, written for every request, cost a pass-through 6% of its CPU
 * through pino's generic path (an object built, walked and stringified per line). Keys are plain names.
 */
export function writeLine(logger: Logger, level: 'info' | 'warn', fields: LineFields, msg: string): void {
  if (!logger.isLevelEnabled(level)) return;
  const internals = internalsOf(logger);
  if (!internals) {
    logger[level](JSON.parse(`{${fields.toString().slice(1)}}`) as object, msg);
    return;
  }
  const number = logger.levels.values[level]!;
  internals.stream.write(`${internals.levelCache[number]}${internals.time()}${internals.bindings}${fields.toString()},"msg":${JSON.stringify(msg)}${internals.end}`);
}
