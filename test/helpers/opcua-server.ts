// A real node-opcua server started inside the test (certificates and PKI in a temp dir), with a
// few variables under ns=1 and optional username login. stop() + start() on the same port plays a
// server restart (new sessions, old subscriptions gone): a restartable port (ports.ts), which no
// other test can be handed while the server is stopped.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { OPCUAServer } from 'node-opcua-server';
import { DataValue, Variant, VariantArrayType, DataType, StatusCodes, MessageSecurityMode, SecurityPolicy } from 'node-opcua-client';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { tempDir } from './index.js';
import { onRestartablePort } from './ports.js';

export interface OpcuaPeer {
  endpoint: string;
  port: number;
  /**
   * Current values, by variable name (Speed: Double, Count: Int32, Label: String, Setpoint: Double
   * writable, Mode: Int16 writable, Big: Int64 writable, UBig: UInt64; the 64-bit ones as node-opcua's
   * [high, low] 32-bit words).
   */
  values: Record<string, number | string | number[]>;
  /** Make a variable return a Bad status code. */
  bad: Set<string>;
  /** Make Level (a Double) return its value with an Uncertain status code (UncertainLastUsableValue). */
  uncertain: Set<string>;
  running: boolean;
  /** Secure channels the server holds open now (0 when stopped). */
  readonly channels: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface OpcuaPeerOptions {
  users?: Record<string, string>;
  secure?: boolean;
  /** Extra Double variables Var0..Var{n-1} (benchmarks). */
  extra?: number;
  /** Called at each login (with `users`); the server answers the session's activation when it resolves (a login held, a slow directory). */
  holdLogin?: (user: string) => Promise<void>;
  /** Listen on this port (a peer run by hand, restarted as a process); default a free one. */
  port?: number;
  /** Reject a client certificate the server has not seen (default: accept and trust it, as a test server can). */
  rejectUnknownClients?: boolean;
}

export async function opcuaPeer(t: TestContext | undefined, opts: OpcuaPeerOptions = {}, dir?: string): Promise<OpcuaPeer> {
  const root = dir ?? (t ? await tempDir(t, 'gatehouse-opcua-server-') : '/tmp');
  let port = opts.port ?? 0;
  let server: OPCUAServer | null = null;
  const peer: OpcuaPeer = {
    get endpoint() {
      return `opc.tcp://127.0.0.1:${port}/UA/Test`;
    },
    get port() {
      return port;
    },
    values: { Speed: 1.5, Count: 0, Label: 'line-1', Level: 3.25, Setpoint: 0, Mode: 0, Big: [0, 0], UBig: [0, 0] },
    bad: new Set(),
    uncertain: new Set(),
    get running() {
      return server !== null;
    },
    get channels() {
      return server?.currentChannelCount ?? 0;
    },
    async start() {
      const serverCertificateManager = new OPCUACertificateManager({
        rootFolder: join(root, 'pki'),
        automaticallyAcceptUnknownCertificate: !opts.rejectUnknownClients,
      });
      const s = new OPCUAServer({
        port,
        resourcePath: '/UA/Test',
        hostname: '127.0.0.1',
        alternateHostname: ['127.0.0.1'],
        serverCertificateManager,
        allowAnonymous: !opts.users,
        securityModes: opts.secure ? [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt] : [MessageSecurityMode.None],
        securityPolicies: opts.secure ? [SecurityPolicy.None, SecurityPolicy.Basic256Sha256] : [SecurityPolicy.None],
        userManager: opts.users
          ? {
              isValidUserAsync: (u: string, p: string, done: (err: Error | null, ok?: boolean) => void) => {
                void (opts.holdLogin?.(u) ?? Promise.resolve()).then(() => done(null, opts.users?.[u] === p));
              },
            }
          : undefined,
        buildInfo: { productName: 'gatehouse-test' },
      });
      await s.initialize();
      const ns = s.engine.addressSpace!.getOwnNamespace();
      const folder = s.engine.addressSpace!.rootFolder.objects;
      const variable = (name: string, dataType: DataType, writable = false): void => {
        ns.addVariable({
          organizedBy: folder,
          minimumSamplingInterval: 50,
          browseName: name,
          nodeId: `s=${name}`,
          dataType: DataType[dataType],
          accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
          userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
          value: {
            get: () =>
              (peer.bad.has(name)
                ? StatusCodes.BadDeviceFailure
                : new Variant({ dataType, arrayType: VariantArrayType.Scalar, value: peer.values[name] })) as never,
            set: (v: Variant) => {
              peer.values[name] = v.value as number;
              return StatusCodes.Good;
            },
          },
        });
      };
      // Level: a value whose quality the test sets (get can only return a value or a Bad code).
      ns.addVariable({
        organizedBy: folder,
        minimumSamplingInterval: 50,
        browseName: 'Level',
        nodeId: 's=Level',
        dataType: 'Double',
        value: {
          timestamped_get: () =>
            new DataValue({
              value: new Variant({ dataType: DataType.Double, value: peer.values.Level }),
              statusCode: peer.uncertain.has('Level') ? StatusCodes.UncertainLastUsableValue : StatusCodes.Good,
              sourceTimestamp: new Date(),
            }),
        },
      });
      variable('Speed', DataType.Double);
      variable('Count', DataType.Int32);
      variable('Label', DataType.String);
      variable('Setpoint', DataType.Double, true);
      variable('Mode', DataType.Int16, true);
      variable('Big', DataType.Int64, true);
      variable('UBig', DataType.UInt64);
      for (let i = 0; i < (opts.extra ?? 0); i++) {
        const name = `Var${i}`;
        peer.values[name] = i;
        variable(name, DataType.Double);
      }
      try {
        await s.start();
      } catch (err) {
        await s.shutdown(0).catch(() => undefined); // (its port taken: nothing of it stays behind)
        throw err;
      }
      server = s;
    },
    async stop() {
      const s = server;
      server = null;
      if (s) await s.shutdown(0);
    },
  };
  if (opts.port !== undefined) await peer.start();
  else
    await onRestartablePort(t, async (p) => {
      port = p;
      await peer.start();
    });
  t?.after(() => peer.stop());
  return peer;
}
