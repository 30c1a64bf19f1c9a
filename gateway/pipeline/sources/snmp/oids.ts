// The OID names a `type: snmp` source takes besides numeric OIDs: the handful users poll most
// (SNMPv2-MIB system group, IF-MIB ifTable/ifXTable, UPS-MIB RFC 1628 basics, HOST-RESOURCES
// processor load and storage) and the standard traps. net-snmp ships SNMPv2-MIB and IF-MIB (and
// a parser for any MIB), but not UPS-MIB or HOST-RESOURCES-MIB, and parsing MIB files costs a start
// about a second on a Pi and loads at config time what must stay lazy: the names are written here
// (test/unit/snmp-oids.test.ts checks the SNMPv2-MIB and IF-MIB ones against net-snmp's own MIB files).
// A scalar name takes `.0` (sysUpTime.0) or any suffix (ifDescr.3); a column name stands for its column.

const SYSTEM = '1.3.6.1.2.1.1';
const IF_ENTRY = '1.3.6.1.2.1.2.2.1';
const IFX_ENTRY = '1.3.6.1.2.1.31.1.1.1';
const UPS = '1.3.6.1.2.1.33.1';
const HR = '1.3.6.1.2.1.25';

const column = (base: string, names: readonly string[]): Array<[string, string]> =>
  names.map((n, i) => (n ? [n, `${base}.${i + 1}`] : undefined)).filter((e): e is [string, string] => e !== undefined);

/** name -> numeric OID (no leading dot). */
export const OID_NAMES: ReadonlyMap<string, string> = new Map<string, string>([
  ...column(SYSTEM, ['sysDescr', 'sysObjectID', 'sysUpTime', 'sysContact', 'sysName', 'sysLocation', 'sysServices', 'sysORLastChange', 'sysORTable']),
  // the rest of the system group (a walk of it shows them: gatehouse snmp walk)
  ['sysOREntry', `${SYSTEM}.9.1`],
  ...column(`${SYSTEM}.9.1`, ['sysORIndex', 'sysORID', 'sysORDescr', 'sysORUpTime']),
  ['ifNumber', '1.3.6.1.2.1.2.1'],
  ['ifTable', '1.3.6.1.2.1.2.2'],
  ['ifEntry', IF_ENTRY],
  ...column(IF_ENTRY, [
    'ifIndex',
    'ifDescr',
    'ifType',
    'ifMtu',
    'ifSpeed',
    'ifPhysAddress',
    'ifAdminStatus',
    'ifOperStatus',
    'ifLastChange',
    'ifInOctets',
    'ifInUcastPkts',
    'ifInNUcastPkts',
    'ifInDiscards',
    'ifInErrors',
    'ifInUnknownProtos',
    'ifOutOctets',
    'ifOutUcastPkts',
    'ifOutNUcastPkts',
    'ifOutDiscards',
    'ifOutErrors',
    'ifOutQLen',
    'ifSpecific',
  ]),
  ['ifXTable', '1.3.6.1.2.1.31.1.1'],
  ['ifXEntry', IFX_ENTRY],
  ...column(IFX_ENTRY, [
    'ifName',
    'ifInMulticastPkts',
    'ifInBroadcastPkts',
    'ifOutMulticastPkts',
    'ifOutBroadcastPkts',
    'ifHCInOctets',
    'ifHCInUcastPkts',
    'ifHCInMulticastPkts',
    'ifHCInBroadcastPkts',
    'ifHCOutOctets',
    'ifHCOutUcastPkts',
    'ifHCOutMulticastPkts',
    'ifHCOutBroadcastPkts',
    'ifLinkUpDownTrapEnable',
    'ifHighSpeed',
    'ifPromiscuousMode',
    'ifConnectorPresent',
    'ifAlias',
    'ifCounterDiscontinuityTime',
  ]),
  // UPS-MIB (RFC 1628): identity, battery, input, output
  ...column(`${UPS}.1`, ['upsIdentManufacturer', 'upsIdentModel', 'upsIdentUPSSoftwareVersion', 'upsIdentAgentSoftwareVersion', 'upsIdentName']),
  ...column(`${UPS}.2`, [
    'upsBatteryStatus',
    'upsSecondsOnBattery',
    'upsEstimatedMinutesRemaining',
    'upsEstimatedChargeRemaining',
    'upsBatteryVoltage',
    'upsBatteryCurrent',
    'upsBatteryTemperature',
  ]),
  ...column(`${UPS}.3`, ['upsInputLineBads', 'upsInputNumLines']),
  ...column(`${UPS}.3.3.1`, ['upsInputLineIndex', 'upsInputFrequency', 'upsInputVoltage', 'upsInputCurrent', 'upsInputTruePower']),
  ...column(`${UPS}.4`, ['upsOutputSource', 'upsOutputFrequency', 'upsOutputNumLines']),
  ...column(`${UPS}.4.4.1`, ['upsOutputLineIndex', 'upsOutputVoltage', 'upsOutputCurrent', 'upsOutputPower', 'upsOutputPercentLoad']),
  // HOST-RESOURCES-MIB
  ['hrSystemUptime', `${HR}.1.1`],
  ['hrMemorySize', `${HR}.2.2`],
  ['hrProcessorLoad', `${HR}.3.3.1.2`],
  ...column(`${HR}.2.3.1`, ['hrStorageIndex', 'hrStorageType', 'hrStorageDescr', 'hrStorageAllocationUnits', 'hrStorageSize', 'hrStorageUsed']),
  // SNMPv2-MIB notification parts and the standard traps (RFC 3418, RFC 2863)
  ['snmpTrapOID', '1.3.6.1.6.3.1.1.4.1'],
  ['snmpTrapEnterprise', '1.3.6.1.6.3.1.1.4.3'],
  ...column('1.3.6.1.6.3.1.1.5', ['coldStart', 'warmStart', 'linkDown', 'linkUp', 'authenticationFailure', 'egpNeighborLoss']),
  // UPS-MIB traps
  ['upsTrapOnBattery', '1.3.6.1.2.1.33.2.1'],
  ['upsTrapTestCompleted', '1.3.6.1.2.1.33.2.2'],
  ['upsTrapAlarmEntryAdded', '1.3.6.1.2.1.33.2.3'],
  ['upsTrapAlarmEntryRemoved', '1.3.6.1.2.1.33.2.4'],
]);

const NUMERIC = /^\.?\d+(\.\d+)+$/;

/** The numeric OID of `text` (numeric, a name, or a name with a numeric suffix: sysUpTime.0), or undefined. */
export function resolveOid(text: string): string | undefined {
  const t = text.trim();
  if (NUMERIC.test(t)) {
    const oid = t.replace(/^\./, '');
    // BER encodes the first two arcs in one byte: 0, 1 or 2, and under 0 and 1 at most 39
    const [a, b] = oid.split('.').map(Number) as [number, number];
    return a <= 2 && (a === 2 || b <= 39) ? oid : undefined;
  }
  const m = /^([A-Za-z][A-Za-z0-9-]*)((?:\.\d+)*)$/.exec(t);
  if (!m) return undefined;
  const base = OID_NAMES.get(m[1]!);
  return base === undefined ? undefined : base + (m[2] ?? '');
}

let byOid: Map<string, string> | undefined;

/** The name of a numeric OID when it or its parent is known (linkDown, ifDescr.3), else the OID. */
export function oidName(oid: string): string {
  if (!byOid) byOid = new Map([...OID_NAMES].map(([n, o]) => [o, n]));
  const exact = byOid.get(oid);
  if (exact) return exact;
  const dot = oid.lastIndexOf('.');
  const parent = dot > 0 ? byOid.get(oid.slice(0, dot)) : undefined;
  return parent ? `${parent}${oid.slice(dot)}` : oid;
}

/** The name an OID is shown by: the built-in one, else the one MIB files give (`mibs`), else the OID. */
export function displayName(oid: string, mibs?: { nameOf(oid: string): string | undefined }): string {
  const builtIn = oidName(oid);
  return builtIn !== oid ? builtIn : (mibs?.nameOf(oid) ?? oid);
}

/** What an unknown name gets told. */
export const OID_HELP =
  'a numeric OID (1.3.6.1.2.1.1.3.0) or a built-in name (sysUpTime.0, ifDescr, upsBatteryStatus.0, hrProcessorLoad: docs/snmp-source.md#oid-names)';
