// The http source's flow for the power-cut tests (test/e2e/power-cut-http.test.ts): clients POSTing
// to a gateway's http source as devices do (a keep-alive connection each; one reading per request,
// or an NDJSON batch), each recording the messages of every request answered 200: what the
// gateway acknowledged, which must be on the disk a cut leaves. Payloads are power-cut-flow.ts's
// ({r: tag, c, i}), so its readers (heldOnDisk, throughGateway) find them by publishKey.
import { Agent, request } from 'node:http';

export interface PostFlow {
  /** `tag/c:i` of every message of a request answered 200. */
  acked: Set<string>;
  /** Requests sent and not answered yet (across clients). */
  readonly inFlight: number;
  /** NDJSON batches answered 200. */
  readonly batches: number;
  stop(): Promise<void>;
}

function postOnce(agent: Agent, port: number, path: string, body: string, ndjson: boolean): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    // 0: no answer (a connection reset, the agent destroyed at stop).
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/**
 * `clients` clients POSTing to `port` as fast as answers come back: even ones a reading per
 * request, odd ones NDJSON batches of 2 to 20 readings. A request answered anything but 200 is
 * sent again, whole (a real client's retry); stop() ends them.
 */
export function postFlow(port: number, tag: string, clients = 8): PostFlow {
  const acked = new Set<string>();
  let stopped = false;
  let inFlight = 0;
  let batches = 0;
  const agents = Array.from({ length: clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const loops = agents.map(async (agent, c) => {
    const ndjson = c % 2 === 1;
    let i = 0;
    for (let n = 0; !stopped; n++) {
      const size = ndjson ? 2 + (n % 19) : 1;
      const keys: string[] = [];
      const lines: string[] = [];
      for (let k = 0; k < size; k++, i++) {
        keys.push(`${tag}/${c}:${i}`);
        lines.push(JSON.stringify({ r: tag, c, i, temp: 20 + (i % 7) }));
      }
      const body = ndjson ? `${lines.join('\n')}\n` : lines[0]!;
      while (!stopped) {
        inFlight++;
        const status = await postOnce(agent, port, `/topics/plant/http${c}/reading`, body, ndjson);
        inFlight--;
        if (status === 200) {
          for (const key of keys) acked.add(key);
          if (ndjson) batches++;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  return {
    acked,
    get inFlight() {
      return inFlight;
    },
    get batches() {
      return batches;
    },
    async stop() {
      stopped = true;
      // Requests a stopped (or killed) gateway holds end here: their sockets are destroyed.
      for (const a of agents) a.destroy();
      await Promise.all(loops);
    },
  };
}
