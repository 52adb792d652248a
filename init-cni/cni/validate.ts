import { randomBytes } from 'node:crypto';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { UserError } from '../../common/errors.js';

/**
 * CNI mode's check before the app starts (Istio's istio-validation): unprivileged, run as the
 * proxy's uid. It listens on the proxy's capture ports on 127.0.0.1 and dials 127.0.0.6:PROBE, where
 * nothing listens. Only the capture rules can deliver that connection to one of the listeners (the
 * proxy uid's loopback traffic to a non-127.0.0.1 address goes to the inbound capture port); a
 * random token sent by the client proves the connection is the probe's. Node has no
 * SO_ORIGINAL_DST, so the token stands in for Istio's original-destination check.
 */

export interface ValidateOptions {
  readonly probePort: number;
  readonly timeoutMs: number;
  readonly listenPorts?: readonly number[];
  readonly probeAddress?: string;
}

export interface ValidateResult {
  readonly redirected: true;
  readonly port: number;
  readonly ms: number;
}

function listen(port: number, onConn: (s: Socket, port: number) => void): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer((s) => onConn(s, port));
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

export async function validateRedirect(o: ValidateOptions): Promise<ValidateResult> {
  const ports = o.listenPorts ?? [15001, 15006];
  const target = o.probeAddress ?? '127.0.0.6';
  const token = randomBytes(16).toString('hex');
  const started = Date.now();
  let resolveHit: (port: number) => void = () => undefined;
  const hit = new Promise<number>((r) => (resolveHit = r));
  const sockets = new Set<Socket>();
  const onConn = (s: Socket, port: number): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      if (got.includes(token)) resolveHit(port);
    });
    s.on('error', () => undefined);
    s.on('end', () => s.destroy());
  };
  const servers = (await Promise.all(ports.map((p) => listen(p, onConn)))).filter((s): s is Server => s !== undefined);
  if (servers.length === 0) throw new UserError(`cni-validate: cannot listen on 127.0.0.1 port ${ports.join(' or ')} (in use?)`);
  let lastError = 'no attempt finished';
  let stop = false;
  const dialLoop = async (): Promise<void> => {
    while (!stop) {
      await new Promise<void>((done) => {
        const c = connect({ host: target, port: o.probePort, localAddress: '127.0.0.1' });
        c.setTimeout(1000, () => c.destroy(new Error('timed out')));
        c.on('connect', () => c.end(token));
        c.on('error', (err) => {
          lastError = err.message;
          done();
        });
        c.on('close', () => done());
      });
      if (!stop) await new Promise((r) => setTimeout(r, 200));
    }
  };
  void dialLoop();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), o.timeoutMs)));
  const port = await Promise.race([hit, timeout]);
  stop = true;
  if (timer) clearTimeout(timer);
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  if (port === undefined) {
    throw new UserError(
      `cni-validate: a connection to ${target}:${o.probePort} was not redirected to port ${ports.join(' or ')} within ${o.timeoutMs} ms (last: ${lastError}); ` +
        "the pod's traffic is not captured: is the tandem-cni plugin installed and chained on this node (tandem cni-agent), and does this container run as the proxy uid?",
    );
  }
  return { redirected: true, port, ms: Date.now() - started };
}
