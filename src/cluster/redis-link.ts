import { type ChainableCommander, Redis } from 'ioredis';
import { type Logger, logFailure } from '../observability/log.js';

/** How long one Redis command may take before the instance goes on without it. */
const COMMAND_TIMEOUT_MS = 300;
/** How often a lost connection is tried again. */
const RETRY_MS = 500;
/**
 * Commands timed out in a row after which Redis counts as away: a hung or overloaded server keeps its
 * connections open, and waiting 300 ms on it for every request would slow every response.
 */
const TIMEOUTS_TO_LEAVE = 3;

/** The oldest Redis with every command the cluster uses. */
const MIN_VERSION = [6, 2] as const;

function olderThan(version: string, minimum: readonly number[]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < minimum.length; i += 1) {
    const part = parts[i] ?? 0;
    if (part !== minimum[i]) return part < minimum[i]!;
  }
  return false;
}

const isTimeout = (err: Error) => /timed out/i.test(err.message);

/** `url` fit for a log line: its password, if any, as "***" (a user name stays: it helps find the ACL rule). */
export function redactedRedisUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.href;
}

/**
 * The connection to the cluster's Redis, never in the way of a response: every command is bounded by a short
 * timeout, none is queued while Redis is away, and a failure is an answer of `undefined` (the caller then does
 * what an instance on its own would). Losing and regaining Redis is logged once each way.
 */
export class RedisLink {
  private readonly client: Redis;
  /** `undefined` until the first attempt to connect has succeeded or failed: both are logged. */
  private connected: boolean | undefined;
  private closed = false;
  private readonly joining: (() => void)[] = [];
  private subscriber: Redis | undefined;
  private timeouts = 0;
  private tooOldLogged = false;

  constructor(
    url: string,
    readonly instance: string,
    private readonly logger: Logger,
    private readonly onChange: (connected: boolean) => void,
  ) {
    // ioredis takes the user, password and db from the URL. TLS is asked for here rather than left to its reading
    // of the scheme: Node's defaults then apply, so the server's certificate must chain to a trusted CA (the system's,
    // or one added with NODE_EXTRA_CA_CERTS) and name the host.
    const tls = new URL(url).protocol === 'rediss:' ? { tls: {} } : {};
    this.client = new Redis(url, {
      ...tls,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 1000,
      retryStrategy: () => (this.closed ? null : RETRY_MS),
      lazyConnect: false,
    });
    this.client.on('ready', () => {
      this.admit().catch(logFailure(this.logger, 'cluster: admitting Redis'));
    });
    this.client.on('close', () => this.set(false));
    // Connection errors come again on every retry: the state change says it once, with the first one's reason (a
    // refused connection, a wrong password, an untrusted certificate). ioredis's messages never hold the password.
    this.client.on('error', (err: Error) => this.set(false, err.message));
    this.logger.info({ redis: redactedRedisUrl(url), instance }, 'cluster: connecting to Redis');
  }

  /**
   * A fresh connection is used only if the server is recent enough for the commands the cluster relies on
   * (`ZADD GT`, `GETEX`): on an older one they would fail one by one, and the instances would share progress
   * without results.
   */
  private async admit(): Promise<void> {
    let version: string | undefined;
    try {
      version = /^redis_version:([0-9.]+)/m.exec(await this.client.info('server'))?.[1];
    } catch {
      return; // The connection failed again: its own events say so.
    }
    if (version !== undefined && olderThan(version, MIN_VERSION)) {
      if (!this.tooOldLogged) this.logger.error({ version, required: MIN_VERSION.join('.') }, `cluster: Redis ${version} is older than ${MIN_VERSION.join('.')}, which the cluster needs; serving in local-only mode`);
      this.tooOldLogged = true;
      this.set(false);
      return;
    }
    this.set(true);
  }

  /** Resolves once connected (at once if already). */
  joined(): Promise<void> {
    if (this.connected === true) return Promise.resolve();
    return new Promise((resolve) => this.joining.push(resolve));
  }

  private set(connected: boolean, reason?: string): void {
    if (connected === this.connected || this.closed) return;
    this.connected = connected;
    if (connected) this.logger.info({ instance: this.instance }, 'cluster: joined (Redis available)');
    else this.logger.warn({ instance: this.instance, ...(reason === undefined ? {} : { error: reason }) }, 'cluster: Redis unavailable, serving in local-only mode until it returns');
    this.onChange(connected);
    if (connected) for (const resolve of this.joining.splice(0)) resolve();
  }

  /** Runs `command` if Redis is there; `undefined` when it is not, or the command fails or takes too long. */
  async run<T>(command: (redis: Redis) => Promise<T>): Promise<T | undefined> {
    if (this.connected !== true) return undefined;
    try {
      const result = await command(this.client);
      this.timeouts = 0;
      return result;
    } catch (err) {
      this.failed(err as Error);
      return undefined;
    }
  }

  /**
   * Runs the commands `build` queues in one round trip: their replies, `undefined` for each that failed (a key
   * of the wrong type, say), or `undefined` for all when Redis did not answer.
   */
  async pipeline(build: (pipeline: ChainableCommander) => ChainableCommander): Promise<unknown[] | undefined> {
    const replies = await this.run((redis) => build(redis.pipeline()).exec());
    if (!replies) return undefined;
    const failures = replies.flatMap(([err]) => (err ? [err] : []));
    if (failures.length > 0) {
      this.failed(failures[0]!);
      if (failures.some((err) => isTimeout(err))) return undefined;
    }
    return replies.map(([err, value]) => (err ? undefined : value));
  }

  private failed(err: Error): void {
    this.logger.debug({ error: err.message }, 'cluster: Redis command failed');
    if (!isTimeout(err) || ++this.timeouts < TIMEOUTS_TO_LEAVE) return;
    // Hung, not gone: local-only until it answers a PING again.
    this.timeouts = 0;
    this.set(false);
    const probe = () => {
      if (this.closed || this.connected) return;
      this.client.ping().then(
        () => this.admit().catch(logFailure(this.logger, 'cluster: admitting Redis')),
        () => setTimeout(probe, RETRY_MS).unref(),
      );
    };
    setTimeout(probe, RETRY_MS).unref();
  }

  /**
   * Calls `listener` for every message on `channel`, on a connection of its own (a subscribed connection takes no
   * other commands); it resubscribes by itself after Redis comes back.
   */
  subscribe(channel: string, listener: () => void): void {
    // Its own connection; subscribing again on every (re)connection, since commands are not queued while away.
    const subscriber = (this.subscriber ??= this.client.duplicate());
    subscriber.on('error', () => undefined);
    subscriber.on('message', (from: string) => {
      if (from === channel) listener();
    });
    const join = () => void subscriber.subscribe(channel).catch(() => undefined);
    subscriber.on('ready', join);
    if (subscriber.status === 'ready') join();
  }

  close(): void {
    this.closed = true;
    this.client.disconnect();
    this.subscriber?.disconnect();
  }
}
