// Node's timers hold a delay of at most 2^31 - 1 ms (~24.8 days): a longer one is taken as 1 ms,
// with only a TimeoutOverflowWarning. An option that arms a timer with its value therefore fired
// at once: store.appendTimeoutMs: 3000000000 (meant as "wait for good") refused every append to a
// full stream after 1 ms, a Modbus group's intervalMs of 30 days woke its poller every millisecond. Each
// such option's schema says the bound (`.max(MAX_TIMER_MS, TIMER_TOO_LONG)`), so the value is
// refused at load with the option's path. Delays computed at run time that can pass the bound are
// armed in steps where they occur (rules/windows/clock.ts, the MQTT 5 session and message expiry,
// the cron jobs' wake).

/** Node's longest timer delay: 2^31 - 1 ms (~24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/** The schema message of an option bounded by MAX_TIMER_MS. */
export const TIMER_TOO_LONG = `at most ${MAX_TIMER_MS} ms (~24.8 days): the option arms a timer, and Node's timers hold no longer (a longer delay fires at once)`;
