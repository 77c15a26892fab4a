/**
 * Takes what must not run out of a plain-SQL dump before it is restored. A backup may come from
 * another deployment — whose container, and so whose `pg_dump`, its users control — so its bytes
 * are untrusted: the restore runs as a role with no more rights than the deployment's own, and
 * before that, what only a superuser or a shell could want is taken out and named:
 *
 * - psql meta-commands (`\!` runs a shell), outside COPY data;
 * - event triggers, which run on every later statement of anyone;
 * - `COPY … TO/FROM PROGRAM` (a shell command on the database server);
 * - `SECURITY DEFINER`, which would run a function with its owner's rights (made `INVOKER`);
 * - role and session switches, role changes, `ALTER SYSTEM`, `LOAD`, languages, database settings,
 *   grants and ownership changes (a restore brings data and schema, not rights).
 *
 * The dump is read statement by statement — quotes, dollar quotes, comments and COPY data blocks
 * respected — so a keyword inside a string or a function body is not mistaken for a statement.
 */

export interface SanitizedDump {
  sql: string;
  /** What was taken out or changed, in words, one line per kind with how often. */
  notes: string[];
}

interface Rule {
  test: RegExp;
  action: 'drop' | 'invoker';
  what: string;
}

const RULES: Rule[] = [
  { test: /^(CREATE|ALTER|DROP|COMMENT\s+ON)\s+EVENT\s+TRIGGER\b/i, action: 'drop', what: 'event trigger' },
  {
    test: /^COPY\b[\s\S]*\b(TO|FROM)\s+PROGRAM\b/i,
    action: 'drop',
    what: 'COPY … PROGRAM (a shell command)',
  },
  {
    test: /^(SET|RESET)\s+(LOCAL\s+|SESSION\s+)?(ROLE|SESSION\s+AUTHORIZATION)\b/i,
    action: 'drop',
    what: 'role switch',
  },
  { test: /^(CREATE|ALTER|DROP)\s+(ROLE|USER|GROUP)\b/i, action: 'drop', what: 'role change' },
  { test: /^ALTER\s+SYSTEM\b/i, action: 'drop', what: 'ALTER SYSTEM' },
  { test: /^LOAD\b/i, action: 'drop', what: 'LOAD of a library' },
  {
    test: /^(CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(TRUSTED\s+)?(PROCEDURAL\s+)?LANGUAGE\b/i,
    action: 'drop',
    what: 'language',
  },
  { test: /^(ALTER|DROP|CREATE)\s+DATABASE\b/i, action: 'drop', what: 'database setting' },
  { test: /^(GRANT|REVOKE)\b/i, action: 'drop', what: 'grant or revoke' },
  { test: /^ALTER\s+[\s\S]*\bOWNER\s+TO\b/i, action: 'drop', what: 'ownership change' },
  {
    test: /^(CREATE|ALTER)\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\b[\s\S]*\bSECURITY\s+DEFINER\b/i,
    action: 'invoker',
    what: 'SECURITY DEFINER function',
  },
];

/** Sanitizes a whole dump (see the module's description). */
export function sanitizeDump(dump: string): SanitizedDump {
  const out: string[] = [];
  const counts = new Map<string, number>();
  const note = (what: string, done = 'taken out') => {
    const key = `${what}|${done}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  let copyData = false;
  // Lexical state: inside '…', "…", $tag$…$tag$ or /* … */ (nested).
  let quote: "'" | '"' | undefined;
  let dollar: string | undefined;
  let comments = 0;
  let start = 0;
  let lineStart = true;

  const finish = (end: number) => {
    const text = dump.slice(start, end);
    start = end;
    const head = leadingCode(text);
    const rule = RULES.find((r) => r.test.test(head));
    if (!rule) out.push(text);
    else if (rule.action === 'drop') {
      note(rule.what);
      out.push('\n');
    } else {
      note(rule.what, 'made SECURITY INVOKER');
      out.push(text.replace(/\bSECURITY\s+DEFINER\b/gi, 'SECURITY INVOKER'));
    }
    // A COPY … FROM stdin statement is followed by its data, up to a line `\.`.
    if (!rule && /^COPY\b[\s\S]*\bFROM\s+stdin\b/i.test(head)) copyData = true;
  };
  const lineEnd = (from: number) => {
    const at = dump.indexOf('\n', from);
    return at < 0 ? dump.length : at + 1;
  };

  for (let i = 0; i < dump.length; ) {
    if (copyData) {
      // The data's lines are passed on as they are (their backslashes are escapes, not commands).
      const end = lineEnd(i);
      out.push(dump.slice(i, end));
      if (dump.slice(i, end).replace(/\r?\n$/, '') === '\\.') copyData = false;
      i = start = end;
      lineStart = true;
      continue;
    }
    const c = dump[i] as string;
    if (comments) {
      const closes = dump.startsWith('*/', i);
      const opens = dump.startsWith('/*', i);
      if (closes) comments--;
      else if (opens) comments++;
      i += closes || opens ? 2 : 1;
    } else if (dollar) {
      if (dump.startsWith(dollar, i)) {
        i += dollar.length;
        dollar = undefined;
      } else i++;
    } else if (quote) {
      if (c === quote && dump[i + 1] === quote) i += 2;
      else {
        if (c === quote) quote = undefined;
        i++;
      }
    } else if (lineStart && c === '\\' && !leadingCode(dump.slice(start, i))) {
      // A psql meta-command between statements: never passed on.
      note('psql command');
      out.push(dump.slice(start, i));
      i = start = lineEnd(i);
      continue;
    } else if (c === "'" || c === '"') {
      quote = c;
      i++;
    } else if (dump.startsWith('--', i)) {
      i = lineEnd(i);
      lineStart = true;
      continue;
    } else if (dump.startsWith('/*', i)) {
      comments++;
      i += 2;
    } else if (c === '$' && /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.test(dump.slice(i, i + 64))) {
      dollar = (/^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.exec(dump.slice(i, i + 64)) as RegExpExecArray)[0];
      i += dollar.length;
    } else if (c === ';') {
      i++;
      finish(i);
      continue;
    } else i++;
    lineStart = dump[i - 1] === '\n';
  }
  if (dump.slice(start).trim()) finish(dump.length);
  else out.push(dump.slice(start));
  return {
    sql: out.join(''),
    notes: [...counts].map(([key, n]) => {
      const [what, done] = key.split('|');
      return `${what} (${n}×): ${done}`;
    }),
  };
}

/** The statement's code with leading comments and blank lines removed (what rules look at). */
function leadingCode(text: string): string {
  let rest = text;
  for (;;) {
    const trimmed = rest.replace(/^\s+/, '');
    if (trimmed.startsWith('--')) rest = trimmed.slice(trimmed.indexOf('\n') + 1 || trimmed.length);
    else if (trimmed.startsWith('/*')) rest = trimmed.slice(trimmed.indexOf('*/') + 2);
    else return trimmed;
  }
}
