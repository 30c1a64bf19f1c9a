// Sparkplug B edge nodes for the sparkplug source's tests: payloads ENCODED by protoc (Debian's
// protobuf-compiler) from Protobuf's text format, so the bytes do not come from the library that
// decodes them, from a .proto written for the tests from the Sparkplug specification's field
// numbers (Eclipse Tahu's sparkplug_b.proto, EPL-2.0, is the full file; wire-compatible with it
// for these fields: same package, names and numbers); and an edge node as a real mqtt.js client.
import type { TestContext } from 'node:test';
import mqtt from 'mqtt';
import { protoWorkspace, type ProtoWorkspace } from './protoc.js';

export { skipProtoc } from './protoc.js';

export const SPARKPLUG_PROTO = `syntax = "proto2";
package org.eclipse.tahu.protobuf;
message Payload {
  message Template {
    message Parameter {
      optional string name = 1;
      optional uint32 type = 2;
      oneof value { uint32 int_value = 3; uint64 long_value = 4; float float_value = 5; double double_value = 6; bool boolean_value = 7; string string_value = 8; }
    }
    optional string version = 1;
    repeated Metric metrics = 2;
    repeated Parameter parameters = 3;
    optional string template_ref = 4;
    optional bool is_definition = 5;
  }
  message DataSet {
    message DataSetValue {
      oneof value { uint32 int_value = 1; uint64 long_value = 2; float float_value = 3; double double_value = 4; bool boolean_value = 5; string string_value = 6; }
    }
    message Row { repeated DataSetValue elements = 1; }
    optional uint64 num_of_columns = 1;
    repeated string columns = 2;
    repeated uint32 types = 3;
    repeated Row rows = 4;
  }
  message PropertyValue {
    optional uint32 type = 1;
    optional bool is_null = 2;
    oneof value { uint32 int_value = 3; uint64 long_value = 4; float float_value = 5; double double_value = 6; bool boolean_value = 7; string string_value = 8; PropertySet propertyset_value = 9; PropertySetList propertysets_value = 10; }
  }
  message PropertySet { repeated string keys = 1; repeated PropertyValue values = 2; }
  message PropertySetList { repeated PropertySet propertyset = 1; }
  message Metric {
    optional string name = 1;
    optional uint64 alias = 2;
    optional uint64 timestamp = 3;
    optional uint32 datatype = 4;
    optional bool is_historical = 5;
    optional bool is_transient = 6;
    optional bool is_null = 7;
    optional PropertySet properties = 9;
    oneof value { uint32 int_value = 10; uint64 long_value = 11; float float_value = 12; double double_value = 13; bool boolean_value = 14; string string_value = 15; bytes bytes_value = 16; DataSet dataset_value = 17; Template template_value = 18; }
  }
  optional uint64 timestamp = 1;
  repeated Metric metrics = 2;
  optional uint64 seq = 3;
  optional string uuid = 4;
  optional bytes body = 5;
}
`;

export const PAYLOAD = 'org.eclipse.tahu.protobuf.Payload';

/** protoc --encode of a Payload in text format. */
export type Encode = (text: string) => Buffer;

export async function sparkplugEncoder(t: TestContext): Promise<Encode> {
  const ws: ProtoWorkspace = await protoWorkspace(t, { 'sparkplug_b.proto': SPARKPLUG_PROTO });
  return (text) => ws.encode('sparkplug_b.proto', PAYLOAD, text);
}

/** protoc --decode of a Payload: its text format (the edge node's reading of a command, not the gateway's decoder). */
export async function sparkplugDecoder(t: TestContext): Promise<(bytes: Buffer) => string> {
  const ws: ProtoWorkspace = await protoWorkspace(t, { 'sparkplug_b.proto': SPARKPLUG_PROTO });
  return (bytes) => ws.decode('sparkplug_b.proto', PAYLOAD, bytes);
}

/** An edge node: a real mqtt.js client with its NDEATH as will (bdSeq), publishing births and data with its seq. */
export interface EdgeNode {
  client: mqtt.MqttClient;
  group: string;
  node: string;
  /** The next seq (0-255). */
  seq: number;
  bdSeq: number;
  /** Publish type (NBIRTH, NDATA, DBIRTH/DDATA with a device) with `metrics` (text format), seq filled in. */
  send(type: string, metrics: string, device?: string, opts?: { seq?: number; qos?: 0 | 1 }): Promise<void>;
  /** The NCMD messages it received (their raw payloads). */
  commands: Buffer[];
  /** The DCMD messages it received for its devices, with their MQTT QoS and retain flag. */
  deviceCommands: Array<{ device: string; payload: Buffer; qos: number; retain: boolean }>;
}

export async function edgeNode(
  t: TestContext,
  url: string,
  encode: Encode,
  group: string,
  node: string,
  bdSeq = 0,
  options: mqtt.IClientOptions = {},
): Promise<EdgeNode> {
  const death = encode(`timestamp: 1700000000000 metrics { name: "bdSeq" datatype: 8 long_value: ${bdSeq} }`);
  const client = await mqtt.connectAsync(url, {
    clientId: `edge-${group}-${node}-${bdSeq}`,
    reconnectPeriod: 0,
    will: { topic: `spBv1.0/${group}/NDEATH/${node}`, payload: death, qos: 1, retain: false },
    ...options,
  });
  t.after(() => client.end(true));
  const e: EdgeNode = {
    client,
    group,
    node,
    seq: 0,
    bdSeq,
    commands: [],
    deviceCommands: [],
    async send(type, metrics, device, opts = {}) {
      const seq = opts.seq ?? e.seq;
      e.seq = (seq + 1) % 256;
      const topic = `spBv1.0/${group}/${type}/${node}${device ? `/${device}` : ''}`;
      const extra = type === 'NBIRTH' ? ` metrics { name: "bdSeq" datatype: 8 long_value: ${bdSeq} }` : '';
      await client.publishAsync(topic, encode(`timestamp: 1700000000000 seq: ${seq}${extra} ${metrics}`), { qos: opts.qos ?? 0 });
    },
  };
  // Sparkplug: an edge node subscribes to its commands at QoS 1 (they come at the publisher's QoS 0).
  await client.subscribeAsync([`spBv1.0/${group}/NCMD/${node}`, `spBv1.0/${group}/DCMD/${node}/+`], { qos: 1 });
  const dcmd = `spBv1.0/${group}/DCMD/${node}/`;
  client.on('message', (topic, payload, packet) => {
    if (topic === `spBv1.0/${group}/NCMD/${node}`) e.commands.push(payload);
    else if (topic.startsWith(dcmd)) e.deviceCommands.push({ device: topic.slice(dcmd.length), payload, qos: packet.qos, retain: packet.retain });
  });
  return e;
}
