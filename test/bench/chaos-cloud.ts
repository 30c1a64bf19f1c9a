// The chaos bench's cloud broker (test/bench/chaos.ts): Debian's mosquitto, which the gateway's MQTT
// source (`type: mqtt`) subscribes to with a persistent session, and where the cloud's publishers
// send commands. Its own promise is mosquitto's: a PUBACK to a cloud publisher means mosquitto has
// the message, and with persistence (saved every second and at a clean stop) it keeps it for the
// gateway's session until the gateway acknowledges it, which the gateway does only once it is
// committed. It is restarted cleanly (SIGTERM) now and then; never killed, which would lose what
// mosquitto itself had not saved yet (mosquitto's loss, not the gateway's).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { which } from '../helpers/index.js';
import { mosquittoConfig } from '../helpers/peers.js';
import { sleep } from './chaos-load.js';
import { portOpen } from '../helpers/peers.js';

export class CloudBroker {
  restarts = 0;
  private child: ChildProcess | undefined;

  private constructor(
    private readonly bin: string,
    private readonly conf: string,
    readonly port: number,
  ) {}

  /** Undefined when mosquitto is not installed (Debian package mosquitto). */
  static async create(dir: string, port: number): Promise<CloudBroker | undefined> {
    const bin = which('mosquitto') ?? which('/usr/sbin/mosquitto');
    if (!bin) return undefined;
    const conf = join(dir, 'mosquitto.conf');
    await writeFile(conf, mosquittoConfig(port, dir, 10_000_000));
    return new CloudBroker(bin, conf, port);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const c = spawn(this.bin, ['-c', this.conf], { stdio: ['ignore', 'ignore', 'ignore'] });
    this.child = c;
    const deadline = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start (exit ${c.exitCode})`);
      await sleep(20);
    }
  }

  /** A clean stop (mosquitto saves its sessions and queued messages), then a start after downMs. */
  async restart(downMs: number): Promise<void> {
    await this.stop();
    await sleep(downMs);
    await this.start();
    this.restarts++;
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    await exited;
  }
}
