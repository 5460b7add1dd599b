// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CLI's two streams and its colours.
 *
 * Output goes through write(2) on fds 1 and 2 directly: a failed write
 * (ENOSPC on /dev/full, EPIPE when the reader of a pipe went away, EIO)
 * comes back here as an error the run can end on with one line and the
 * right exit status, instead of an exception from a stream.
 *
 * Colour: chalk 5 reads FORCE_COLOR and --no-color but not NO_COLOR, and
 * decides for stdout only, so the decision is made here, per stream:
 * --no-color or a non-empty NO_COLOR (no-color.org) turn it off,
 * FORCE_COLOR=0 off and FORCE_COLOR=1..3 (or empty) on at that level, and
 * otherwise colour is on when the stream is a terminal. Colour never
 * changes the format: pretty is the default on a terminal, TAP elsewhere.
 */
import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Chalk, supportsColor, supportsColorStderr, type ChalkInstance } from 'chalk';

/** A write to fd 1 failed: errno code (EPIPE, ENOSPC, ...). */
export class StdoutError extends Error {
  override name = 'StdoutError';
  constructor(readonly code: string) {
    super(`cannot write to stdout: ${code}`);
  }
}

function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text);
  for (let spins = 0; buf.length > 0;) {
    try {
      const n = writeSync(fd, buf);
      buf = buf.subarray(n);
      spins = 0;
    } catch (e) {
      // A non-blocking pipe that is full: wait for the reader.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN' && spins++ < 1e6) continue;
      throw e;
    }
  }
}

/** Write to stdout; a failure throws StdoutError. */
export function writeOut(text: string): void {
  try {
    writeAll(1, text);
  } catch (e) {
    throw new StdoutError((e as NodeJS.ErrnoException).code ?? 'EIO');
  }
}

/** Write to stderr; if even that fails there is no one left to tell. */
export function writeErr(text: string): void {
  try {
    writeAll(2, text);
  } catch { /* nowhere to report it */ }
}

/** Colour options of the command line: --no-color, or nothing said. */
export interface ColorChoice { color?: boolean }

/** The colour level for fd 1 or 2, by the rules above. */
export function colorLevel(fd: 1 | 2, choice: ColorChoice = {}, env: NodeJS.ProcessEnv = process.env): 0 | 1 | 2 | 3 {
  if (choice.color === false || (env.NO_COLOR ?? '') !== '') return 0;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '' || force === 'true') return 1;
    const n = Number(force);
    if (force === 'false' || n === 0) return 0;
    if (n === 1 || n === 2 || n === 3) return n;
  }
  if (!isatty(fd)) return 0;
  const detected = fd === 1 ? supportsColor : supportsColorStderr;
  return detected ? (detected.level as 0 | 1 | 2 | 3) || 1 : 1;
}

export function chalkFor(fd: 1 | 2, choice: ColorChoice = {}): ChalkInstance {
  return new Chalk({ level: colorLevel(fd, choice) });
}
