// prom-client counters of file sources, shared by every file source on the registry (label: source).
import type { Counter, Registry } from 'prom-client';
import { counter } from '../../../../core/metrics.js';

export type FileCounter =
  | 'lines'
  | 'bytes'
  | 'parseErrors'
  | 'linesCut'
  | 'partialLines'
  | 'invalidUtf8'
  | 'rotations'
  | 'truncations'
  | 'vanished'
  | 'readErrors'
  | 'rewinds'
  | 'globLimits'
  | 'headerChanges';

const DEFS: Record<FileCounter, [string, string]> = {
  lines: ['gatehouse_file_lines_total', 'Records (lines or multi-line records) read from tailed files'],
  bytes: ['gatehouse_file_bytes_total', 'Bytes read from tailed files'],
  parseErrors: ['gatehouse_file_parse_errors_total', 'Records a data processing option could not parse'],
  linesCut: ['gatehouse_file_lines_cut_total', 'Lines cut at maxLineBytes'],
  partialLines: ['gatehouse_file_partial_lines_total', 'Last lines emitted without their newline after partialLineTimeoutMs'],
  invalidUtf8: ['gatehouse_file_invalid_utf8_total', 'Records that are not valid UTF-8 (passed through as bytes)'],
  rotations: ['gatehouse_file_rotations_total', 'Tailed files renamed or deleted (read to their end through the open handle)'],
  truncations: ['gatehouse_file_truncations_total', 'Tailed files truncated (copytruncate or in place)'],
  vanished: ['gatehouse_file_vanished_total', 'Files that disappeared while unread data remained'],
  readErrors: ['gatehouse_file_read_errors_total', 'Files that could not be opened or read'],
  rewinds: ['gatehouse_file_rewinds_total', 'Rewinds to the last committed offset after a refused submit'],
  headerChanges: [
    'gatehouse_file_header_changes_total',
    'Files whose CSV header line differs from the first one the source read (CSVTOJSON maps rows by position)',
  ],
  globLimits: ['gatehouse_file_glob_limit_total', 'Times a path pattern was found to match more files than a scan lists (100,000): the others are not tailed'],
};

export type FileMetrics = Record<FileCounter, Counter<'source'>>;

export function fileMetrics(registry: Registry): FileMetrics {
  const out = {} as FileMetrics;
  for (const [k, [name, help]] of Object.entries(DEFS) as Array<[FileCounter, [string, string]]>) {
    out[k] = counter(registry, name, help, ['source'] as const);
  }
  return out;
}
