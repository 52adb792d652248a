import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isPort } from '../../common/names.js';
import { isObject as isObj } from '../../common/objects.js';
import {
  PORT_PROTOCOLS,
  serviceKey,
  SnapshotEmitter,
  type Endpoint,
  type PortProtocol,
  type RegistrySnapshot,
  type Service,
  type ServiceRegistry,
  type Unsubscribe,
} from './types.js';

/**
 * The file registry: `services: [{name, namespace, ports: [{name, port, protocol}],
 * endpoints: [{address, port?, labels?, serviceAccount?}], addresses?}]`. An endpoint's `port`, when
 * given, is where the workload listens for every service port; otherwise it
 * listens on the service port itself. `serviceAccount` is the workload's Kubernetes service
 * account, its mesh identity `spiffe://<trustDomain>/ns/<service namespace>/sa/<serviceAccount>`:
 * clients using mTLS check the server against it (absent: no identity check).
 */

type Obj = Record<string, unknown>;

class Problems {
  constructor(private readonly source: string) {}
  fail(where: string, what: string): never {
    throw new UserError(`${this.source}: ${where}: ${what}`);
  }
  keys(where: string, o: Obj, allowed: string[]): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.fail(`${where}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
  port(where: string, v: unknown): number {
    if (typeof v !== 'number' || !isPort(v)) this.fail(where, `must be a port number 1-65535 (got ${JSON.stringify(v)})`);
    return v;
  }
}

/** Parses and validates the registry file text (pure). Throws UserError naming the file and the field. */
export function parseRegistryFile(text: string, source: string): RegistrySnapshot {
  const p: Problems = new Problems(source);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    p.fail('YAML', (err as Error).message.split('\n')[0] ?? 'parse error');
  }
  if (doc === null || doc === undefined) return { services: [] };
  if (!isObj(doc)) p.fail('top level', 'must be a mapping with a "services" list');
  p.keys('top level', doc, ['services']);
  const list = doc['services'] ?? [];
  if (!Array.isArray(list)) p.fail('services', 'must be a list');
  const seen = new Set<string>();
  const services: Service[] = list.map((raw, i): Service => {
    const at = `services[${i}]`;
    if (!isObj(raw)) p.fail(at, 'must be a mapping');
    p.keys(at, raw, ['name', 'namespace', 'ports', 'endpoints', 'addresses']);
    const name = raw['name'];
    if (typeof name !== 'string' || !isDns1035Label(name)) p.fail(`${at}.name`, `must be a DNS-1035 label (got ${JSON.stringify(name)})`);
    const namespace = raw['namespace'] ?? 'default';
    if (typeof namespace !== 'string' || !isDns1123Label(namespace)) p.fail(`${at}.namespace`, `must be a DNS-1123 label (got ${JSON.stringify(namespace)})`);
    const key = serviceKey({ namespace, name });
    if (seen.has(key)) p.fail(`${at}`, `duplicate service ${key}`);
    seen.add(key);

    const addresses = raw['addresses'] ?? [];
    if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== 'string' || isIP(a) === 0)) p.fail(`${at}.addresses`, 'must be a list of IP addresses');

    const rawEndpoints = raw['endpoints'] ?? [];
    if (!Array.isArray(rawEndpoints)) p.fail(`${at}.endpoints`, 'must be a list');
    const endpoints = rawEndpoints.map((e, j) => {
      const eat = `${at}.endpoints[${j}]`;
      if (!isObj(e)) p.fail(eat, 'must be a mapping');
      p.keys(eat, e, ['address', 'port', 'labels', 'serviceAccount']);
      const address = e['address'];
      if (typeof address !== 'string' || isIP(address) === 0) p.fail(`${eat}.address`, `must be an IP address (got ${JSON.stringify(address)})`);
      const port = e['port'] === undefined ? undefined : p.port(`${eat}.port`, e['port']);
      const labels = e['labels'] ?? {};
      if (!isObj(labels) || Object.values(labels).some((v) => typeof v !== 'string')) p.fail(`${eat}.labels`, 'must map strings to strings');
      const serviceAccount = e['serviceAccount'];
      // a Kubernetes ServiceAccount name is a DNS-1123 subdomain
      if (serviceAccount !== undefined && (typeof serviceAccount !== 'string' || !isDns1123Subdomain(serviceAccount))) {
        p.fail(`${eat}.serviceAccount`, `must be a service account name (DNS-1123 subdomain, got ${JSON.stringify(serviceAccount)})`);
      }
      return { address, port, labels: labels as Record<string, string>, serviceAccount: serviceAccount as string | undefined };
    });

    const rawPorts = raw['ports'];
    if (!Array.isArray(rawPorts) || rawPorts.length === 0) p.fail(`${at}.ports`, 'must be a non-empty list');
    const portNumbers = new Set<number>();
    const ports = rawPorts.map((sp, k) => {
      const pat = `${at}.ports[${k}]`;
      if (!isObj(sp)) p.fail(pat, 'must be a mapping');
      p.keys(pat, sp, ['name', 'port', 'protocol']);
      const port = p.port(`${pat}.port`, sp['port']);
      if (portNumbers.has(port)) p.fail(`${pat}.port`, `duplicate port ${port}`);
      portNumbers.add(port);
      const pname = sp['name'] ?? `port-${port}`;
      if (typeof pname !== 'string' || pname === '') p.fail(`${pat}.name`, 'must be a non-empty string');
      const protocol = sp['protocol'] ?? 'TCP';
      if (typeof protocol !== 'string' || !PORT_PROTOCOLS.includes(protocol as PortProtocol)) {
        p.fail(`${pat}.protocol`, `must be one of ${PORT_PROTOCOLS.join(', ')} (got ${JSON.stringify(protocol)})`);
      }
      const eps: Endpoint[] = endpoints.map((e) => {
        const ep: Endpoint = { address: e.address, port: e.port ?? port, labels: e.labels };
        if (e.serviceAccount !== undefined) ep.serviceAccount = e.serviceAccount;
        return ep;
      });
      return { name: pname, port, protocol: protocol as PortProtocol, endpoints: eps };
    });
    return { name, namespace, addresses: addresses as string[], ports };
  });
  return { services };
}

export interface FileRegistryOptions {
  log?: Logger;
  /** quiet time after a file event before re-reading, ms (editors write in several steps) */
  settleMs?: number;
  /** write an empty registry (`services: []`) when the file does not exist, e.g. in a local state dir */
  createIfMissing?: boolean;
}

class FileRegistry implements ServiceRegistry {
  private current: RegistrySnapshot;
  private lastText: string;
  private readonly emitter = new SnapshotEmitter();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    text: string,
    private readonly log: Logger,
    private readonly settleMs: number,
  ) {
    this.lastText = text;
    this.current = parseRegistryFile(text, file);
  }

  start(): void {
    // Watch the directory, not the file: editors and `kubectl cp`-style updates
    // replace the file by rename, which a file watch would lose.
    const base = path.basename(this.file);
    this.watcher = watch(path.dirname(this.file), (_event, name) => {
      if (name !== null && name !== base) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.reading = this.reading.then(() => this.reload());
      }, this.settleMs);
    });
  }

  private async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      this.log.warn({ file: this.file, err: (err as Error).message }, 'registry file unreadable; keeping the last good services');
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    let next: RegistrySnapshot;
    try {
      next = parseRegistryFile(text, this.file);
    } catch (err) {
      this.log.error({ file: this.file, err: (err as Error).message }, 'invalid registry file; keeping the last good services');
      return;
    }
    this.current = next;
    this.log.info({ file: this.file, services: next.services.length }, 'registry file reloaded');
    this.emitter.emit(next);
  }

  snapshot(): RegistrySnapshot {
    return this.current;
  }

  onChange(listener: (s: RegistrySnapshot) => void): Unsubscribe {
    return this.emitter.on(listener);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    await this.reading;
  }
}

/** Reads, validates and watches a registry file. A missing or invalid file at start is a UserError. */
export async function createFileRegistry(file: string, opts: FileRegistryOptions = {}): Promise<ServiceRegistry> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || !opts.createIfMissing) throw new UserError(`registry file ${abs}: ${code ?? (err as Error).message}`);
    text = 'services: []\n';
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, text, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw new UserError(`registry file ${abs}: ${e.code ?? e.message}`);
    });
  }
  const reg = new FileRegistry(abs, text, opts.log ?? silentLogger, opts.settleMs ?? 30);
  reg.start();
  return reg;
}
