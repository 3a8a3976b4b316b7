import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createLogger, isoTimeField, LineFields, type Logger, writeLine } from '../../src/observability/log.js';

/** A logger whose lines land in an array, as the proxy's do on stdout. */
function capturing(level: 'info' | 'warn'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger(level, { write: (line: string) => void lines.push(line) }), lines };
}

/** Lines compared without their time, which is the clock's and differs between two writes. */
const timeless = (line: string | undefined) => line?.replace(/,"time":"[^"]*"/, ',"time":"T"');

type Field = { kind: 'string'; key: string; value: string | undefined } | { kind: 'number'; key: string; value: number } | { kind: 'flag'; key: string; value: boolean };

const key = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,11}$/).filter((k) => k !== 'level' && k !== 'time' && k !== 'pid' && k !== 'msg');
// What a request line carries: paths as Node hands them over (latin1 characters, any byte), ids, addresses, errors.
const text = fc.oneof(fc.string(), fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)) }), fc.string({ unit: 'grapheme' }), fc.string({ minLength: 90, maxLength: 130 }));
const field: fc.Arbitrary<Field> = fc.oneof(
  fc.record({ kind: fc.constant('string' as const), key, value: fc.option(text, { nil: undefined }) }),
  fc.record({ kind: fc.constant('number' as const), key, value: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Infinity, -Infinity, Number.NaN, -0, 1e21, 5e-7)) }),
  fc.record({ kind: fc.constant('flag' as const), key, value: fc.boolean() }),
);

function write(logger: Logger, level: 'info' | 'warn', fields: readonly Field[], msg: string): void {
  const line = new LineFields();
  for (const f of fields) {
    if (f.kind === 'string') line.string(f.key, f.value);
    else if (f.kind === 'number') line.number(f.key, f.value);
    else line.flag(f.key, f.value);
  }
  writeLine(logger, level, line, msg);
}

describe('the request line written by hand (issue 18), against pino', () => {
  it('is byte for byte the line pino writes for the same fields, on a logger and a child with bindings', () => {
    fc.assert(
      fc.property(fc.uniqueArray(field, { selector: (f) => f.key, maxLength: 12 }), fc.constantFrom('info' as const, 'warn' as const), text, fc.boolean(), (fields, level, msg, child) => {
        const { logger: root, lines } = capturing('info');
        const logger = child ? root.child({ worker: 3, site: 'a"b' }) : root;
        logger[level](Object.fromEntries(fields.map((f) => [f.key, f.value])), msg);
        write(logger, level, fields, msg);
        assert.equal(lines.length, 2);
        assert.equal(timeless(lines[1]), timeless(lines[0]));
      }),
      { seed: 18, numRuns: 3000 },
    );
  });

  it('writes nothing below the logger level', () => {
    const { logger, lines } = capturing('warn');
    write(logger, 'info', [{ kind: 'string', key: 'path', value: '/a' }], 'request');
    assert.equal(lines.length, 0);
    write(logger, 'warn', [{ kind: 'string', key: 'path', value: '/a' }], 'request');
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0]!) as { path: string }).path, '/a');
  });
});

describe("the request line's time field", () => {
  it('is pino isoTime, byte for byte, for any time and in any order (cached by second and by millisecond)', () => {
    // Up to the end of year 9999, where toISOString's four-digit years end; runs of nearby times as under load.
    const instant = fc.integer({ min: 0, max: 253_402_300_799_999 });
    const run = fc.tuple(instant, fc.array(fc.integer({ min: 0, max: 2500 }), { maxLength: 20 }));
    fc.assert(
      fc.property(fc.array(run, { minLength: 1, maxLength: 5 }), (runs) => {
        for (const [start, steps] of runs) {
          let now = start;
          for (const step of [0, ...steps]) {
            now = Math.min(now + step, 253_402_300_799_999);
            assert.equal(isoTimeField(now), `,"time":"${new Date(now).toISOString()}"`);
          }
        }
      }),
      { seed: 18, numRuns: 3000 },
    );
  });
});
