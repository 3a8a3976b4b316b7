#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile, type Config } from './config/index.js';
import { createLogger, logFailure } from './observability/log.js';
import { startSlimproxy } from './slimproxy.js';

/** Exit codes: 2 for a config that cannot be used (the message says why), 1 for anything else at start. */
const EXIT_BAD_CONFIG = 2;
const EXIT_START_FAILED = 1;
/** Below Docker's default 10 s between SIGTERM and SIGKILL, so in-flight responses finish before the kill. */
const SHUTDOWN_GRACE_MS = 8000;

const USAGE = `usage: slimproxy [--config FILE]
       slimproxy optimize <dir> [options]     (see slimproxy optimize --help)
       slimproxy sign <url> [--config FILE]   prints <url> signed for <image-api key salt> (see slimproxy sign --help)

Runs the proxy. The config is read from --config FILE, else $SLIMPROXY_CONFIG, else ${DEFAULT_CONFIG_PATH}.
See README.md for the config reference.`;

function readArguments(argv: string[]): { configPath: string } {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return { configPath: values.config ?? process.env.SLIMPROXY_CONFIG ?? DEFAULT_CONFIG_PATH };
}

async function main(): Promise<void> {
  // HUP means "reload" to an operator: it must never end the proxy, neither before the listeners are up nor while it
  // stops (Node's default for it ends the process at once, in-flight responses cut). The proxy's own handler
  // (certificates) is added at start and removed at stop; this one stays.
  let onHangUp = () => undefined as void;
  process.on('SIGHUP', () => onHangUp());
  if (process.argv[2] === 'optimize') {
    const { runOptimize, OPTIMIZE_USAGE } = await import('./commands/optimize.js');
    if (process.argv.includes('--help')) {
      process.stdout.write(`${OPTIMIZE_USAGE}\n`);
      process.exit(0);
    }
    process.exit(await runOptimize(process.argv.slice(3)));
  }
  if (process.argv[2] === 'sign') {
    const { runSign, SIGN_USAGE } = await import('./commands/sign.js');
    if (process.argv.includes('--help')) {
      process.stdout.write(`${SIGN_USAGE}\n`);
      process.exit(0);
    }
    process.exit(runSign(process.argv.slice(3)));
  }
  let configPath: string;
  try {
    ({ configPath } = readArguments(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`slimproxy: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(EXIT_BAD_CONFIG);
  }
  let config: Config;
  try {
    config = loadConfigFile(configPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`slimproxy: bad config: ${err.message}\n`);
    process.exit(EXIT_BAD_CONFIG);
  }

  const logger = createLogger(config.log.level);
  let running;
  try {
    running = await startSlimproxy(config, logger);
  } catch (err) {
    logger.fatal({ error: (err as Error).message }, 'cannot start');
    logger.flush();
    process.stderr.write(`slimproxy: cannot start: ${(err as Error).message}\n`);
    process.exit(EXIT_START_FAILED);
  }
  const origin = config.origin.target.kind === 'embedded' ? 'the embedded demo site' : running.origin.href;
  const shown = running.urls.map((url) => {
    const copy = new URL(url);
    if (copy.hostname === '0.0.0.0' || copy.hostname === '[::]') copy.hostname = 'localhost';
    return copy.href;
  });
  logger.info({ url: shown[0], ...(shown.length > 1 ? { urls: shown } : {}), origin: running.origin.href, config: config.source }, `slimproxy is listening: open ${shown.join(' or ')} (in front of ${origin})`);
  if (running.adminUrl) logger.info({ admin: running.adminUrl.href }, `admin: status page ${new URL('status', running.adminUrl).href}, metrics ${new URL('metrics', running.adminUrl).href}`);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    onHangUp = () => logger.info({ signal: 'SIGHUP' }, 'SIGHUP while stopping: nothing to reload');
    // The process ends whatever becomes of logging: with stdout gone (a log shipper that died) pino's writer
    // retries forever, which must not keep a stopped proxy alive.
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS + 2000);
    logger.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'stopping: no new connections, finishing in-flight responses');
    running
      .stop(SHUTDOWN_GRACE_MS)
      .then((inTime) => logger.info({ finishedInTime: inTime }, 'stopped'), logFailure(logger, 'stopping'))
      .finally(() => {
        logger.flush();
        process.exit(0);
      });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

await main();
