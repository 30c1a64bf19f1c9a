// Options of a `type: modbus` source (zod only: loaded with the config, no Modbus library here).
// One source = one connection: a Modbus TCP endpoint (one or more unit ids behind it) or one RTU
// serial bus (several unit ids polled in turn). Config validation refuses register maps whose
// tags overlap or run past the 16-bit address space, naming the device and the tag.
import { z } from '../../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../../core/timer-delay.js';
import { sourceBaseSchema } from '../kind.js';
import { BYTE_ORDERS, DATA_TYPES, registerCount, type DataType } from './codec.js';
import { topicProblems } from '../topic-template.js';
import { hostSchema } from '../../../../core/bind-host.js';
import { commandsSchema, replyTopicProblem } from '../command-channel.js';

export const AREAS = ['coil', 'discrete', 'holding', 'input'] as const;
export type Area = (typeof AREAS)[number];

/** Placeholders a topic template may use. */
export const TOPIC_PLACEHOLDERS = ['source', 'device', 'unitId', 'group', 'tag'] as const;

/** The type of a tag that names none: bool in the bit tables, uint16 in the register tables. */
export function defaultType(area: Area): DataType {
  return area === 'coil' || area === 'discrete' ? 'bool' : 'uint16';
}

/** The topic of a source that names none: per tag, or per poll group (${tag} means nothing there). */
export const DEFAULT_TOPIC = { tag: 'modbus/${source}/${device}/${tag}', group: 'modbus/${source}/${device}/${group}' } as const;

const tagSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'tag names: letters, digits, _ . - (max 64)')
      .describe('Tag name (in topics and payloads)'),
    area: z.enum(AREAS).describe('Register table: coil (FC1/5/15), discrete (FC2), holding (FC3/6/16) or input (FC4)'),
    address: z.number().int().min(0).max(65535).describe('Zero-based protocol address (register 40001 is holding address 0)'),
    type: z
      .enum(DATA_TYPES)
      .optional()
      .describe('Data type; default uint16 for holding and input registers, bool for coils and discrete inputs (which are always bool)'),
    order: z
      .enum(BYTE_ORDERS)
      .default('ABCD')
      .describe(
        'Byte/word order: ABCD big-endian, DCBA little-endian, BADC byte-swapped words, CDAB swapped words (strings: BADC/DCBA swap the bytes of each register)',
      ),
    length: z
      .number()
      .int()
      .min(1)
      .max(125)
      .optional()
      .describe('Registers of a string tag (2 characters each); required for type string, refused for other types (an array is one tag per element)'),
    scale: z.number().default(1).describe('Value = raw * scale + offset (numeric types; not 0)'),
    offset: z.number().default(0).describe('Value = raw * scale + offset (numeric types)'),
    deadband: z
      .number()
      .nonnegative()
      .optional()
      .describe("Report-by-exception threshold: a change smaller than this is not reported (default: the group's deadband)"),
    writable: z.boolean().default(false).describe('Allow writes to this tag through the command topic (coils and holding registers only)'),
  })
  .strict()
  // The default type follows the area: a bit table holds only bools (a uint16 default would be refused).
  .transform((tag) => ({ ...tag, type: tag.type ?? defaultType(tag.area) }));

const groupSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .default('default')
      .describe('Poll group name (in topics in per-group mode)'),
    intervalMs: z.number().int().min(10).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(1000).describe('Poll interval of this group'),
    report: z
      .enum(['change', 'poll'])
      .default('poll')
      .describe("'poll': every value every poll; 'change': only values that changed by more than the deadband (report by exception)"),
    deadband: z.number().nonnegative().default(0).describe("Default deadband of the group's tags in 'change' mode"),
    tags: z.array(tagSchema).min(1).describe('Tags read by this group'),
  })
  .strict();

const deviceSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'device names: letters, digits, _ . - (max 64)')
      .describe('Device name (in topics, status and errors)'),
    unitId: z.number().int().min(0).max(255).default(1).describe('Modbus unit id (slave address) of the device'),
    groups: z.array(groupSchema).min(1).describe('Poll groups of this device, each with its own interval'),
  })
  .strict();

export const modbusOptionsSchema = sourceBaseSchema
  .extend({
    type: z.literal('modbus').describe('modbus: a Modbus TCP endpoint or RTU bus polled by the gateway (docs/industrial.md)'),
    tcp: z
      .strictObject({
        host: hostSchema().describe(
          "Host name or address of the Modbus TCP server (or TCP gateway); an IPv6 address as it is or in brackets ('fd00::10', '[fd00::10]'), without the port",
        ),
        port: z.number().int().min(1).max(65535).default(502).describe('TCP port'),
      })
      .strict()
      .optional()
      .describe('Modbus TCP endpoint (exactly one of tcp and rtu)'),
    rtu: z
      .strictObject({
        path: z.string().min(1).describe('Serial device path, e.g. /dev/ttyUSB0'),
        baudRate: z.number().int().positive().default(9600).describe('Baud rate'),
        dataBits: z
          .union([z.literal(7), z.literal(8)])
          .default(8)
          .describe('Data bits'),
        parity: z.enum(['none', 'even', 'odd']).default('none').describe('Parity'),
        stopBits: z
          .union([z.literal(1), z.literal(2)])
          .default(1)
          .describe('Stop bits'),
      })
      .strict()
      .optional()
      .describe('Modbus RTU serial bus (exactly one of tcp and rtu); devices on it are polled in turn'),
    timeoutMs: z.number().int().min(10).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(1000).describe('Per-request response timeout'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(1)
      .describe('Extra attempts of a request that timed out before it counts as failed (a device already failing is probed with one attempt per backoff)'),
    backoff: z
      .strictObject({
        initialMs: z.number().int().min(10).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(500).describe('First reconnect / device retry delay'),
        maxMs: z
          .number()
          .int()
          .min(10)
          .max(MAX_TIMER_MS, TIMER_TOO_LONG)
          .default(30_000)
          .describe('Largest reconnect / device retry delay (doubling from initialMs)'),
      })
      .strict()
      .default({ initialMs: 500, maxMs: 30_000 })
      .describe('Reconnect backoff after a socket error or timeout, and retry delay of a device that stopped answering'),
    mergeGap: z
      .number()
      .int()
      .min(0)
      .max(124)
      .default(0)
      .describe('Unused registers (or coils) a merged read may span between two tags (0: only adjacent tags are merged)'),
    publish: z.enum(['tag', 'group']).default('tag').describe("'tag': one message per tag value; 'group': one message per poll of a group with every value"),
    topic: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Topic template; placeholders ${source} ${device} ${unitId} ${group} ${tag} (${tag} only in per-tag mode). Default: modbus/${source}/${device}/${tag} with publish: tag, modbus/${source}/${device}/${group} with publish: group',
      ),
    commands: commandsSchema('{"device","tag","value","id"}', 'tags')
      .optional()
      .describe('Downlink writes to coils and holding registers (tags marked writable)'),
    devices: z.array(deviceSchema).min(1).describe('Devices (unit ids) on this connection'),
  })
  .strict()
  .superRefine((opts, ctx) => {
    // Replies on the command topic itself would be taken for commands: each is ignored as our own reply.
    const replyProblem = replyTopicProblem(opts.commands);
    if (replyProblem) ctx.addIssue({ code: 'custom', path: ['commands', 'replyTopic'], input: opts.commands?.replyTopic, message: replyProblem });
    if ((opts.tcp === undefined) === (opts.rtu === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tcp'], message: 'give exactly one of tcp: { host, port } or rtu: { path, baudRate }' });
    }
    if (opts.topic !== undefined) checkTopic(opts.topic, opts.publish, ctx);
    checkDevices(opts.devices, ctx);
    // Where the group name is the topic, two groups of one name (two unnamed ones are both
    // 'default') would publish two different sets of values on one topic.
    if (opts.publish === 'group' || opts.topic?.includes('${group}')) checkGroupNames(opts.devices, ctx);
  })
  // The default topic follows publish (a per-tag default would be refused in group mode).
  .transform((opts) => ({ ...opts, topic: opts.topic ?? DEFAULT_TOPIC[opts.publish] }));

export type ModbusOptions = z.output<typeof modbusOptionsSchema>;
export type ModbusDevice = ModbusOptions['devices'][number];
export type ModbusGroup = ModbusDevice['groups'][number];
export type ModbusTag = ModbusGroup['tags'][number];

function checkTopic(topic: string, publish: 'tag' | 'group', ctx: z.RefinementCtx): void {
  for (const message of topicProblems(topic, TOPIC_PLACEHOLDERS)) ctx.addIssue({ code: 'custom', path: ['topic'], input: topic, message });
  if (publish === 'group' && topic.includes('${tag}')) {
    ctx.addIssue({
      code: 'custom',
      path: ['topic'],
      input: topic,
      message: "${tag} cannot be used with publish: 'group' (one message holds every tag of the group)",
    });
  }
}

function checkGroupNames(devices: ModbusOptions['devices'], ctx: z.RefinementCtx): void {
  devices.forEach((device, d) => {
    const seen = new Set<string>();
    device.groups.forEach((group, g) => {
      if (seen.has(group.name))
        ctx.addIssue({
          code: 'custom',
          path: ['devices', d, 'groups', g, 'name'],
          input: group.name,
          message: `device '${device.name}': poll group name '${group.name}' is used twice (the group name is in the topic: give each group its own name)`,
        });
      seen.add(group.name);
    });
  });
}

/** Size of a tag in its table: registers for holding/input, bits for coils/discrete inputs. */
export function tagSize(tag: { area: Area; type: DataType; length?: number | undefined }): number {
  if (tag.area === 'coil' || tag.area === 'discrete') return 1;
  return registerCount(tag.type, tag.length);
}

function checkDevices(devices: ModbusOptions['devices'], ctx: z.RefinementCtx): void {
  const deviceNames = new Set<string>();
  devices.forEach((device, d) => {
    if (deviceNames.has(device.name))
      ctx.addIssue({ code: 'custom', path: ['devices', d, 'name'], input: device.name, message: `device name '${device.name}' is used twice` });
    deviceNames.add(device.name);
    const tagNames = new Map<string, string>();
    const ranges: { area: Area; start: number; end: number; tag: string }[] = [];
    device.groups.forEach((group, g) => {
      group.tags.forEach((tag, t) => {
        const path = ['devices', d, 'groups', g, 'tags', t];
        const where = `device '${device.name}' tag '${tag.name}'`;
        if (tagNames.has(tag.name))
          ctx.addIssue({ code: 'custom', path: [...path, 'name'], input: tag.name, message: `${where}: the name is used twice in this device` });
        tagNames.set(tag.name, group.name);
        const bitArea = tag.area === 'coil' || tag.area === 'discrete';
        if (bitArea && tag.type !== 'bool')
          ctx.addIssue({ code: 'custom', path: [...path, 'type'], input: tag.type, message: `${where}: ${tag.area}s are single bits, use type: bool` });
        if (tag.type === 'string' && tag.length === undefined)
          ctx.addIssue({ code: 'custom', path: [...path, 'length'], input: tag.length, message: `${where}: a string tag needs length (registers)` });
        // Silently ignored, `length: 10` on a uint16 read one register where ten were meant.
        if (tag.length !== undefined && tag.type !== 'string')
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'length'],
            input: tag.length,
            message: `${where}: length is for string tags only (a ${tag.type} is ${tagSize(tag)} ${bitArea ? 'bit' : 'register(s)'}); for an array of values give each its own tag`,
          });
        if (tag.scale === 0)
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'scale'],
            input: 0,
            message: `${where}: scale 0 reads every value as the offset; for no scaling use 1`,
          });
        if (tag.writable && (tag.area === 'discrete' || tag.area === 'input'))
          ctx.addIssue({ code: 'custom', path: [...path, 'writable'], input: tag.writable, message: `${where}: ${tag.area} tables are read-only` });
        const size = bitArea ? 1 : registerCount(tag.type, tag.length);
        const end = tag.address + size - 1;
        if (end > 65535) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'address'],
            input: tag.address,
            message: `${where}: ${tag.area} ${tag.address}..${end} runs past the last address 65535`,
          });
          return;
        }
        for (const r of ranges) {
          if (r.area === tag.area && tag.address <= r.end && r.start <= end) {
            ctx.addIssue({
              code: 'custom',
              path: [...path, 'address'],
              input: tag.address,
              message: `${where}: ${tag.area} ${tag.address}..${end} overlaps tag '${r.tag}' (${r.start}..${r.end})`,
            });
          }
        }
        ranges.push({ area: tag.area, start: tag.address, end, tag: tag.name });
      });
    });
  });
}
