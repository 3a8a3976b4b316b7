/**
 * The bench's load generator where wrk is not installed (see bench/support/load.ts), run as its own process so that
 * it does not share the proxy's event loop.
 * Usage: tsx bench/load-client.ts <seconds> <connections> <headers as JSON> <url> [<url> …]   → autocannon's result as JSON.
 */
import autocannon from 'autocannon';

const [seconds, connections, headers, ...urls] = process.argv.slice(2);
const first = new URL(urls[0]!);
const result = await autocannon({
  url: first.origin,
  connections: Number(connections),
  duration: Number(seconds),
  requests: urls.map((url) => ({ method: 'GET', path: new URL(url).pathname + new URL(url).search })),
  headers: JSON.parse(headers ?? '{}') as Record<string, string>,
});
process.stdout.write(JSON.stringify({ requests: result.requests.average, total: result.requests.total, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, bytes: result.throughput.average }));
