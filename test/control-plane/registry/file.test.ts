import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { UserError } from '../../../common/errors.js';
import { createFileRegistry, parseRegistryFile } from '../../../control-plane/registry/file.js';
import { createRegistry } from '../../../control-plane/registry/index.js';
import type { Logger } from '../../../common/logger.js';
import type { RegistrySnapshot } from '../../../control-plane/registry/types.js';

const SAMPLE = `
services:
  - name: reviews
    namespace: shop
    ports:
      - { name: http, port: 9080, protocol: HTTP }
      - { name: grpc, port: 9090, protocol: GRPC }
    endpoints:
      - address: 10.0.0.1
        labels: { version: v1 }
      - address: 10.0.0.2
        port: 19080
  - name: db
    ports: [{ name: pg, port: 5432, protocol: TCP }]
    endpoints: [{ address: "fd00::7" }]
`;

t.test('parses the documented format (hand-checked)', async (t) => {
  t.same(parseRegistryFile(SAMPLE, 'services.yaml'), {
    services: [
      {
        name: 'reviews',
        namespace: 'shop',
        addresses: [],
        ports: [
          {
            name: 'http',
            port: 9080,
            protocol: 'HTTP',
            endpoints: [
              { address: '10.0.0.1', port: 9080, labels: { version: 'v1' } },
              { address: '10.0.0.2', port: 19080, labels: {} },
            ],
          },
          {
            name: 'grpc',
            port: 9090,
            protocol: 'GRPC',
            endpoints: [
              { address: '10.0.0.1', port: 9090, labels: { version: 'v1' } },
              { address: '10.0.0.2', port: 19080, labels: {} },
            ],
          },
        ],
      },
      { name: 'db', namespace: 'default', addresses: [], ports: [{ name: 'pg', port: 5432, protocol: 'TCP', endpoints: [{ address: 'fd00::7', port: 5432, labels: {} }] }] },
    ],
  });
  t.same(parseRegistryFile('', 'empty.yaml'), { services: [] }, 'an empty file is an empty registry');
});

t.test('invalid files: one clear error naming the file and the field', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['services: {}', /^f\.yaml: services: must be a list$/],
    ['services:\n  - name: Bad_Name\n    ports: [{port: 1}]', /^f\.yaml: services\[0\]\.name: must be a DNS-1035 label \(got "Bad_Name"\)$/],
    ['services:\n  - name: a\n    ports: []', /services\[0\]\.ports: must be a non-empty list/],
    ['services:\n  - name: a\n    ports: [{port: 70000}]', /services\[0\]\.ports\[0\]\.port: must be a port number 1-65535 \(got 70000\)/],
    ['services:\n  - name: a\n    ports: [{port: 80, protocol: UDP}]', /services\[0\]\.ports\[0\]\.protocol: must be one of HTTP, HTTP2, GRPC, TCP \(got "UDP"\)/],
    ['services:\n  - name: a\n    ports: [{port: 80}, {port: 80}]', /services\[0\]\.ports\[1\]\.port: duplicate port 80/],
    ['services:\n  - name: a\n    ports: [{port: 80}]\n    endpoints: [{address: not-an-ip}]', /services\[0\]\.endpoints\[0\]\.address: must be an IP address/],
    ['services:\n  - name: a\n    ports: [{port: 80}]\n    endpoints: [{address: 10.0.0.1, weight: 3}]', /services\[0\]\.endpoints\[0\]\.weight: unknown field/],
    ['services:\n  - name: a\n    ports: [{port: 80}]\n  - name: a\n    ports: [{port: 81}]', /services\[1\]: duplicate service default\/a/],
    ['services: [', /^f\.yaml: YAML: /],
    ['hosts: []', /top level\.hosts: unknown field/],
  ];
  for (const [text, re] of cases) {
    t.throws(() => parseRegistryFile(text, 'f.yaml'), UserError, text);
    try {
      parseRegistryFile(text, 'f.yaml');
    } catch (err) {
      t.match((err as Error).message, re);
      t.notMatch((err as Error).message, /\n/, 'one line');
    }
  }
});

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (obj: object, msg?: string) => lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

function nextChange(reg: { onChange(l: (s: RegistrySnapshot) => void): () => void }, timeoutMs = 5000): Promise<RegistrySnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no change event')), timeoutMs);
    const off = reg.onChange((s) => {
      clearTimeout(timer);
      off();
      resolve(s);
    });
  });
}

t.test('reloads on change, keeps the last good services on a bad edit', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-reg-'));
  const file = path.join(dir, 'services.yaml');
  await writeFile(file, SAMPLE);
  const log = capture();
  const reg = await createRegistry(`file:${file}`, { log });
  t.teardown(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });
  t.equal(reg.snapshot().services.length, 2);

  let changed = nextChange(reg);
  await writeFile(file, 'services:\n  - name: only\n    ports: [{port: 80, protocol: HTTP}]\n');
  t.same((await changed).services.map((s) => s.name), ['only'], 'in-place write picked up');
  t.same(reg.snapshot().services.map((s) => s.name), ['only']);

  changed = nextChange(reg);
  await writeFile(`${file}.tmp`, 'services:\n  - name: renamed\n    ports: [{port: 81}]\n');
  await rename(`${file}.tmp`, file);
  t.same((await changed).services.map((s) => s.name), ['renamed'], 'atomic replace (rename) picked up');

  await writeFile(file, 'services:\n  - name: BAD\n    ports: [{port: 81}]\n');
  const settled = await new Promise<boolean>((resolve) => {
    const deadline = setTimeout(() => resolve(false), 3000);
    const poll = setInterval(() => {
      if (log.lines.some((l) => l.startsWith('error invalid registry file'))) {
        clearTimeout(deadline);
        clearInterval(poll);
        resolve(true);
      }
    }, 10);
  });
  t.ok(settled, 'the bad edit is logged');
  t.same(reg.snapshot().services.map((s) => s.name), ['renamed'], 'last good services kept');
  t.match(log.lines.find((l) => l.startsWith('error')) ?? '', /services\[0\]\.name: must be a DNS-1035 label/);
});

t.test('factory errors', async (t) => {
  await t.rejects(createRegistry('file:'), { name: 'UserError', message: /needs a path/ });
  await t.rejects(createRegistry('consul'), { name: 'UserError', message: /must be "kubernetes" or "file:PATH"/ });
  await t.rejects(createFileRegistry('/nonexistent/services.yaml'), { name: 'UserError', message: /registry file \/nonexistent\/services.yaml: ENOENT/ });
});

t.test('createIfMissing starts an empty registry file (local state dir)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-reg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state', 'services.yaml');
  const reg = await createFileRegistry(file, { createIfMissing: true, settleMs: 10 });
  t.teardown(() => reg.close());
  t.same(reg.snapshot(), { services: [] });
  const changed = nextChange(reg);
  await writeFile(file, 'services:\n  - name: later\n    ports: [{port: 80}]\n');
  t.same((await changed).services.map((s) => s.name), ['later'], 'and watches it');
});

t.test('serviceAccount: an endpoint\'s identity, carried to every port; a bad one names the field', async (t) => {
  const text = `
services:
  - name: echo
    namespace: demo
    ports: [{ name: grpc, port: 7070, protocol: GRPC }, { name: http, port: 8080, protocol: HTTP }]
    endpoints:
      - { address: 10.0.0.1, serviceAccount: echo-sa, labels: { security.istio.io/tlsMode: istio } }
      - { address: 10.0.0.2 }
`;
  const eps = parseRegistryFile(text, 'services.yaml').services[0]!.ports.map((p) => p.endpoints);
  for (const list of eps) {
    t.same(list, [
      { address: '10.0.0.1', port: list[0]!.port, labels: { 'security.istio.io/tlsMode': 'istio' }, serviceAccount: 'echo-sa' },
      { address: '10.0.0.2', port: list[0]!.port, labels: {} },
    ]);
    t.notOk('serviceAccount' in list[1]!, 'absent stays absent (no undefined key)');
  }
  for (const bad of ['Echo_SA', 42, '']) {
    const doc = `services: [{name: echo, ports: [{port: 7070}], endpoints: [{address: 10.0.0.1, serviceAccount: ${JSON.stringify(bad)}}]}]`;
    t.throws(() => parseRegistryFile(doc, 'services.yaml'), { message: /^services\.yaml: services\[0\]\.endpoints\[0\]\.serviceAccount: must be a service account name/ }, `refused: ${JSON.stringify(bad)}`);
  }
});
