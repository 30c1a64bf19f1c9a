// Error codes of the store and the rules engine (what happens to acknowledged data): a section of the error catalogue (error-catalogue.ts, where the
// rules of the catalogue are). A code never changes meaning once released; add new ones at the END
// of their group.
import type { ErrorSpec } from './error-spec.js';

export const DATA_ERRORS = {
  // store
  GH_STORE_OPEN: {
    group: 'store',
    meaning: 'The local stream store could not be opened',
    message: 'cannot open the local stream store at {dir}: {reason}',
    hint: 'check the data directory and that no other gateway uses it',
  },
  GH_STORE_CLOSED: {
    group: 'store',
    meaning: 'The store was used after close()',
    message: 'the local stream store is {state}',
    hint: 'the gateway is stopping; retry after restart',
  },
  GH_STREAM_UNKNOWN: {
    group: 'store',
    meaning: 'A local stream name is not configured',
    message: "local stream '{stream}' is not defined",
    hint: 'define it under streams in the config, or fix the name',
  },
  GH_STREAM_FULL: {
    group: 'store',
    meaning: 'A local stream reached maxBytes under onFull: reject',
    message: "local stream '{stream}' is full ({held} of {maxBytes} bytes held, {pending} pending): {reason}",
    hint: 'raise the stream maxBytes, export faster, or use onFull: drop-oldest',
  },
  GH_STREAM_IN_USE: {
    group: 'store',
    meaning: 'A local stream was not dropped (undefined with its keys): it holds records, has appends pending, consumers or readers',
    message: "local stream '{stream}' cannot be dropped: {reason}",
    hint: 'it stays as it is; a retiring exporter tries again once its stream is drained',
  },
  GH_RECORD_TOO_LARGE: {
    group: 'store',
    meaning: 'A single record is larger than its stream can ever hold',
    message: '{what} exceeds {limit}',
    hint: 'send smaller records or raise the stream maxBytes',
  },
  GH_STORE_CORRUPT: {
    group: 'store',
    meaning: 'Data read from the store did not decode',
    message: 'corrupt data in {what}: {reason}',
    hint: 'restore the data directory from a backup, or remove the damaged stream',
  },
  GH_STORE_REPAIRED: {
    group: 'store',
    meaning:
      "The store's LevelDB database was found damaged at start (LevelDB's 'Corruption', a missing CURRENT, MANIFEST or table file: an SD card's bad block, a power cut) and was repaired with LevelDB's RepairDB: the gateway runs on what could be read; the files RepairDB set aside are in <store>/lost/. Logged at error level, shown by /healthz and `gatehouse status` until the gateway stops",
    message: 'the local stream store at {dir} was damaged ({reason}) and has been repaired: {outcome}',
    hint: 'the records recovered are sent upstream as usual (some may be sent twice); records in an unreadable part are lost: compare what upstream received with the devices if that matters. Delete <store>/lost/ once looked at. A store damaged again soon means a failing SD card: replace it',
  },
  GH_STORE_DAMAGED: {
    group: 'store',
    meaning:
      "The store's LevelDB database is damaged and LevelDB's repair failed or did not make it open: `gatehouse start` exits 65, which the systemd unit does not restart (starting again would fail the same way)",
    message: 'the local stream store at {dir} is damaged and could not be repaired: {reason}',
    hint: 'move the store folder aside (the error names the command) and start again: a new, empty store is made; the folder moved aside keeps what it held',
  },
  GH_STORE_IN_RAM: {
    group: 'store',
    meaning:
      "The data directory is on tmpfs or ramfs, or on an overlay written to one (Raspberry Pi OS's overlay file system): the store and what it acknowledges live in memory and are lost at the next reboot or power cut. A warning at start and in check-config; the gateway runs",
    message: 'the data directory {dir} is on {on} (RAM)',
    hint: "put the data directory on a disk partition (a writable partition mounted there, or the overlay turned off); under the systemd unit, another folder with 'sudo systemctl edit gatehouse' (ExecStart= with --data-dir, ReadWritePaths= for it)",
  },
  GH_STORE_DISK_FULL: {
    group: 'store',
    meaning:
      'The store refused a data append: the disk is full (free space under store.reserveBytes) or a write failed; or it cannot open its database because the disk is full (gatehouse start waits for space)',
    message: 'the store cannot {what}: {reason}',
    hint: 'free space on the filesystem of the data directory (the gateway resumes by itself), or lower store.reserveBytes',
  },
  GH_STREAM_USED: {
    group: 'store',
    meaning: 'An operator asked to drop a local stream that something still uses: the config, an exporter, a rule, or the gateway itself',
    message: "local stream '{stream}' is used: {reason}",
    hint: 'stop what uses it first (the hint of the error says how), then drop it; nothing was removed',
  },
  GH_STREAM_DROP_COUNT: {
    group: 'store',
    meaning:
      'An operator asked to drop a local stream holding records without confirming how many (?records=N), or with another number than it holds: those records would never reach upstream',
    message: "local stream '{stream}' holds {held} records{given}",
    hint: 'read what it holds (GET /api/streams, `gatehouse streams`), then confirm that number: ?records=N (`gatehouse streams drop NAME --records N`); nothing was removed',
  },
  GH_STREAM_BUSY: {
    group: 'store',
    meaning:
      'An operator asked for a redrive, purge or drop of a local stream while another of them runs on the same stream: they run one at a time, so none moves or removes what another is working on',
    message: "cannot {operation} local stream '{stream}': a {running} of it is running (started {since}{progress})",
    hint: 'wait for it to end (GET /api/dead-letters shows a running redrive and how far it got), then try again; nothing was done',
  },
  // rules
  GH_SQL_SYNTAX: {
    group: 'rules',
    meaning: 'A rule SQL statement could not be parsed',
    message: '{reason}',
    hint: 'see docs/rules-sql.md for the AWS IoT SQL grammar',
  },
  GH_SQL_SEMANTIC: {
    group: 'rules',
    meaning: 'A rule SQL statement parsed but is not valid (unknown function, wrong arity, ...)',
    message: '{reason}',
    hint: 'see docs/rules-sql.md for the functions and their arguments',
  },
  GH_RULE_EVAL: {
    group: 'rules',
    meaning: 'A rule could not be evaluated for one message (the message goes to its error action, if any)',
    message: 'rule {rule} could not be evaluated: {reason}',
    hint: "give the rule an errorAction to keep such messages (they are acknowledged); check the payload (e.g. nested deeper than JSON tools handle) and the rule's SQL",
  },
  GH_RULE_NOT_FOUND: {
    group: 'rules',
    meaning:
      'A Basic Ingest message ($aws/rules/<rule>/<topic>) names no rule that can run it; it is acknowledged and not processed (as AWS IoT logs RuleNotFound)',
    message: 'Basic Ingest message on {topic} not run: {reason}',
    hint: "publish to $aws/rules/<name of an enabled rule>/<topic>, or on the rule's FROM topic; counted in gatehouse_rules_basic_ingest_refused_total",
  },
  GH_RULESET_INVALID: {
    group: 'rules',
    meaning: 'A rule set failed validation',
    message: '{source} has {count}:\n{problems}',
    hint: 'fix each listed rule; nothing of this rule set was applied',
  },
  GH_RULESET_STALE: {
    group: 'rules',
    meaning: 'A rule set update has an older version than the active one',
    message: 'rule set version {version} is not newer than the active version {active}',
    hint: 'raise the version, or force the update (rules apply --force)',
  },
  GH_RULESET_NO_ROLLBACK: {
    group: 'rules',
    meaning: 'A rollback was asked for but there is no previous rule set to return to',
    message: 'no previous rule set to roll back to: {reason}',
    hint: 'a rollback returns to the last confirmed set (lastGoodVersion), and there is none but the running one; to run another set, apply it as a new version (gatehouse rules apply FILE, or a signed update)',
  },
  GH_RULESET_SIGNATURE: {
    group: 'rules',
    meaning:
      'A rule set update or rollback was refused by the signature policy (unsigned where a signature is required, or a signature that does not verify), or a signing key or envelope is unusable',
    message: '{what} refused: {reason}',
    hint: 'sign it with `gatehouse rules sign ... --targets ID --key KEY`, using a key whose public half is in control.publicKeys',
  },
  GH_ACTION_FAILED: {
    group: 'rules',
    meaning: 'A rule action failed',
    message: "action '{action}' of rule '{rule}' failed: {reason}",
    hint: 'see the rule errorAction output and the action options',
  },
  GH_TEMPLATE_INVALID: {
    group: 'rules',
    meaning: 'A ${...} substitution template is malformed',
    message: "template '{template}' is malformed: {reason}",
    hint: 'close every ${ with } and use a valid SQL expression inside',
  },
  GH_DETECTOR_PARAM: {
    group: 'rules',
    meaning: 'An anomaly detector name or parameter is unknown or out of range',
    message: '{reason}',
    hint: 'see docs/anomaly.md for the detectors and their parameters',
  },
  GH_RULESET_RUNTIME_FAILURE: {
    group: 'rules',
    meaning: 'A rule set update failed at run time during its probation and was rolled back automatically',
    message: "rule '{rule}' of rule set {version} failed {failures} times in {evaluations} evaluations during its probation (last error: {reason})",
    hint: 'fix the rule for the payloads it meets (see the last error) and send it again as a new version; control.probation sets the criterion',
  },
  GH_TABLE_LOAD: {
    group: 'rules',
    meaning:
      'A lookup table (`tables:` in the configuration, read by get_dynamodb() in rules) cannot be loaded: its file is missing, unreadable, larger than maxBytes, not CSV/JSON/YAML of rows, or has a row without the key, a duplicate key, or more rows than maxRows. At start and in check-config the configuration is refused; at a reload (SIGHUP) the table keeps its previous contents',
    message: 'table {table}: {reason}',
    hint: "fix the file (each row once, with its key; docs/rules-sql.md#lookup-tables), or raise the table's maxRows/maxBytes, then `systemctl reload gatehouse`",
  },
  GH_TABLE_LOOKUP: {
    group: 'rules',
    meaning:
      "A get_dynamodb(table, keyName, keyValue, roleArn) call names a table the configuration does not define, or a key name that is not the table's key: with literal arguments the rule set is refused when it compiles; otherwise the message goes to the rule's error action",
    message: '{reason}',
    hint: 'name a table of `tables:` in the configuration and its key (docs/rules-sql.md#lookup-tables)',
  },
  GH_PROTO_DESCRIPTOR: {
    group: 'rules',
    meaning:
      "The Protobuf descriptor of a decode(*, 'proto', bucket, key, file, type) cannot be used: its file (<protoDescriptorDir>/<bucket>/<key>) is missing, unreadable or too large, is not a FileDescriptorSet, or lacks the named .proto file or message type. With literal arguments the rule set is refused when it compiles; otherwise the message goes to the rule's error action",
    message: '{reason}',
    hint: 'write the descriptor with `protoc --include_imports --descriptor_set_out=<key> <file>.proto` and put it at <protoDescriptorDir>/<bucket>/<key> (docs/rules-sql.md#protobuf-payloads)',
  },
  GH_PROTO_DECODE: {
    group: 'rules',
    meaning:
      "A payload given to decode(*, 'proto', ...) is not a message of the named type (or not base64 text of one), or it is larger or nested deeper than the bounds: the rule is not evaluated for that message, which goes to the rule's error action (as AWS IoT fails the rule)",
    message: 'cannot decode {what} as {type}: {reason}',
    hint: 'check that the device sends that message type (protoc --decode=<type> <file>.proto < payload shows what the bytes hold); give the rule an errorAction to keep what does not decode',
  },
} as const satisfies Record<string, ErrorSpec>;
