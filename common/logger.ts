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

/**
 * The one logger setup of every long-running command: pino JSON lines on stderr (what a cluster's log
 * pipeline parses), and pino-pretty's readable lines when stderr is a terminal (as under `npm start`).
 * pino-pretty runs as a synchronous stream in this process, not a worker transport: a worker costs
 * ~40 ms of start-up and can lose the last lines on exit.
 */
export function createLogger(name: string, opts: LoggerOptions & { pretty?: boolean } = {}): PinoLogger {
  const { pretty: wantPretty = process.stderr.isTTY === true, ...rest } = opts;
  const destination = wantPretty
    ? pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : pino.destination({ fd: 2, sync: false });
  return pino({ name, ...rest }, destination);
}
