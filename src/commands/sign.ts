import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/index.js';
import { IMAGE_PATH, ImageOptionError, OPTION_NAMES, readImageOptions } from '../http/image-options.js';
import { pageUrlParts, signImageUrl } from '../http/image-signature.js';
import { decodeMarkedUrl, MARK_PARAMETER } from '../marks/index.js';

export const SIGN_USAGE = `usage: slimproxy sign <url> [--config FILE]

Prints <url> with the signature <image-api key salt> asks for (imgproxy's scheme; see README "Image options on
URLs"). <url> is an image URL with options, absolute (https://example.org/a.jpg?size=200) or a path
(/a.jpg?size=200), written as the browser sends it (percent-encoded); it comes out in the same form. The config is
read from --config FILE, else $SLIMPROXY_CONFIG, else ${DEFAULT_CONFIG_PATH}.`;

/** Why nothing was signed: one line for the user. */
class SignError extends Error {}

/** `&` as a page's HTML writes it: the browser sends `&`, so a URL copied with one was never what it asks for. */
const HTML_AMPERSAND = /&(?:amp|#0*38|#x0*26);/gi;

/**
 * The request target a browser (or curl, or `fetch`) sends for `target`: the WHATWG URL parser's path and query,
 * with `.` and `..` segments resolved, `\` read as `/` and what a URL may not hold as it is percent-encoded.
 */
function browserTarget(target: string): string | undefined {
  const base = 'http://host.invalid';
  try {
    return new URL(`${base}${target}`).href.slice(base.length);
  } catch {
    return undefined;
  }
}

/**
 * `url` as the proxy will receive it, or why it never will be: what is signed must be the request target the
 * browser sends, less the mark the proxy takes off before checking.
 */
function signableTarget(url: string): string {
  // A browser percent-encodes what is not ASCII, in the page's encoding, which is not ours to guess.
  if (!/^[\x21-\x7e]*$/.test(url)) throw new SignError(`${url} has spaces or characters outside ASCII: percent-encode them as the page's links do`);
  const { prefix, target, fragment } = pageUrlParts(url);
  if (!target.startsWith('/')) throw new SignError(`${url} is neither an absolute URL nor a path: write it as the page links it, from "/" or "https://"`);
  const unescaped = url.replace(HTML_AMPERSAND, '&');
  if (unescaped !== url) throw new SignError(`${url} is HTML-escaped (a browser sends "&amp;" as "&"): unescape it first and sign ${unescaped}`);
  const sent = browserTarget(target);
  if (sent === undefined) throw new SignError(`${url} is not a URL a browser can ask for`);
  if (sent !== target) {
    throw new SignError(`${url} is not what a browser asks for: it sends ${sent} (".." and "." resolved, "\\" read as "/", characters a URL may not hold percent-encoded); sign ${prefix}${sent}${fragment}`);
  }
  const marked = decodeMarkedUrl(target);
  if (marked) {
    throw new SignError(`${url} carries the mark ${MARK_PARAMETER}=${marked.mark}, which the proxy's rewriter adds to a page's image URLs and takes off before checking the signature: sign ${prefix}${marked.url}${fragment}`);
  }
  return target;
}

function signedUrl(url: string, configPath: string, warn: (line: string) => void): string {
  const target = signableTarget(url);
  const config = loadConfigFile(configPath);
  const signing = config.imageApi.signing;
  if (!signing) throw new SignError(`${config.source} has no <image-api key="…" salt="…">: option URLs are not signed`);
  // Read as the proxy reads it: a value it would refuse with 400 is not worth a signature.
  if (!readImageOptions(target, {})) throw new SignError(`${url} has no image options (${[...OPTION_NAMES].join(', ')}): only option URLs are signed`);
  if (!config.imageApi.enabled) warn(`note: <image-api enabled="true"> is not set in ${config.source}: the proxy leaves option URLs to the origin`);
  // Without an image extension the proxy still reads options from an image element's request (Accept: image/…).
  if (!IMAGE_PATH.test(target)) {
    warn(`warning: ${target} has no image extension (.jpg, .jpeg, .png, .gif, .webp, .avif): its options are read only when the browser asks for it as an image (Accept: image/…, as <img> and CSS do); a link or fetch() sends it to your site as it is`);
  }
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
