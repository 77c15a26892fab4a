import { ClusterBus, Refs, SecretDecryptionError, SecretService } from '@nullops/core';
import test from 'ava';
import { dumpDatabase } from './helpers/database-dump.js';
import { startTestControlPlane } from './helpers/test-control-plane.js';

const PLAINTEXT = 'pa55-the-very-secret-value-Z9';

test('secret values: encrypted at rest, bound to their row, write-only, never logged', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const a = await admin.expect(201, 'POST', '/api/secrets', {
    name: 'A',
    value: PLAINTEXT,
    description: 'first',
  });
  const b = await admin.expect(201, 'POST', '/api/secrets', { name: 'B', value: PLAINTEXT });
  const service = cp.cp.container.resolve(SecretService);
  t.deepEqual(Object.fromEntries(await service.reveal(['A', 'B'])), { A: PLAINTEXT, B: PLAINTEXT });

  // Same value twice ⇒ two different ciphertexts (random IV).
  const rows = await cp.database.db('secrets').orderBy('name').select('id', 'valueEnc');
  t.is(rows.length, 2);
  t.not(rows[0].valueEnc, rows[1].valueEnc);
  t.regex(rows[0].valueEnc, /^nx1:1:/, 'format and key id are recorded in the ciphertext');

  // A ciphertext moved to another row fails to decrypt there.
  await cp.database.db('secrets').where('id', b.id).update({ valueEnc: rows[0].valueEnc });
  await t.throwsAsync(service.reveal(['B']), { instanceOf: SecretDecryptionError });
  t.is((await service.reveal(['A'])).get('A'), PLAINTEXT, 'the original row still opens');

  // One flipped byte anywhere in the ciphertext fails authentication.
  const box = cp.cp.container.resolve(Refs.secretBox);
  const sealed = box.encrypt(PLAINTEXT, `secret:${a.id}`);
  const data = sealed.split(':');
  const last = Buffer.from(data[4] as string, 'base64url');
  last[0] = (last[0] as number) ^ 0x01;
  data[4] = last.toString('base64url');
  t.throws(() => box.decrypt(data.join(':'), `secret:${a.id}`), { instanceOf: SecretDecryptionError });

  // Updating the value through the API works and still never echoes it.
  const updated = await admin.request('PATCH', `/api/secrets/${a.id}`, { value: `${PLAINTEXT}-v2` });
  t.is(updated.status, 200);
  t.is((await service.reveal(['A'])).get('A'), `${PLAINTEXT}-v2`);

  // The plaintext appears nowhere: API responses, audit log, logs, database.
  const responses = [
    JSON.stringify(updated.body),
    JSON.stringify((await admin.get('/api/secrets')).body),
    JSON.stringify((await admin.get(`/api/secrets/${a.id}`)).body),
    JSON.stringify((await admin.get('/api/audit?limit=500')).body),
  ].join('\n');
  t.false(responses.includes(PLAINTEXT), 'API responses do not contain the value');
  t.false(cp.logs.join('').includes(PLAINTEXT), 'logs do not contain the value');
  t.false(
    (await dumpDatabase(cp.database.db)).includes(PLAINTEXT),
    'the database does not contain the value',
  );
  t.true(cp.logs.length > 0, 'the log capture works');
});

test('registry passwords and node tokens are encrypted at rest and never returned again', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const password = 'registry-pass-Q7-never-shown';
  const registry = await admin.expect(201, 'POST', '/api/registries', {
    name: 'corp',
    url: 'https://registry.corp.example',
    unchecked: true,
    username: 'robot',
    password,
  });
  t.true(registry.hasPassword);
  t.false(JSON.stringify(registry).includes(password));
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'dev',
    baseDomain: 'dev.example.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });
  const node = await admin.expect(201, 'POST', '/api/nodes', {
    environmentId: env.id,
    name: 'n1',
    host: 'agent.local',
  });
  t.regex(node.token, /^noa_[A-Za-z0-9_-]{43}$/, 'the token is shown once, with 256 bits of randomness');
  const rotated = await admin.expect(200, 'POST', `/api/nodes/${node.id}/token`);
  t.not(rotated.token, node.token);

  const everything = [
    JSON.stringify((await admin.get('/api/registries')).body),
    JSON.stringify((await admin.get(`/api/nodes/${node.id}`)).body),
    JSON.stringify((await admin.get('/api/nodes')).body),
    JSON.stringify((await admin.get('/api/audit?limit=500')).body),
    cp.logs.join(''),
    await dumpDatabase(cp.database.db),
  ].join('\n');
  for (const secret of [password, node.token, rotated.token]) t.false(everything.includes(secret));
  t.false(JSON.stringify((await admin.get(`/api/nodes/${node.id}`)).body).includes('tokenEnc'));
});

test('secret keys rotate: old ciphertexts still open, and rotateAll re-encrypts them', async (t) => {
  const { SecretBox, parseSecretKeys } = await import('@nullops/core');
  const oldKey = Buffer.alloc(32, 3).toString('base64');
  const cp = await startTestControlPlane({}, { secretKey: oldKey });
  t.teardown(cp.close);
  await cp.admin.expect(201, 'POST', '/api/secrets', { name: 'ROTATE_ME', value: 'value-before-rotation' });
  const oldBox = cp.cp.container.resolve(Refs.secretBox);
  t.throws(() => parseSecretKeys('too-short'), { message: /32 bytes/ });

  // The operator adds a new current key "2" and keeps the old one, "1", for decryption.
  const newKey = Buffer.alloc(32, 7).toString('hex');
  const rotatedBox = new SecretBox(parseSecretKeys(`2:${newKey},1:${oldKey}`));
  t.is(rotatedBox.currentKeyId, '2');
  const service = new SecretService(cp.database.db, rotatedBox, cp.cp.container.resolve(ClusterBus));
  t.is(
    (await service.reveal(['ROTATE_ME'])).get('ROTATE_ME'),
    'value-before-rotation',
    'old ciphertexts still open',
  );
  t.is(await service.rotateAll(), 1);
  t.is(await service.rotateAll(), 0, 'nothing left to rotate');
  const row = await cp.database.db('secrets').where('name', 'ROTATE_ME').first();
  t.regex(row.valueEnc, /^nx1:2:/);
  t.is((await service.reveal(['ROTATE_ME'])).get('ROTATE_ME'), 'value-before-rotation');
  // Once rotated, the old key alone can no longer open it.
  t.throws(() => oldBox.decrypt(row.valueEnc, `secret:${row.id}`), { message: /key "2" is not configured/ });
});
