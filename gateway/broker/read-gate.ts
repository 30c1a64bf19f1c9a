// aedes' read gate, narrowed to what the gateway needs (issue 15, round 37: the PUBACK p99).
//
// aedes reads a 3.1.1 client's socket again only once every packet of its last read is handled:
// it counts them up in `_parsingBatch` as the parser emits them and down as each one's handler
// calls back (for a QoS 1 publish, after its PUBACK is written, i.e. after the commit's fsync) or
// a 'readable' event comes, and reads only at 0. A read of two publishes therefore leaves the next
// one in the socket until the commit of the first two ends, or another packet arrives: the
// publish misses the commit window open meanwhile and waits for the next one (measured with
// test/bench/stages.ts: the tail's "publish call -> parsed" stage). The gateway bounds a client by
// its own count (broker.maxInflight publishes in commits, then `st.waiting`; inflight.ts), as the
// MQTT 5 layer does with a paused socket (v5/inbound.ts). So a publish handed to a commit slot
// stops counting for aedes' gate (readOn) and counts again just before its callback (holdRead),
// which aedes' handler counts back down after the PUBACK: the count stays exact, and a publish
// waiting in `st.waiting` (the client at maxInflight, or over its rate) still holds the socket.
//
// Reaches into aedes' private `_parsingBatch` (aedes 1.2, lib/client.js); a client without it (the
// MQTT 5 layer's, another aedes) is left alone, which is aedes' own behaviour
// (test/integration/broker-read-gate.test.ts fails if aedes drops or renames the field).

interface GatedClient {
  _parsingBatch?: unknown;
}

/** A publish of this client entered a commit slot: it no longer holds the socket's next read. */
export function readOn(client: object): void {
  const c = client as GatedClient;
  if (typeof c._parsingBatch === 'number' && c._parsingBatch > 0) c._parsingBatch--;
}

/** Its commit ended: count it again, for aedes' handler to count down once the PUBACK is written. */
export function holdRead(client: object): void {
  const c = client as GatedClient;
  if (typeof c._parsingBatch === 'number') c._parsingBatch++;
}
