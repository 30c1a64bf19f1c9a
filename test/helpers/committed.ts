// What an industrial source committed to a StoreIntake (industrial.ts), read back by topic: the
// Modbus and OPC UA tests check the values a tag stored through these.
import type { StoreIntake } from './industrial.js';

/** The committed payloads of `topic`, parsed, in order. */
export async function payloads(intake: StoreIntake, topic: string): Promise<Record<string, unknown>[]> {
  return (await intake.records()).filter((r) => r.topic === topic).map((r) => JSON.parse(r.payload.toString()) as Record<string, unknown>);
}

/** The committed values of `topic` (a tag's records), in order. */
export const valuesOf = async (intake: StoreIntake, topic: string): Promise<unknown[]> => (await payloads(intake, topic)).map((p) => p.value);

/** How many records of `topic` are committed. */
export const countOf = async (intake: StoreIntake, topic: string): Promise<number> => (await intake.records()).filter((r) => r.topic === topic).length;
