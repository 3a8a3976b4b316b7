import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedCertificate } from '../support/certificates.js';
import { runProxyToExit, writeTempConfig } from '../support/proxy.js';

const FILE = 'conf/config.xml';

function errorOf(xml: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(xml, FILE, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected the config to be refused');
}

const ORIGIN = '<origin url="http://127.0.0.1:8080"/>';

describe('config: presets and overrides', () => {
  it('applies the SPEC §1 defaults', () => {
    const config = parseConfig(`<config>${ORIGIN}<image-compression/></config>`, FILE);
    assert.deepEqual(config.listeners, [{ address: '0.0.0.0', port: 8000, idleTimeoutMs: 60_000, trustedProxies: [], tls: null }]);
    assert.deepEqual(config.imageApi, { enabled: false, signing: null, maxQueue: 64 });
    assert.equal(config.origin.timeoutMs, 30_000);
    assert.equal(config.origin.host, 'origin');
    assert.deepEqual(config.imageCompression, {
      preset: 'balanced',
      d: 0.002,
      quality: 80,
      formats: ['webp', 'avif', 'zorro'],
      minQuality: 20,
      maxQuality: 95,
      losslessPng: false,
      aiqa: 'all',
      method: 'dssim',
      targetBytes: undefined,
      allowedError: 0,
      formatMin: {},
      formatMax: {},
      interimMaxAge: 60,
    });
    assert.equal(config.store.maxBytes, 2 ** 30);
    assert.equal(config.limits.maxImageAreaPixels, 50e6);
    assert.equal(config.limits.maxImageProcesses, 2);
    assert.equal(config.limits.maxBufferedBytes, 256 * 2 ** 20);
    assert.equal(config.limits.maxExperimentBytes, 2 ** 30);
    assert.equal(config.limits.maxExperimentMs, 300_000);
    assert.equal(config.intervalCachingSeconds, 0);
    assert.deepEqual(config.rewrite, { lazyAttributes: ['data-src', 'data-srcset'], maxBytes: 20e6, cacheBytes: 64 * 2 ** 20, sharedCaches: 'vary' });
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.imageCompression) && Object.isFrozen(config.rewrite));
  });

  it('reads the limits of issue 16: max-buffered, max-experiment-memory, idle-timeout, trusted-proxies', () => {
    const config = parseConfig(
      `<config>${ORIGIN}<listen idle-timeout="7.5" trusted-proxies="127.0.0.1 10.0.0.0/8, ::1"/><limits max-buffered="64MiB" max-experiment-memory="512MiB" max-experiment-time="60"/></config>`,
      FILE,
    );
    assert.equal(config.listeners[0]!.idleTimeoutMs, 7500);
    assert.deepEqual(config.listeners[0]!.trustedProxies, ['127.0.0.1', '10.0.0.0/8', '::1']);
    assert.equal(config.limits.maxBufferedBytes, 64 * 2 ** 20);
    assert.equal(config.limits.maxExperimentBytes, 512 * 2 ** 20);
    assert.equal(config.limits.maxExperimentMs, 60_000);
    assert.throws(() => parseConfig(`<config>${ORIGIN}<limits max-experiment-time="0"/></config>`, FILE), /max-experiment-time/);
    for (const bad of ['trusted-proxies="10.0.0.0/33"', 'trusted-proxies="example.com"', 'trusted-proxies="10.0.0.1/8/2"', 'idle-timeout="0"']) {
      assert.throws(() => parseConfig(`<config>${ORIGIN}<listen ${bad}/></config>`, FILE), /<listen/, bad);
    }
    assert.throws(() => parseConfig(`<config>${ORIGIN}<limits max-experiment-memory="1MiB"/></config>`, FILE), /max-experiment-memory/);
  });

  it('reads <admin hosts>: host names, or * alone', () => {
    assert.deepEqual(parseConfig(`<config>${ORIGIN}</config>`, FILE).admin.hosts, []);
    assert.deepEqual(parseConfig(`<config>${ORIGIN}<admin hosts="Status.Example.net. slimproxy-1,metrics_2"/></config>`, FILE).admin.hosts, ['status.example.net', 'slimproxy-1', 'metrics_2']);
    assert.deepEqual(parseConfig(`<config>${ORIGIN}<admin hosts="*"/></config>`, FILE).admin.hosts, ['*']);
    for (const bad of ['', '* status.example.net', 'status.example.net:8001', 'http://status.example.net', 'a..b', '-', 'x'.repeat(64)]) {
      assert.throws(() => parseConfig(`<config>${ORIGIN}<admin hosts="${bad}"/></config>`, FILE), /<admin[\s\S]*hosts/, bad);
    }
  });

  it('reads <rewrite shared-caches> (SPEC §3: behind caches that ignore Vary, rewritten pages are private)', () => {
    for (const value of ['vary', 'private'] as const) {
      assert.equal(parseConfig(`<config>${ORIGIN}<image-compression/><rewrite shared-caches="${value}"/></config>`, FILE).rewrite.sharedCaches, value);
    }
  });

  it('takes each preset and overrides only the attribute given', () => {
    const performance = parseConfig(`<config>${ORIGIN}<image-compression preset="performance"/></config>`, FILE);
    assert.equal(performance.imageCompression?.d, 0.004);
    assert.equal(performance.imageCompression?.quality, 70);
    const quality = parseConfig(`<config>${ORIGIN}<image-compression preset="quality" d="0.0015"/></config>`, FILE);
    assert.equal(quality.imageCompression?.d, 0.0015);
    assert.equal(quality.imageCompression?.quality, 90, 'quality keeps the preset value');
    const fixed = parseConfig(`<config>${ORIGIN}<image-compression d="0" quality="75" formats="webp avif"/></config>`, FILE);
    assert.equal(fixed.imageCompression?.d, 0);
    assert.equal(fixed.imageCompression?.quality, 75);
    assert.deepEqual(fixed.imageCompression?.formats, ['webp', 'avif']);
  });

  it('switches compression off when the element is absent', () => {
    assert.equal(parseConfig(`<config>${ORIGIN}</config>`, FILE).imageCompression, null);
  });

  it('lets the environment win over the file, element by attribute', () => {
    const config = parseConfig(`<config>${ORIGIN}<listen port="8000"/><limits max-image-processes="4"/></config>`, FILE, {
      SLIMPROXY_PORT: '9100',
      SLIMPROXY_MAX_IMAGE_AREA: '12.5',
      SLIMPROXY_MAX_IMAGE_PROCESSES: '3',
      SLIMPROXY_ORIGIN: 'https://legacy.example:8443/shop/',
    });
    assert.equal(config.listeners[0]!.port, 9100);
    assert.equal(config.limits.maxImageAreaPixels, 12_500_000);
    assert.equal(config.limits.maxImageProcesses, 3);
    assert.equal(config.origin.target.kind === 'url' && config.origin.target.url.href, 'https://legacy.example:8443/shop/');
  });

  it('reads sizes with decimal and binary units', () => {
    const sizes = { '1GiB': 2 ** 30, '500MB': 500e6, '2mib': 2 * 2 ** 20, '1048576': 2 ** 20 };
    for (const [written, bytes] of Object.entries(sizes)) {
      const config = parseConfig(`<config>${ORIGIN}<store max-size="${written}"/></config>`, FILE);
      assert.equal(config.store.maxBytes, bytes, written);
    }
  });

  it('reads <cluster redis> as redis:// or rediss:// (TLS), with a password and optionally a user', () => {
    const urls = ['redis://127.0.0.1:6379/0', 'redis://:secret@127.0.0.1:6380/0', 'rediss://redis.example:6380', 'rediss://user:secret@redis.example:6380/1'];
    for (const url of urls) assert.equal(parseConfig(`<config>${ORIGIN}<cluster redis="${url}"/></config>`, FILE).cluster?.redis, url);
  });

  it('aiqa="all" is the default; a quality set by hand with it says it has no effect while d applies', () => {
    assert.equal(parseConfig(`<config>${ORIGIN}<image-compression/></config>`, FILE).imageCompression?.aiqa, 'all');
    assert.equal(parseConfig(`<config>${ORIGIN}<image-compression aiqa="jpeg"/></config>`, FILE).imageCompression?.aiqa, 'jpeg');
    for (const attributes of ['quality="70" aiqa="all"', 'quality="70"']) {
      const warned = parseConfig(`<config>${ORIGIN}\n<image-compression ${attributes}/></config>`, FILE);
      assert.equal(warned.warnings.length, 1, attributes);
      assert.match(warned.warnings[0]!, /^conf\/config\.xml:2: <image-compression quality="70">: has no effect while d > 0/);
    }
    // Where the quality is used: FIT's aiqa="jpeg" (WebP at the quality), d off, or method="none".
    for (const attributes of ['quality="70" aiqa="jpeg"', 'quality="70" aiqa="all" d="0"', 'quality="70" aiqa="all" method="none"', 'quality="70" aiqa="all" method="size" target="10KB"']) {
      assert.deepEqual(parseConfig(`<config>${ORIGIN}<image-compression ${attributes}/></config>`, FILE).warnings, [], attributes);
    }
  });

  it('warns and disables compression when scaling is present too (SPEC §1)', () => {
    for (const order of ['<image-scaling/><image-compression/>', '<image-compression preset="quality"/><image-scaling/>']) {
      const config = parseConfig(`<config>${ORIGIN}${order}</config>`, FILE);
      assert.equal(config.imageCompression, null);
      assert.deepEqual(config.imageScaling, {});
      assert.deepEqual(config.warnings, [
        '<image-scaling/> and <image-compression/> cannot be used together: scaling wins and compression is disabled',
      ]);
    }
  });
});

describe('config: one clear message for every bad config', () => {
  const cases: [string, string, string][] = [
    [
      'an unknown element',
      `<config>\n${ORIGIN}\n<image-compresion preset="balanced"/>\n</config>`,
      'conf/config.xml:3: unknown element <image-compresion>; allowed elements: <listen>, <origin>, <image-compression>, <image-scaling>, <image-api>, <cluster>, <fallback-image>, <rewrite>, <interval-caching>, <store>, <limits>, <admin>, <log>',
    ],
    [
      'an unknown attribute',
      `<config>\n${ORIGIN}\n<image-compression preset="balanced" qualty="80"/>\n</config>`,
      'conf/config.xml:3: <image-compression>: unknown attribute "qualty"; allowed attributes: preset, quality, d, formats, min-quality, max-quality, lossless-png, aiqa, method, target, allowed-error, format-min, format-max, interim-max-age',
    ],
    [
      'an unknown attribute of <rewrite>',
      `<config>\n${ORIGIN}\n<rewrite shared-cache="private"/>\n</config>`,
      'conf/config.xml:3: <rewrite>: unknown attribute "shared-cache"; allowed attributes: lazy-attributes, max-size, cache-size, shared-caches',
    ],
    [
      'shared-caches="none"',
      `<config>\n${ORIGIN}\n<rewrite shared-caches="none"/>\n</config>`,
      'conf/config.xml:3: <rewrite shared-caches="none">: shared-caches must be one of "vary", "private"',
    ],
    [
      'preset="fast"',
      `<config>\n${ORIGIN}\n<image-compression preset="fast"/>\n</config>`,
      'conf/config.xml:3: <image-compression preset="fast">: preset must be one of "performance", "balanced", "quality"',
    ],
    [
      'd="abc"',
      `<config>\n${ORIGIN}\n<image-compression d="abc"/>\n</config>`,
      'conf/config.xml:3: <image-compression d="abc">: d must be a number from -1 to 1 (0 or less: use the fixed quality)',
    ],
    [
      'quality="101"',
      `<config>\n${ORIGIN}\n<image-compression quality="101"/>\n</config>`,
      'conf/config.xml:3: <image-compression quality="101">: quality must be an integer from 1 to 100',
    ],
    [
      'a missing origin',
      `<config>\n<listen port="8000"/>\n</config>`,
      'conf/config.xml: <config>: the origin is missing; add <origin url="http://your-site:port"/> (or url="embedded" for the demo site), or set SLIMPROXY_ORIGIN',
    ],
    [
      'an origin without url',
      `<config>\n<origin timeout="5"/>\n</config>`,
      'conf/config.xml:2: <origin>: the origin is missing; add <origin url="http://your-site:port"/> (or url="embedded" for the demo site), or set SLIMPROXY_ORIGIN',
    ],
    [
      'an origin that is not http',
      `<config><origin url="ftp://files.example/"/></config>`,
      'conf/config.xml:1: <origin url="ftp://files.example/">: url must be "embedded" or an absolute http:// or https:// URL such as "http://127.0.0.1:8080"',
    ],
    [
      'min-quality above max-quality',
      `<config>${ORIGIN}<image-compression min-quality="90" max-quality="60"/></config>`,
      'conf/config.xml:1: <image-compression min-quality="90" max-quality="60">: min-quality must be at most max-quality',
    ],
    [
      'an unknown modern format',
      `<config>${ORIGIN}<image-compression formats="webp jxl"/></config>`,
      'conf/config.xml:1: <image-compression formats="webp jxl">: formats must be a space-separated list of "webp", "avif", "zorro" (or empty)',
    ],
    [
      'a bad size',
      `<config>${ORIGIN}<store max-size="lots"/></config>`,
      'conf/config.xml:1: <store max-size="lots">: max-size must be a size of at least 1048576 bytes such as "512MiB", "1GiB" or "2GB" (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)',
    ],
    [
      'a Redis URL of another scheme',
      `<config>${ORIGIN}<cluster redis="tcp://127.0.0.1:6379"/></config>`,
      'conf/config.xml:1: <cluster redis="tcp://127.0.0.1:6379">: redis must be a redis:// or rediss:// (TLS) URL such as "redis://127.0.0.1:6379/0" or "rediss://user:secret@redis.example:6380/0" (a password as ":secret@" or "user:secret@")',
    ],
    [
      'a Redis URL with a name but no colon (a user or a password?)',
      `<config>${ORIGIN}<cluster redis="redis://secret@127.0.0.1:6379"/></config>`,
      'conf/config.xml:1: <cluster redis="redis://***@127.0.0.1:6379">: redis must be a redis:// or rediss:// (TLS) URL such as "redis://127.0.0.1:6379/0" or "rediss://user:secret@redis.example:6380/0" (a password as ":secret@" or "user:secret@")',
    ],
    [
      'a refused Redis URL with a password: the password is not repeated',
      `<config>${ORIGIN}<cluster redis="tcp://admin:hunter2@127.0.0.1:6379"/></config>`,
      'conf/config.xml:1: <cluster redis="tcp://admin:***@127.0.0.1:6379">: redis must be a redis:// or rediss:// (TLS) URL such as "redis://127.0.0.1:6379/0" or "rediss://user:secret@redis.example:6380/0" (a password as ":secret@" or "user:secret@")',
    ],
    ['an element twice', `<config>\n${ORIGIN}\n${ORIGIN}\n</config>`, 'conf/config.xml:3: <origin> appears twice (first on line 2); keep one'],
    [
      'attributes on <image-scaling/>',
      `<config>${ORIGIN}<image-scaling width="800"/></config>`,
      'conf/config.xml:1: <image-scaling>: unknown attribute "width"; it takes no attributes',
    ],
    ['another root', '<settings/>', 'conf/config.xml:1: the root element must be <config>, not <settings>'],
    ['broken XML', '<config>\n<origin url="x"\n</config>', 'conf/config.xml:3: not well-formed XML: disallowed character in attribute name.'],
    [
      'nested elements',
      `<config>${ORIGIN}<store><limits/></store></config>`,
      'conf/config.xml:1: unexpected element <limits> nested inside another element; every setting is a direct child of <config>',
    ],
  ];
  for (const [what, xml, message] of cases) {
    it(what, () => assert.equal(errorOf(xml), message));
  }

  it('names the environment variable when that is the bad value', () => {
    assert.equal(
      errorOf(`<config>${ORIGIN}</config>`, { SLIMPROXY_MAX_IMAGE_PROCESSES: 'many' }),
      'environment SLIMPROXY_MAX_IMAGE_PROCESSES="many" (sets <limits max-image-processes>): max-image-processes must be an integer from 1 to 256',
    );
  });
});

describe('config: listeners and signing (issue 19)', () => {
  it('takes several <listen>, in file order; the environment sets the first', () => {
    const { certPath, keyPath } = selfSignedCertificate();
    const config = parseConfig(`<config>${ORIGIN}<listen port="8080"/><listen port="8443" tls-cert="${certPath}" tls-key="${keyPath}" idle-timeout="5"/></config>`, FILE, { SLIMPROXY_PORT: '9000' });
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.tls, l.idleTimeoutMs]),
      [
        [9000, null, 60_000],
        [8443, { certPath, keyPath }, 5000],
      ],
    );
    const clash = errorOf(`<config>${ORIGIN}<listen port="8080"/>\n<listen port="8080"/></config>`);
    assert.match(clash, /:2: <listen address="0.0.0.0" port="8080">: the same address and port as the <listen> on line 1/);
  });

  it('names the attribute of a bad certificate or key', () => {
    const good = selfSignedCertificate();
    const other = selfSignedCertificate();
    const notPem = writeTempConfig('just text');
    const cases: [string, RegExp][] = [
      [`tls-cert="${good.certPath}"`, /<listen tls-cert="[^"]+">: tls-key is missing/],
      [`tls-key="${good.keyPath}"`, /<listen tls-key="[^"]+">: tls-cert is missing/],
      [`tls-cert="/nonexistent/cert.pem" tls-key="${good.keyPath}"`, /<listen tls-cert="\/nonexistent\/cert.pem">: cannot read \/nonexistent\/cert.pem: no such file/],
      [`tls-cert="${good.certPath}" tls-key="/nonexistent/key.pem"`, /<listen tls-key="\/nonexistent\/key.pem">: cannot read/],
      [`tls-cert="${notPem}" tls-key="${good.keyPath}"`, /<listen tls-cert="[^"]+">: .* holds no PEM certificate/],
      [`tls-cert="${good.certPath}" tls-key="${good.certPath}"`, /<listen tls-key="[^"]+">: .* holds no PEM private key/],
      [`tls-cert="${good.certPath}" tls-key="${other.keyPath}"`, /<listen tls-key="[^"]+">: .* is not the key of the certificate/],
    ];
    for (const [attributes, expected] of cases) assert.match(errorOf(`<config>${ORIGIN}<listen port="8443" ${attributes}/></config>`), expected, attributes);
    const broken = join(good.certPath, '..', 'broken.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    assert.match(errorOf(`<config>${ORIGIN}<listen tls-cert="${broken}" tls-key="${good.keyPath}"/></config>`), /<listen tls-cert="[^"]+">: .* is not a certificate Node can read/);
  });

  it('reads <image-api key salt max-queue> (hex, both or neither)', () => {
    const config = parseConfig(`<config>${ORIGIN}<image-api enabled="true" key="943B421C9EB07C83943B421C9EB07C83" salt="520f986b998545b4" max-queue="8"/></config>`, FILE);
    assert.deepEqual(config.imageApi, { enabled: true, signing: { key: '943b421c9eb07c83943b421c9eb07c83', salt: '520f986b998545b4' }, maxQueue: 8 });
    // A key that can be found by trying them all is refused, not warned about (hostile review).
    assert.match(errorOf(`<config>${ORIGIN}<image-api enabled="true" key="00" salt="00"/></config>`), /key is 1 bytes: signatures made with it can be forged/);
    assert.match(errorOf(`<config>${ORIGIN}<image-api enabled="true" key="${'ab'.repeat(15)}" salt="00"/></config>`), /key is 15 bytes/);
    assert.match(errorOf(`<config>${ORIGIN}<image-api enabled="true" key="00ff"/></config>`), /<image-api>: salt is missing/);
    assert.match(errorOf(`<config>${ORIGIN}<image-api enabled="true" key="0f0" salt="00"/></config>`), /key must be an even number of hex digits/);
  });
});

describe('config: the command refuses a bad config with exit code 2', () => {
  const refused: [string, string, string][] = [
    ['unknown element', `<config>${ORIGIN}<cache/></config>`, 'unknown element <cache>'],
    ['unknown attribute', `<config>${ORIGIN}<listen prot="1"/></config>`, 'unknown attribute "prot"'],
    ['preset="fast"', `<config>${ORIGIN}<image-compression preset="fast"/></config>`, 'preset="fast"'],
    ['d="abc"', `<config>${ORIGIN}<image-compression d="abc"/></config>`, 'd must be a number'],
    ['quality="101"', `<config>${ORIGIN}<image-compression quality="101"/></config>`, 'quality must be an integer from 1 to 100'],
    ['missing origin', '<config><listen port="0"/></config>', 'the origin is missing'],
    ['a certificate that cannot be read', `<config>${ORIGIN}<listen port="0" tls-cert="/nonexistent/cert.pem" tls-key="/nonexistent/key.pem"/></config>`, '<listen tls-cert="/nonexistent/cert.pem">: cannot read'],
  ];
  for (const [what, xml, expected] of refused) {
    it(what, async () => {
      const path = writeTempConfig(xml);
      const { code, stderr, stdout } = await runProxyToExit(['--config', path]);
      assert.equal(code, 2);
      assert.equal(stdout, '', 'nothing started, nothing logged');
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line, got: ${stderr}`);
      assert.ok(lines[0]?.startsWith(`slimproxy: bad config: ${path}`), lines[0]);
      assert.ok(lines[0]?.includes(expected), lines[0]);
    });
  }

  it('reads SLIMPROXY_CONFIG when --config is not given', async () => {
    const path = writeTempConfig(`<config>${ORIGIN}<image-compression preset="fast"/></config>`);
    const { code, stderr } = await runProxyToExit([], { SLIMPROXY_CONFIG: path });
    assert.equal(code, 2);
    assert.ok(stderr.includes(path), stderr);
  });

  it('says which file is missing', async () => {
    const { code, stderr } = await runProxyToExit(['--config', '/nonexistent/slimproxy.xml']);
    assert.equal(code, 2);
    assert.equal(
      stderr.trim(),
      'slimproxy: bad config: /nonexistent/slimproxy.xml: cannot read the config file: no such file (choose one with --config FILE or SLIMPROXY_CONFIG)',
    );
  });
});
