// The `file` source: discovers files by glob (fs.watch on the glob folders, plus a periodic rescan
// as a backstop), tails each through a FileTracker, and commits the offsets of all its files as one
// meta value ('state') with intake.commitMeta after the records read before it.
import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, sep } from 'node:path';
import { isUtf8 } from 'node:buffer';
import type { Message } from '../../../../core/message.js';
import type { Intake, Source, SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import type { FileSourceOptions } from './options.js';
import { compileGlob, expandGlob, type CompiledGlob } from './glob.js';
import { fingerprint, identityKey } from './identity.js';
import { LineSplitter, type SplitRecord } from './splitter.js';
import { FileTracker, type SavedFile, type TrackerContext } from './tracker.js';
import { findByIdentity, findRotatedCopy } from './discovery.js';
import { buildChain, type ChainResult } from './parsers/converters.js';
import { fileMetrics, type FileCounter, type FileMetrics } from './metrics.js';

const STATE_KEY = 'state';
const MAX_VANISHED = 50;
const MAX_UNREADABLE = 50;
/** How long a copy of a tailed file waits for that file's truncation before it is tailed on its own. */
const PENDING_COPY_MS = 30_000;

interface SavedState {
  v: 1;
  /** When this state was committed (epoch ms): rotated files modified later hold unread data. */
  at?: number;
  files: SavedFile[];
}

interface Vanished {
  path: string;
  unreadBytes: number | null;
  at: number;
}

export class FileSource implements Source {
  readonly kind = 'file';
  readonly name: string;
  private intake: Intake | undefined;
  private readonly trackers = new Map<string, FileTracker>();
  private readonly globs: CompiledGlob[];
  private readonly excludeRes: RegExp[];
  private readonly chain: ((text: string, now: number) => ChainResult) | undefined;
  private readonly marker: Buffer;
  private readonly metrics: FileMetrics;
  private readonly now: () => number;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private scanSoon: NodeJS.Timeout | undefined;
  private stopped = false;
  private started = false;
  private firstRun = true;
  private inflightBytes = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private settleWaiters: Array<() => void> = [];
  private ticking: Promise<void> | undefined;
  private readonly vanished: Vanished[] = [];
  private readonly unreadable = new Map<string, string>();
  private state = 'stopped';
  private lastError: string | undefined;
  private readonly ctx: TrackerContext;

  constructor(
    private readonly options: FileSourceOptions,
    private readonly deps: SourceDeps,
  ) {
    this.name = options.name;
    this.now = deps.now ?? Date.now;
    this.globs = options.paths.map((p) => compileGlob(p));
    this.excludeRes = options.exclude.map((g) => compileGlob(`/${g}`).segments[0] as RegExp);
    this.chain = options.dataProcessingOptions.length > 0 ? buildChain(options.dataProcessingOptions, options.onParseError) : undefined;
    this.marker = Buffer.from(options.partialLineMarker);
    this.metrics = fileMetrics(deps.registry);
    const startRe = options.multiLineStartPattern === undefined ? undefined : new RegExp(options.multiLineStartPattern);
    this.ctx = {
      chunkBytes: options.readChunkBytes,
      fingerprintBytes: options.fingerprintBytes,
      partialLineTimeoutMs: options.partialLineTimeoutMs,
      rotateWaitMs: options.rotateWaitMs,
      exclude: (name) => this.excluded(name),
      now: () => this.now(),
      stopping: () => this.stopped,
      waitForRoom: () => this.waitForRoom(),
      submit: (t, r) => this.submit(t, r),
      commitState: () => this.commitState(),
      track: (done, bytes, lines) => this.track(done, bytes, lines),
      newSplitter: (offset, headersLeft) =>
        new LineSplitter(
          {
            maxLineBytes: options.maxLineBytes,
            skipHeaderLines: options.skipHeaderLines,
            ...(startRe ? { isRecordStart: (l: Buffer) => startRe.test(l.toString(options.encoding)) } : {}),
          },
          offset,
          headersLeft,
        ),
      onEvent: (t, event, detail) => {
        if (event === 'renamed' || event === 'deleted') this.count('rotations');
        if (event === 'truncated' || event === 'copytruncate') this.count('truncations');
        if (event === 'rewind') this.count('rewinds');
        this.deps.logger.info({ source: this.name, file: t.path, event, ...detail }, `file source ${this.name}: ${t.path} ${event}`);
      },
      isTracked: async (path) => {
        const st = await stat(path, { bigint: true }).catch(() => undefined);
        return st !== undefined && this.trackers.has(identityKey(st.dev, st.ino));
      },
      readUpTo: (fp, offset) => {
        this.readContent.push({ fp, offset });
        if (this.readContent.length > 100) this.readContent.shift();
      },
      retire: (t) => {
        this.trackers.delete(t.key);
        this.commitState().catch(() => undefined);
      },
    };
  }

  private count(c: FileCounter, n = 1): void {
    this.metrics[c].inc({ source: this.name }, n);
  }

  private excluded(name: string): boolean {
    return this.excludeRes.some((re) => re.test(name));
  }

  async start(intake: Intake): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.intake = intake;
    const raw = await intake.readMeta(STATE_KEY);
    const saved: SavedFile[] = [];
    let savedAt: number | undefined;
    if (raw) {
      this.firstRun = false;
      try {
        const state = JSON.parse(raw.toString('utf8')) as SavedState;
        saved.push(...state.files);
        savedAt = state.at;
      } catch (err) {
        this.deps.logger.warn({ source: this.name, err }, `file source ${this.name}: saved offsets unreadable, starting over`);
      }
    }
    await this.resume(saved);
    if (savedAt !== undefined) await this.sweepRotated(saved, savedAt);
    this.firstRun = false;
    for (const g of this.globs) this.watchFolder(g.base);
    this.timer = setInterval(() => void this.tick(), this.options.scanIntervalMs);
    this.timer.unref();
    this.state = 'running';
    void this.tick();
  }

  private watchFolder(dir: string): void {
    try {
      const w = watch(dir, { persistent: false }, (event) => {
        if (event === 'rename') this.scheduleScan();
        else for (const t of this.trackers.values()) if (t.fh) void t.pump().catch((err: unknown) => this.readFailed(t, err));
      });
      w.on('error', () => undefined);
      this.watchers.push(w);
    } catch {
      // The folder does not exist yet: the periodic rescan finds files once it does.
    }
  }

  private scheduleScan(): void {
    if (this.scanSoon || this.stopped) return;
    this.scanSoon = setTimeout(() => {
      this.scanSoon = undefined;
      void this.tick();
    }, 20);
  }

  /** Match the saved offsets with the files found now (first scan). */
  private async resume(saved: SavedFile[]): Promise<void> {
    const byKey = new Map(saved.map((s) => [identityKey(s.dev, s.ino), s]));
    const found = await this.scan();
    for (const [path, key] of found) {
      const s = byKey.get(key);
      byKey.delete(key);
      if (s) await this.resumeSaved(s, path);
    }
    // Files known before but not found under the globs now: renamed (or copied) while we were down.
    for (const s of byKey.values()) {
      const path = await findByIdentity(dirname(s.path), basename(s.path), s.dev, s.ino, s.fp, (n) => this.excluded(n));
      if (path) {
        const t = this.addTracker(path, s.dev, s.ino, s.fp, s.offset, s.headersLeft);
        t.detached = true;
        this.deps.logger.info(
          { source: this.name, file: path, was: s.path, offset: s.offset },
          `file source ${this.name}: ${s.path} was renamed to ${path} while stopped; reading it from ${s.offset}`,
        );
        continue;
      }
      const copy = await findRotatedCopy(dirname(s.path), basename(s.path), s.fp, s.offset, (n) => this.excluded(n));
      if (copy) await this.drainCopy(copy, s);
      else this.reportVanished(s.path, null);
    }
    await this.discover(found);
  }

  /**
   * Rotated files that appeared while the gateway was down (or before any of their records were
   * committed): siblings of a known file (its name + a suffix, as logrotate names them), not
   * matched by the globs, not known by identity, modified after the last committed state. None of
   * their records can have been committed (records and offsets commit together), so they are read
   * from their start, oldest first.
   */
  private async sweepRotated(saved: SavedFile[], savedAt: number): Promise<void> {
    const seen = new Set<string>();
    const candidates: Array<{ path: string; dev: string; ino: string; mtime: number }> = [];
    for (const s of saved) {
      const dir = dirname(s.path);
      const base = basename(s.path);
      if (seen.has(s.path)) continue;
      seen.add(s.path);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const n of names) {
        if (n === base || !n.startsWith(base) || this.excluded(n)) continue;
        const p = join(dir, n);
        if (this.globs.some((g) => g.full.test(p))) continue; // tailed on its own
        const st = await stat(p, { bigint: true }).catch(() => undefined);
        if (!st?.isFile() || Number(st.mtimeMs) <= savedAt) continue;
        const key = identityKey(st.dev, st.ino);
        if (this.trackers.has(key) || saved.some((x) => identityKey(x.dev, x.ino) === key)) continue;
        // A copy of content known to the state (copytruncate) was read up to its saved offset.
        if (await this.startsLikeSaved(p, Number(st.size), saved)) continue;
        candidates.push({ path: p, dev: String(st.dev), ino: String(st.ino), mtime: Number(st.mtimeMs) });
      }
    }
    candidates.sort((a, b) => a.mtime - b.mtime);
    for (const c of candidates) {
      const t = this.addTracker(c.path, c.dev, c.ino, { hash: '', len: 0 }, 0, undefined);
      t.detached = true;
      this.deps.logger.info(
        { source: this.name, file: c.path },
        `file source ${this.name}: ${c.path} was rotated while stopped before any of it was committed; reading it from its start`,
      );
    }
  }

  private async startsLikeSaved(path: string, size: number, saved: SavedFile[]): Promise<boolean> {
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return true; // unreadable: nothing to read anyway
    try {
      for (const x of saved) {
        if (x.fp.len === 0 || x.fp.len > size) continue;
        const fp = await fingerprint(fh, x.fp.len);
        if (fp.hash === x.fp.hash) return true;
      }
      return false;
    } finally {
      await fh.close();
    }
  }

  private async resumeSaved(s: SavedFile, path: string): Promise<void> {
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return;
    let same = false;
    let size = 0;
    let fpNow = s.fp;
    try {
      size = (await fh.stat()).size;
      const fp = await fingerprint(fh, s.fp.len);
      same = fp.len === s.fp.len && fp.hash === s.fp.hash && size >= s.offset;
      // A state written before fingerprints grew ahead of offsets (0.1.0) may hold a short one.
      const want = Math.min(this.options.fingerprintBytes, s.offset);
      if (same && s.fp.len < want) fpNow = await fingerprint(fh, want);
    } finally {
      await fh.close();
    }
    if (same) {
      this.addTracker(path, s.dev, s.ino, fpNow, s.offset, s.headersLeft);
      this.deps.logger.info({ source: this.name, file: path, offset: s.offset }, `file source ${this.name}: ${path} resumes at ${s.offset}`);
      return;
    }
    // Truncated (copytruncate) or a reused inode while we were down: the old content's unread
    // rest may be in a rotated copy; the file itself is read from its start.
    const copy = await findRotatedCopy(dirname(path), basename(path), s.fp, s.offset, (n) => this.excluded(n));
    if (copy) await this.drainCopy(copy, s);
    this.deps.logger.info(
      { source: this.name, file: path, size, saved: s, copy },
      `file source ${this.name}: ${path} was truncated or replaced while stopped; ${copy ? `reading the rest of ${copy} from ${s.offset}, then ` : ''}reading it from its start`,
    );
    this.addTracker(path, s.dev, s.ino, { hash: '', len: 0 }, 0, undefined);
  }

  /** Read a rotated copy from a saved offset to its end, as a detached tracker. */
  private async drainCopy(copy: string, s: SavedFile): Promise<void> {
    const st = await stat(copy, { bigint: true }).catch(() => undefined);
    if (!st) return;
    const t = this.addTracker(copy, String(st.dev), String(st.ino), s.fp, s.offset, s.headersLeft);
    t.detached = true;
  }

  /** Current glob matches: path -> identity key (non-regular entries reported as unreadable). */
  private async scan(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const g of this.globs) {
      for (const path of await expandGlob(g)) {
        if (this.excluded(basename(path)) || out.has(path)) continue;
        const st = await stat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => err);
        if (st instanceof Error) {
          if (st.code !== 'ENOENT') this.markUnreadable(path, st.message);
          continue;
        }
        if (!st.isFile()) {
          this.markUnreadable(path, 'not a regular file');
          continue;
        }
        out.set(path, identityKey(st.dev, st.ino));
      }
    }
    return out;
  }

  private markUnreadable(path: string, why: string): void {
    if (!this.unreadable.has(path)) {
      this.count('readErrors');
      this.deps.logger.warn(
        { source: this.name, file: path, code: 'GH_FILE_UNREADABLE', error: why },
        `file source ${this.name}: cannot read ${path}: ${why} (check its permissions and type: only regular files are tailed)`,
      );
      if (this.unreadable.size >= MAX_UNREADABLE) this.unreadable.delete(this.unreadable.keys().next().value!);
    }
    this.unreadable.set(path, why);
  }

  /** New matches become trackers; known ones get their (possibly new) path. */
  private async discover(found: Map<string, string>): Promise<void> {
    for (const [path, key] of found) {
      const known = this.trackers.get(key);
      if (known) {
        if (known.path !== path && !known.detached) known.path = path;
        continue;
      }
      const fh = await open(path, 'r').catch((err: Error) => err);
      if (fh instanceof Error) {
        this.markUnreadable(path, fh.message);
        continue;
      }
      this.unreadable.delete(path);
      let size: number;
      let fp: Awaited<ReturnType<typeof fingerprint>>;
      try {
        size = (await fh.stat()).size;
        fp = await fingerprint(fh, Math.min(size, this.options.fingerprintBytes));
      } finally {
        await fh.close();
      }
      const [dev, ino] = key.split(':') as [string, string];
      let offset = this.firstRun && this.options.initialPosition === 'end_of_file' ? size : 0;
      if (!this.firstRun) {
        // A copy of content already read (copytruncate's rotated copy matching the glob too).
        const copied = await this.copiedFrom(path, size);
        if (copied?.live) {
          // Copy of a file still being tailed: its tracker reads the copy's tail itself once it
          // sees the truncation. Tail the copy separately only if no truncation comes (a plain cp).
          const since = this.pendingCopies.get(path) ?? this.now();
          this.pendingCopies.set(path, since);
          if (this.now() - since < PENDING_COPY_MS) continue;
        }
        this.pendingCopies.delete(path);
        if (copied !== undefined) {
          offset = copied.offset;
          this.deps.logger.info({ source: this.name, file: path, offset }, `file source ${this.name}: ${path} is a copy of a tailed file, read from ${offset}`);
        }
      }
      this.addTracker(path, dev, ino, fp, offset, undefined);
    }
  }

  /** Content fingerprints already read up to an offset: tracked files, and truncated content (bounded). */
  private readonly readContent: Array<{ fp: SavedFile['fp']; offset: number }> = [];

  /** Paths that look like a copy of a file being tailed, since when (bounded by the globs). */
  private readonly pendingCopies = new Map<string, number>();

  private async copiedFrom(path: string, size: number): Promise<{ offset: number; live: boolean } | undefined> {
    const live = [...this.trackers.values()].filter((t) => !t.detached).map((t) => ({ fp: t.fp, offset: t.splitter.safeOffset(), live: true }));
    const candidates = [...live, ...this.readContent.map((c) => ({ ...c, live: false }))];
    // Only fingerprints long enough to tell content apart (a few bytes could match by chance).
    const wanted = candidates.filter((c) => c.fp.len >= Math.min(64, this.options.fingerprintBytes) && c.fp.len <= size);
    if (wanted.length === 0) return undefined;
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return undefined;
    try {
      for (const c of wanted) {
        const fp = await fingerprint(fh, c.fp.len);
        if (fp.len === c.fp.len && fp.hash === c.fp.hash) return { offset: Math.min(c.offset, size), live: c.live };
      }
    } finally {
      await fh.close();
    }
    return undefined;
  }

  private addTracker(path: string, dev: string, ino: string, fp: SavedFile['fp'], offset: number, headersLeft: number | undefined): FileTracker {
    const t = new FileTracker(this.ctx, path, dev, ino, fp, offset, headersLeft);
    t.topic = this.topicFor(path);
    this.trackers.set(t.key, t);
    return t;
  }

  private topicFor(path: string): string {
    const file = basename(path);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is not allowed in MQTT topics (MQTT-4.7.3-2), so it is replaced
    const clean = (v: string): string => v.replace(/[+#\u0000]/g, '_');
    const values: Record<string, string> = {
      name: this.name,
      file,
      stem: file.slice(0, file.length - extname(file).length) || file,
      dir: basename(dirname(path)),
      path: path.split(sep).filter(Boolean).join('/'),
    };
    return this.options.topic.replace(/\{(name|file|stem|dir|path)\}/g, (_, k: string) => clean(values[k]!));
  }

  /** Periodic work: rescan, open waiting files, check every open one. One at a time. */
  private tick(): Promise<void> {
    this.ticking ??= this.doTick()
      .catch((err: unknown) => {
        this.lastError = err instanceof Error ? err.message : String(err);
        this.deps.logger.error({ source: this.name, err }, `file source ${this.name}: scan failed`);
      })
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  private async doTick(): Promise<void> {
    if (this.stopped) return;
    await this.discover(await this.scan());
    const all = [...this.trackers.values()];
    let open = all.filter((t) => t.fh).length;
    // Never-opened files first; files closed while idle only once they grew or moved.
    const waiting = all.filter((t) => !t.fh && !t.dormant);
    for (const t of all) if (!t.fh && t.dormant && (await this.wantsReopen(t))) waiting.push(t);
    if (waiting.length > 0 && open >= this.options.maxOpenFiles) {
      // Make room: close files at their end that have been quiet for closeIdleMs.
      let need = waiting.length;
      for (const t of all) {
        if (need === 0) break;
        if (t.fh && !t.detached && t.splitter.heldBytes === 0 && t.splitter.readOffset >= t.size && this.now() - t.lastGrowthAt >= this.options.closeIdleMs) {
          await t.close();
          t.dormant = true;
          open--;
          need--;
        }
      }
    }
    for (const t of waiting) {
      if (this.stopped || open >= this.options.maxOpenFiles) break;
      if (await this.reopen(t)) {
        t.dormant = false;
        open++;
      }
    }
    await Promise.all(all.filter((t) => t.fh).map((t) => t.check().catch((err: unknown) => this.readFailed(t, err))));
  }

  /** An idle-closed file needs reading again: it grew, shrank or its path holds another file now. */
  private async wantsReopen(t: FileTracker): Promise<boolean> {
    const st = await stat(t.path, { bigint: true }).catch(() => undefined);
    if (!st || identityKey(st.dev, st.ino) !== t.key) return true;
    if (Number(st.size) !== t.size) {
      t.size = Number(st.size);
      return true;
    }
    return false;
  }

  /** Open a waiting (or idle-closed) tracker, checking its path still holds the same file. */
  private async reopen(t: FileTracker): Promise<boolean> {
    const st = await stat(t.path, { bigint: true }).catch(() => undefined);
    if (!st || identityKey(st.dev, st.ino) !== t.key) {
      const moved = await findByIdentity(dirname(t.path), basename(t.path), t.dev, t.ino, t.fp, (n) => this.excluded(n));
      if (!moved) {
        this.trackers.delete(t.key);
        const unread = t.size > t.submittedOffset ? t.size - t.submittedOffset : 0;
        if (unread > 0) this.reportVanished(t.path, unread);
        void this.commitState().catch(() => undefined);
        return false;
      }
      t.path = moved;
      t.detached = true;
    }
    try {
      await t.open();
      return true;
    } catch (err) {
      this.readFailed(t, err);
      return false;
    }
  }

  private readFailed(t: FileTracker, err: unknown): void {
    t.lastError = err instanceof Error ? err.message : String(err);
    this.count('readErrors');
    this.deps.logger.warn(
      { source: this.name, file: t.path, code: 'GH_FILE_UNREADABLE', err },
      `file source ${this.name}: read of ${t.path} failed (retried at the next scan)`,
    );
  }

  private reportVanished(path: string, unreadBytes: number | null): void {
    this.count('vanished');
    this.vanished.push({ path, unreadBytes, at: this.now() });
    if (this.vanished.length > MAX_VANISHED) this.vanished.shift();
    this.deps.logger.warn(
      { source: this.name, file: path, code: 'GH_FILE_VANISHED', unreadBytes },
      `file source ${this.name}: ${path} disappeared with unread data (${unreadBytes ?? 'an unknown number of'} bytes); rotate with delaycompress, or raise maxOpenFiles if it waited for a slot`,
    );
  }

  private submit(t: FileTracker, r: SplitRecord): Promise<void> | undefined {
    const now = this.now();
    let payload = r.payload;
    const props: Record<string, string> = {};
    if (!isUtf8(payload)) {
      t.invalidUtf8++;
      this.count('invalidUtf8');
    }
    const marked = r.partial === true || r.cut === true;
    if (r.cut) props.cut = 'true';
    if (r.partial) {
      props.partial = 'true';
      t.partialLines++;
      this.count('partialLines');
    }
    if (this.chain) {
      const res = this.chain(payload.toString(this.options.encoding) + (marked ? this.options.partialLineMarker : ''), now);
      if (res.error !== undefined) {
        t.parseErrors++;
        this.count('parseErrors');
        props['parse-error'] = res.error.slice(0, 200);
      }
      if (res.text === undefined) return undefined;
      payload = Buffer.from(res.text);
    } else if (marked && this.marker.length > 0) payload = Buffer.concat([payload, this.marker]);
    if (r.cut) this.count('linesCut');
    const message: Message = { topic: t.topic, payload, qos: 1, source: { kind: 'file', id: t.path }, receivedAt: now };
    if (Object.keys(props).length > 0) message.properties = { userProperties: props };
    try {
      return this.intake!.submit(message);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private commitState(): Promise<void> {
    const files = [...this.trackers.values()].map((t) => t.saved());
    const state: SavedState = { v: 1, at: this.now(), files };
    return this.intake!.commitMeta(STATE_KEY, Buffer.from(JSON.stringify(state)));
  }

  private track(done: Promise<unknown>, bytes: number, lines: number): void {
    this.inflightBytes += bytes;
    // Counted per chunk, not per line: a labelled prom-client inc costs about as much as a line.
    if (bytes > 0) this.count('bytes', bytes);
    if (lines > 0) this.count('lines', lines);
    const p = done.finally(() => {
      this.inflightBytes -= bytes;
      this.inflight.delete(p);
      const w = this.settleWaiters;
      this.settleWaiters = [];
      for (const f of w) f();
    });
    this.inflight.add(p);
    p.catch(() => undefined);
  }

  private async waitForRoom(): Promise<void> {
    while (!this.stopped && (this.inflightBytes >= this.options.maxInFlightBytes || !this.intake!.accepting())) {
      if (this.inflight.size === 0) {
        // Not accepting and nothing in flight: look again shortly (the store reports recovery by state only).
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      await new Promise<void>((r) => this.settleWaiters.push(r));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.state = 'stopped';
    if (this.timer) clearInterval(this.timer);
    if (this.scanSoon) clearTimeout(this.scanSoon);
    for (const w of this.watchers) w.close();
    this.watchers = [];
    await this.ticking;
    await Promise.all([...this.trackers.values()].map((t) => t.pump().catch(() => undefined)));
    await Promise.allSettled([...this.inflight]);
    for (const f of this.settleWaiters) f();
    await Promise.all([...this.trackers.values()].map((t) => t.close()));
  }

  status(): SourceStatus {
    const now = this.now();
    const files = [...this.trackers.values()].map((t) => ({
      path: t.path,
      identity: t.key,
      state: t.fh ? (t.detached ? 'draining' : 'open') : t.dormant ? 'idle-closed' : 'waiting',
      offset: t.committedOffset,
      size: t.size,
      lagBytes: Math.max(0, t.size - t.committedOffset),
      lagSeconds: t.behindSince === undefined ? 0 : Math.round((now - t.behindSince) / 100) / 10,
      linesRead: t.linesRead,
      bytesRead: t.bytesRead,
      parseErrors: t.parseErrors,
      invalidUtf8: t.invalidUtf8,
      linesCut: t.splitter.counters.linesCut,
      partialLines: t.partialLines,
      rotations: t.rotations,
      truncations: t.truncations,
      ...(t.lastError ? { lastError: t.lastError } : {}),
    }));
    return {
      kind: this.kind,
      name: this.name,
      state: this.state,
      details: {
        files,
        openFiles: files.filter((f) => f.state === 'open' || f.state === 'draining').length,
        waitingFiles: files.filter((f) => f.state === 'waiting').length,
        openLimit: this.options.maxOpenFiles,
        inflightBytes: this.inflightBytes,
        unreadable: [...this.unreadable].map(([path, error]) => ({ path, error })),
        vanished: [...this.vanished],
        ...(this.lastError ? { lastError: this.lastError } : {}),
      },
    };
  }
}
