/**
 * Load generator for bench/serve.ts, run as its own process so that it does not share the proxy's event loop.
 * Usage: tsx bench/load-client.ts <seconds> <connections> <url> [<url> …]   → prints autocannon's result as JSON.
 */
import autocannon from 'autocannon';

const [seconds, connections, ...urls] = process.argv.slice(2);
const first = new URL(urls[0]!);
const result = await autocannon({
  url: first.origin,
  connections: Number(connections),
  duration: Number(seconds),
  requests: urls.map((url) => ({ method: 'GET', path: new URL(url).pathname + new URL(url).search })),
  headers: { accept: 'image/avif,image/webp,image/*,*/*;q=0.8' },
});
process.stdout.write(JSON.stringify({ requests: result.requests.average, total: result.requests.total, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, bytes: result.throughput.average }));
