// Processing time: the one timer of a windowed rule, armed at the next window close in elapsed
// time (what timers count, never stepped with the wall clock). A close beyond Node's longest timer
// fires at MAX_TIMER_MS: the runner finds nothing due yet and arms it again for the rest.
import type { WindowRuntime } from '../sql/compile-types.js';
import { MAX_TIMER_MS } from './clock.js';

export class CloseTimer {
  private handle: unknown;
  /** When it fires, in elapsed time (Infinity: not armed). */
  private at = Infinity;

  constructor(private readonly fire: () => void) {}

  /** Arm at elapsed time `due`, unless it is armed for earlier already. */
  arm(rt: WindowRuntime, due: number): void {
    if (due >= this.at) return;
    this.cancel(rt);
    this.at = due;
    if (due !== Infinity) this.handle = rt.setTimer(this.onFire, Math.min(MAX_TIMER_MS, due - rt.elapsed()));
  }

  cancel(rt: WindowRuntime | undefined): void {
    if (this.handle !== undefined) rt?.clearTimer(this.handle);
    this.handle = undefined;
    this.at = Infinity;
  }

  private onFire = (): void => {
    this.handle = undefined;
    this.at = Infinity;
    this.fire();
  };
}
