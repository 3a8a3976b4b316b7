// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'var/', 'fixtures/', 'bench/results/', 'test/artifacts/', 'scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // `void` does not handle a rejection: Node ends the process on an unhandled one (a full disk did so).
      '@typescript-eslint/no-floating-promises': [
        'error',
        { ignoreVoid: false, allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after'] }] },
      ],
    },
  },
  {
    // Per-request state goes on the request, response or socket (RequestSlot), never in a WeakMap keyed by them:
    // V8's young-generation collector keeps WeakMap values alive, and with them whole requests (see request-slot.ts).
    files: ['src/http/**/*.ts', 'src/proxy/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='WeakMap']", message: 'Per-request state: use RequestSlot (src/proxy/request-slot.ts), not a WeakMap.' },
        { selector: "AssignmentExpression[left.type='MemberExpression'][left.property.name='writeHead']", message: 'Add response headers with addResponseHeader (ProxyResponse), not a writeHead wrapper per response.' },
      ],
    },
  },
  {
    // Tests hand async handlers to servers on purpose; a rejection there fails the test through its assertions.
    // A test's `void` marks a promise that cannot reject (a delay, a child's exit) it chains from on purpose.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        { ignoreVoid: true, allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after'] }] },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
