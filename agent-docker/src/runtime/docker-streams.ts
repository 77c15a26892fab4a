import { PassThrough, type Readable } from 'node:stream';
import type { LogLine } from '@nullops/plugin-sdk';
import type Docker from 'dockerode';

/** The longest log line passed on; a longer one ends with CUT_MARK. */
export const MAX_LINE = 16 * 1024;
export const CUT_MARK = '…[cut]';

/**
 * Splits Docker's multiplexed stdout/stderr stream into lines, as an async iterable. Lines carry
 * Docker's timestamp when the stream was requested with `timestamps: true`.
 */
export async function* demuxLines(
  docker: Docker,
  stream: NodeJS.ReadableStream | Buffer,
  service: string,
  signal?: AbortSignal,
): AsyncIterable<LogLine> {
  // Without `follow`, the engine answers with the whole log at once (dockerode gives a Buffer).
  if (Buffer.isBuffer(stream)) {
    yield* framesOf(stream).map(({ kind, text }) =>
      parseLine(service, kind, text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}${CUT_MARK}` : text),
    );
    return;
  }
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const queue: LogLine[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const push = (kind: 'stdout' | 'stderr') => {
    let partial = '';
    // A line longer than MAX_LINE is cut there and the rest of it dropped until its newline: a
    // process printing megabytes without one costs the agent a bounded amount of memory and CPU.
    let cutting = false;
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        if (cutting) cutting = false;
        else queue.push(parseLine(service, kind, raw));
      }
      if (!cutting && partial.length > MAX_LINE) {
        queue.push(parseLine(service, kind, `${partial.slice(0, MAX_LINE)}${CUT_MARK}`));
        cutting = true;
      }
      if (cutting) partial = '';
      wake?.();
    };
  };
  stdout.on('data', push('stdout'));
  stderr.on('data', push('stderr'));
  const finish = () => {
    ended = true;
    wake?.();
  };
  stream.on('end', finish);
  stream.on('close', finish);
  stream.on('error', finish);
  const abort = () => {
    (stream as Readable).destroy?.();
    finish();
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    while (true) {
      while (queue.length) yield queue.shift() as LogLine;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    signal?.removeEventListener('abort', abort);
    (stream as Readable).destroy?.();
  }
}

function parseLine(service: string, stream: 'stdout' | 'stderr', raw: string): LogLine {
  const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (.*)$/s.exec(raw);
  return m
    ? { service, stream, time: m[1] as string, line: m[2] as string }
    : { service, stream, time: new Date().toISOString(), line: raw };
}

/** Collects a multiplexed stream into one string, capped so a chatty process cannot exhaust memory. */
export function collectOutput(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  limit = 1 << 20,
): Promise<string> {
  return new Promise((resolve) => {
    const sink = new PassThrough();
    let out = '';
    sink.on('data', (chunk: Buffer) => {
      if (out.length < limit) out += chunk.toString('utf8').slice(0, limit - out.length);
    });
    docker.modem.demuxStream(stream, sink, sink);
    const done = () => resolve(out);
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/** Docker's non-TTY log frames (8-byte header: stream, size) of a whole log, as lines. */
function framesOf(buffer: Buffer): { kind: 'stdout' | 'stderr'; text: string }[] {
  const partial = { stdout: '', stderr: '' };
  const lines: { kind: 'stdout' | 'stderr'; text: string }[] = [];
  for (let offset = 0; offset + 8 <= buffer.length; ) {
    const kind = buffer[offset] === 2 ? 'stderr' : 'stdout';
    const size = buffer.readUInt32BE(offset + 4);
    const parts = (partial[kind] + buffer.subarray(offset + 8, offset + 8 + size).toString('utf8')).split(
      '\n',
    );
    partial[kind] = parts.pop() ?? '';
    for (const text of parts) lines.push({ kind, text });
    offset += 8 + size;
  }
  for (const kind of ['stdout', 'stderr'] as const)
    if (partial[kind]) lines.push({ kind, text: partial[kind] });
  return lines;
}
