// Runs every test/**/*.test.ts with Node's own test runner (TypeScript through tsx). Extra arguments are passed
// on, e.g. `npm test -- --test-name-pattern=config`; file paths among them narrow the run to those files.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'support' || entry.name === 'artifacts' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const args = process.argv.slice(2);
const named = args.filter((a) => a.endsWith('.ts'));
const options = args.filter((a) => !a.endsWith('.ts'));
const files = named.length > 0 ? named : testFiles('test').sort();
// The timeout also bounds each test file as a whole: the browser suite drives every image of the demo site to
// final (about 100 s here, more on a busy machine), so it is ten minutes, not two; a hang still ends the run.
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=600000', ...options, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
