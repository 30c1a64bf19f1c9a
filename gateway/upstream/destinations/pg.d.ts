// The part of node-postgres (`pg`, which ships no types) the postgres destination and its tests use.
// Loaded with `await import('pg')`, only when a postgres destination is configured.
declare module 'pg' {
  export interface ClientConfig {
    host?: string;
    port?: number;
    database?: string;
    user?: string;
    password?: string;
    ssl?: false | { rejectUnauthorized?: boolean; ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; checkServerIdentity?: () => undefined };
    application_name?: string;
    connectionTimeoutMillis?: number;
    statement_timeout?: number;
    query_timeout?: number;
    keepAlive?: boolean;
  }
  export interface QueryResult<R> {
    rows: R[];
    rowCount: number | null;
  }
  export class Client {
    constructor(config?: ClientConfig | string);
    connect(): Promise<void>;
    query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
    end(): Promise<void>;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'end', listener: () => void): this;
  }
  const pg: { Client: typeof Client };
  export default pg;
}
