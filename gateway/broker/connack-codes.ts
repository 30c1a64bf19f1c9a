// The CONNACK an authentication refusal sends in each protocol: the MQTT 3.1.1 return code aedes
// sends (authenticate.ts) and the MQTT 5 reason code v5/connect.ts sends for it. Apart from
// v5/codes.ts, which imports the v5 types (and they the hooks): authenticate.ts names the code a
// client was sent in its log lines, without an import cycle.

/** MQTT 5 reason code by 3.1.1 return code: 2 Client Identifier not valid, 3 Server unavailable, 4 Bad User Name or Password, 5 Not authorized. */
export const V5_CONNACK_FROM_RETURN_CODE: Readonly<Record<number, number>> = { 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

/** The CONNACK code (3.1.1 return code, or MQTT 5 reason code) as a log line names it: 'CONNACK 0x88'. */
export function connackName(protocolVersion: number, returnCode: 2 | 3 | 4 | 5): string {
  const code = protocolVersion === 5 ? (V5_CONNACK_FROM_RETURN_CODE[returnCode] ?? returnCode) : returnCode;
  return `CONNACK 0x${code.toString(16).padStart(2, '0')}`;
}
