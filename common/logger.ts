import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

/** The logger shape every component takes (pino's, reduced to what tandem calls), so tests can pass a silent one. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Bytes of JSON lines gathered before one write(2), when batching; a timer writes a partial batch. */
export const LOG_BATCH_BYTES = 4096;
export const LOG_FLUSH_MS = 1000;

export interface CreateLoggerOptions extends LoggerOptions {
  /** readable lines instead of JSON; default: when stderr is a terminal */
  pretty?: boolean;
  /**
   * Gather JSON lines into writes of LOG_BATCH_BYTES, flushed at least every LOG_FLUSH_MS and at
   * exit. For servers that log a line per request: measured on the webhook, a write(2) per
   * admission line cost more than the rest of a cached admission.
   */
  batch?: boolean;
}

/**
 * The one logger setup of every long-running command: pino JSON lines on stderr (what a cluster's log
 * pipeline parses), and pino-pretty's readable lines when stderr is a terminal (as under `npm start`).
 * pino-pretty runs as a synchronous stream in this process, not a worker transport: a worker costs
 * ~40 ms of start-up and can lose the last lines on exit.
 */
export function createLogger(name: string, opts: CreateLoggerOptions = {}): PinoLogger {
  const { pretty: wantPretty = process.stderr.isTTY === true, batch = false, ...rest } = opts;
  if (wantPretty) {
    return pino({ name, ...rest }, pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  // pino flushes its own destination synchronously at exit, so a batch is never lost on a normal exit.
  const destination = pino.destination({ fd: 2, sync: false, ...(batch ? { minLength: LOG_BATCH_BYTES } : {}) });
  if (batch) {
    setInterval(() => {
      try {
        destination.flush();
      } catch {
        // not ready or already writing: the next tick will do
      }
    }, LOG_FLUSH_MS).unref();
  }
  return pino({ name, ...rest }, destination);
}
