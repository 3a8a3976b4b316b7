import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/index.js';
import { ImageOptionError, OPTION_NAMES, readImageOptions } from '../http/image-options.js';
import { pageUrlParts, signImageUrl } from '../http/image-signature.js';

export const SIGN_USAGE = `usage: slimproxy sign <url> [--config FILE]

Prints <url> with the signature <image-api key salt> asks for (imgproxy's scheme; see README "Image options on
URLs"). <url> is an image URL with options, absolute (https://example.org/a.jpg?size=200) or a path
(/a.jpg?size=200), written as the browser sends it (percent-encoded); it comes out in the same form. The config is
read from --config FILE, else $SLIMPROXY_CONFIG, else ${DEFAULT_CONFIG_PATH}.`;

/** Why nothing was signed: one line for the user. */
class SignError extends Error {}

function signedUrl(url: string, configPath: string, warn: (line: string) => void): string {
  // A browser percent-encodes what is not ASCII, in the page's encoding, which is not ours to guess.
  if (!/^[\x21-\x7e]*$/.test(url)) throw new SignError(`${url} has spaces or characters outside ASCII: percent-encode them as the page's links do`);
  const { target } = pageUrlParts(url);
  if (!target.startsWith('/')) throw new SignError(`${url} is neither an absolute URL nor a path: write it as the page links it, from "/" or "https://"`);
  const config = loadConfigFile(configPath);
  const signing = config.imageApi.signing;
  if (!signing) throw new SignError(`${config.source} has no <image-api key="…" salt="…">: option URLs are not signed`);
  // Read as the proxy reads it: a value it would refuse with 400 is not worth a signature.
  if (!readImageOptions(target, {})) throw new SignError(`${url} has no image options (${[...OPTION_NAMES].join(', ')}): only option URLs are signed`);
  if (!config.imageApi.enabled) warn(`note: <image-api enabled="true"> is not set in ${config.source}: the proxy leaves option URLs to the origin`);
  return signImageUrl(url, signing);
}

/** `slimproxy sign`: returns the exit code. */
export function runSign(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  let url: string;
  let configPath: string;
  try {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string' } } });
    if (positionals.length !== 1) throw new Error('give one URL');
    url = positionals[0]!;
    configPath = values.config ?? process.env.SLIMPROXY_CONFIG ?? DEFAULT_CONFIG_PATH;
  } catch (error) {
    err.write(`slimproxy sign: ${(error as Error).message}\n${SIGN_USAGE}\n`);
    return 2;
  }
  try {
    out.write(`${signedUrl(url, configPath, (line) => err.write(`slimproxy sign: ${line}\n`))}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof SignError || error instanceof ConfigError || error instanceof ImageOptionError)) throw error;
    err.write(`slimproxy sign: ${error instanceof ConfigError ? 'bad config: ' : ''}${error.message}\n`);
    return 2;
  }
}
