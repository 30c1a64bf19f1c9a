// The part of net-snmp (a CommonJS module without type declarations) the snmp source uses, typed
// here; loaded by index.ts only when an snmp source is configured.

export interface Varbind {
  oid: string;
  type: number;
  value: unknown;
}

export interface SnmpUserConfig {
  name: string;
  level: number;
  authProtocol?: string;
  authKey?: string;
  privProtocol?: string;
  privKey?: string;
}

export interface SnmpSession {
  get(oids: string[], cb: (err: Error | null, varbinds: Varbind[]) => void): void;
  /** Walk under `oid`; `feed` returning true stops the walk. */
  subtree(oid: string, maxRepetitions: number, feed: (varbinds: Varbind[]) => boolean | undefined, done: (err: Error | null) => void): void;
  close(): void;
  on(event: 'error', fn: (err: Error) => void): void;
}

export interface TrapPdu {
  type: number;
  varbinds: Varbind[];
  /** v1 Trap-PDU */
  enterprise?: string;
  agentAddr?: string;
  generic?: number;
  specific?: number;
  upTime?: number;
  community?: string;
  user?: string;
}

export interface Receiver {
  getAuthorizer(): { addCommunity(c: string): void; addUser(u: SnmpUserConfig): void };
  close(cb?: () => void): void;
}

/** The dgram module a Receiver is given (its `dgramModule` option): the source owns the socket. */
export interface DgramShim {
  createSocket(transport: string): unknown;
}

export interface NetSnmp {
  createSession(
    host: string,
    community: string,
    options: { port: number; version: number; timeout: number; retries: number; transport?: string; idBitsSize?: number },
  ): SnmpSession;
  createV3Session(
    host: string,
    user: SnmpUserConfig,
    options: { port: number; version: number; timeout: number; retries: number; transport?: string; idBitsSize?: number },
  ): SnmpSession;
  createReceiver(
    options: { port: number; address: string; transport: string; dgramModule: DgramShim; includeAuthentication: boolean; disableAuthorization: boolean },
    cb: (err: (Error & { rinfo?: unknown }) | null, data?: { pdu: TrapPdu; rinfo: { address: string; port: number } }) => void,
  ): Receiver;
  Version1: number;
  Version2c: number;
  Version3: number;
  SecurityLevel: Record<string, number>;
  AuthProtocols: Record<string, string>;
  PrivProtocols: Record<string, string>;
  ObjectType: Record<string, number>;
  PduType: Record<string, number>;
  RequestTimedOutError: new (...a: unknown[]) => Error;
  ResponseInvalidError: new (...a: unknown[]) => Error;
  RequestFailedError: new (...a: unknown[]) => Error;
}
