// A small vendor MIB for the snmp source's `mibs` tests: enterprise 99999, whose .1.0 is the value
// the test snmpd's pass script serves (snmp-rig.ts PASS_OID) and whose .2 is a notification.
export const TEST_MIB = `GATEHOUSE-TEST-MIB DEFINITIONS ::= BEGIN

IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, NOTIFICATION-TYPE, Counter32, enterprises
        FROM SNMPv2-SMI;  -- the base module net-snmp carries

gatehouseTest MODULE-IDENTITY
    LAST-UPDATED "202612070000Z"
    ORGANIZATION "Gatehouse"
    CONTACT-INFO "tests"
    DESCRIPTION  "Objects of the tests."
    ::= { enterprises 99999 }

ghCounter OBJECT-TYPE
    SYNTAX      Counter32
    MAX-ACCESS  read-only
    STATUS      current
    DESCRIPTION "The pass script's counter."
    ::= { gatehouseTest 1 }

ghAlarm NOTIFICATION-TYPE
    OBJECTS     { ghCounter }
    STATUS      current
    DESCRIPTION "An alarm."
    ::= { gatehouseTest 2 }

END
`;

/** A second module that defines `ghCounter` again under another OID (an ambiguous name). */
export const OTHER_MIB = `GATEHOUSE-OTHER-MIB DEFINITIONS ::= BEGIN
IMPORTS
    OBJECT-TYPE, Integer32, enterprises FROM SNMPv2-SMI
    gatehouseTest FROM GATEHOUSE-TEST-MIB;

ghOther OBJECT IDENTIFIER ::= { gatehouseTest 7 }

ghCounter OBJECT-TYPE
    SYNTAX      Integer32
    MAX-ACCESS  read-only
    STATUS      current
    DESCRIPTION "Same name, other OID."
    ::= { ghOther 1 }

END
`;
