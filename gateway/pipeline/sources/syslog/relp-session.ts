// One RELP session (rsyslog's omrelp as the client): `open`, then `syslog` commands each answered
// `200 OK` only once its message is committed, then `close`. The acknowledgement is the gateway's
// promise kept over syslog: what omrelp saw answered is on disk; what it did not (a kill -9, a
// power cut, a stop before the commit) it sends again on its next session.
//
// Invariants:
// - Answers go out in the order the commands came (the spec's rule; librelp matches them by txnr
//   but its window expects it), so an answer waits for the commits of every command before it.
// - No answer for a message the gateway did not commit and will not refuse for good (it stopped):
//   the client sends it again. A message refused for another reason is answered `500 <reason>`:
//   rsyslog then suspends the action and sends it again later (a store I/O error passes; it does
//   not drop the message, which is its promise to its own sender).
// - A framing error, a command before `open`, a second `open`: the connection is closed at once
//   (the spec: the peer that sees the error closes; nothing unanswered was acknowledged).
// - At a stop (serverClose), commands that arrive are not taken (not answered: sent again later);
//   once every taken one is answered, the `serverclose` hint goes out and the connection ends.
import type { Socket } from 'node:net';
import { RELP_SERVERCLOSE, RelpFrameError, RelpFramer, relpOffers, relpResponse, type RelpFrame } from './relp-frames.js';

/** What became of a message: committed, refused for good (answered 500 with this reason), or left to the client to send again. */
export type RelpOutcome = { committed: true } | { committed: false; refused?: string };

export interface RelpSessionHandlers {
  /** Take a syslog message; settles once it is committed, or will not be. */
  syslog(data: Buffer, truncated: boolean): Promise<RelpOutcome>;
  /** The connection broke the protocol (closed by the session right after). */
  protocolError(reason: string): void;
  /** relp_software offer: name,version,url. */
  software: string;
}

interface Answer {
  txnr: number;
  /** undefined while its message waits for its commit; null: no answer (the client sends it again). */
  text: string | undefined | null;
  close?: true;
}

export class RelpSession {
  private readonly framer: RelpFramer;
  private opened = false;
  private closing = false;
  private ended = false;
  private readonly answers: Answer[] = [];

  constructor(
    private readonly socket: Socket,
    maxBytes: number,
    private readonly handlers: RelpSessionHandlers,
  ) {
    this.framer = new RelpFramer(maxBytes);
  }

  /** A frame is begun and not complete (the connection's message timeout runs). */
  get begun(): boolean {
    return this.framer.begun;
  }

  /** Commands taken and not yet answered. */
  get waiting(): number {
    return this.answers.length;
  }

  /** Read a chunk: each complete frame handled in order; how many frames it completed. */
  push(chunk: Buffer): number {
    if (this.ended) return 0;
    let frames: RelpFrame[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      this.fail(err instanceof RelpFrameError ? err.message : String(err));
      return 0;
    }
    for (const f of frames) {
      if (this.ended) break;
      this.command(f);
    }
    return frames.length;
  }

  /** The gateway stops: take no more commands, answer those taken, then say serverclose and end. */
  serverClose(): void {
    this.closing = true;
    this.flush();
  }

  private command(f: RelpFrame): void {
    if (f.txnr === 0) return; // a hint from the client: not answered (none is defined)
    if (f.command === 'open') return this.open(f);
    if (!this.opened) return this.fail(`RELP command '${f.command}' before open`);
    if (this.closing) return; // not taken: sent again on the client's next session
    if (f.command === 'syslog') {
      const answer: Answer = { txnr: f.txnr, text: undefined };
      this.answers.push(answer);
      void this.handlers.syslog(f.data, f.truncated).then(
        (o) => this.settle(answer, o.committed ? '200 OK' : o.refused !== undefined ? `500 ${oneLine(o.refused)}` : null),
        (err: unknown) => this.settle(answer, `500 ${oneLine(String(err))}`),
      );
      return;
    }
    if (f.command === 'close') {
      this.answers.push({ txnr: f.txnr, text: '', close: true });
      this.closing = true;
      return this.flush();
    }
    // starttls and commands not offered: refused, the session goes on (the client chose not to use them)
    this.answers.push({ txnr: f.txnr, text: `500 command '${f.command}' not supported` });
    this.flush();
  }

  private open(f: RelpFrame): void {
    if (this.opened) return this.fail('a second RELP open on one session');
    const offers = relpOffers(f.data);
    const version = offers.get('relp_version');
    if (version !== '0' && version !== '1') {
      this.answers.push({ txnr: f.txnr, text: `500 relp_version ${version ?? '(none)'} not supported: 0 or 1`, close: true });
      this.closing = true;
      return this.flush();
    }
    this.opened = true;
    const commands = (offers.get('commands') ?? '').split(',').includes('syslog') ? 'syslog' : '';
    this.answers.push({ txnr: f.txnr, text: `200 OK\nrelp_version=${version}\nrelp_software=${this.handlers.software}\ncommands=${commands}` });
    this.flush();
  }

  private settle(answer: Answer, text: string | null): void {
    answer.text = text;
    this.flush();
  }

  /** Write the answers ready at the head of the queue, in order; end the session when it is due. */
  private flush(): void {
    if (this.ended) return;
    while (this.answers.length > 0 && this.answers[0]!.text !== undefined) {
      const a = this.answers.shift()!;
      if (typeof a.text === 'string') this.socket.write(relpResponse(a.txnr, a.text));
      if (a.close) return this.end();
    }
    if (this.closing && this.answers.length === 0) this.end();
  }

  private end(): void {
    this.ended = true;
    this.answers.length = 0;
    this.socket.write(RELP_SERVERCLOSE);
    this.socket.end();
  }

  private fail(reason: string): void {
    this.ended = true;
    this.answers.length = 0;
    this.handlers.protocolError(reason);
    this.socket.destroy();
  }
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200);
}
