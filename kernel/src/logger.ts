import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out in every log line. Secrets must never reach a log, even when someone logs a
 * whole request, body or error by mistake.
 */
export const REDACTED_PATHS = [
  'password',
  'token',
  'secret',
  'value',
  'authorization',
  'cookie',
  '*.password',
  '*.token',
  '*.secret',
  '*.value',
  '*.authorization',
  '*.cookie',
  '*.newPassword',
  '*.currentPassword',
  '*.credentials',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
];

/** Creates the process logger; `destination` lets tests capture lines. */
export function createLogger(
  options: { level?: string; name?: string } = {},
  destination?: NodeJS.WritableStream,
): Logger {
  const config: LoggerOptions = {
    name: options.name ?? 'nullops',
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
  };
  return destination ? pino(config, destination as pino.DestinationStream) : pino(config);
}
