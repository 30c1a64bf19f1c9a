// net-snmp ships no type declarations: the part the snmp source uses is typed in lib.ts.
declare module 'net-snmp';
