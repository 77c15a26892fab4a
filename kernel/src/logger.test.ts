import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from './logger.js';

test('secret-looking fields are redacted from log lines', (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'info' }, sink);
  logger.info(
    {
      password: 'p1',
      body: { password: 'p2', token: 'p3', value: 'p4', name: 'visible' },
      req: { headers: { authorization: 'Bearer p5', cookie: 'nullops_session=p6' } },
    },
    'hello',
  );
  const text = lines.join('');
  for (const secret of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'])
    t.false(text.includes(`"${secret}`) || text.includes(secret));
  t.true(text.includes('visible'));
  t.true(text.includes('[redacted]'));
});
