import test from 'ava';
import { z } from 'zod';
import { boolVar, ConfigError, enumVar, intVar, loadConfig, stringVar } from './config.js';

const shape = {
  PORT: intVar(8080, 1, 65535),
  VERBOSE: boolVar(false),
  MODE: enumVar(['a', 'b'], 'a'),
  NAME: stringVar('x'),
  API_TOKEN: z.string().min(10, 'must be at least 10 characters').optional(),
};

test('defaults apply when variables are unset or empty', (t) => {
  t.deepEqual(loadConfig(shape, { PORT: '' }), {
    PORT: 8080,
    VERBOSE: false,
    MODE: 'a',
    NAME: 'x',
    API_TOKEN: undefined,
  });
});

test('values are parsed', (t) => {
  t.like(loadConfig(shape, { PORT: '9000', VERBOSE: 'YES', MODE: 'b' }), {
    PORT: 9000,
    VERBOSE: true,
    MODE: 'b',
  });
});

test('every bad variable is named at once, and secret-looking values are not echoed', (t) => {
  const error = t.throws(() => loadConfig(shape, { PORT: '70000', VERBOSE: 'perhaps', API_TOKEN: 'short' }), {
    instanceOf: ConfigError,
  });
  t.is(error?.problems.length, 3);
  t.regex(error?.message ?? '', /PORT: must be at most 65535 \(got "70000"\)/);
  t.regex(error?.message ?? '', /VERBOSE: must be true or false/);
  t.regex(error?.message ?? '', /API_TOKEN: must be at least 10 characters \(got a hidden value\)/);
  t.false(error?.message.includes('short'));
});
