// SPDX-License-Identifier: GPL-2.0-only
/*
 * Parsing what a user types, with one-line errors that say what would be
 * right. No kernel model here: this is the boundary.
 */
import type { TestHmmParams, SpmType } from '../dmirror/test_hmm.js';

/** A user input that is wrong: the CLI prints the message on one line and exits non-zero. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A module parameter address as modprobe takes a `long` parameter
 * (kstrtol() with base 0): 0x-prefixed hex, 0-prefixed octal, or decimal.
 */
export function parseAddress(name: string, text: string): number {
  const s = text.trim();
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
  else if (/^[1-9][0-9]*$/.test(s)) v = parseInt(s, 10);
  else throw new UsageError(`${name} "${text}" is not an address: write it in hex (0x100000000), decimal or octal, as modprobe accepts`);
  if (!Number.isSafeInteger(v) || v >= 2 ** 52) throw new UsageError(`${name} "${text}" is too large for a physical address`);
  return v;
}

/** --seed N: an unsigned 32-bit integer, decimal or hex. */
export function parseSeed(text: string): number {
  const s = text.trim();
  const v = /^0[xX][0-9a-fA-F]+$/.test(s) ? parseInt(s.slice(2), 16) : /^[0-9]+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isSafeInteger(v) || v > 0xffffffff) {
    throw new UsageError(`--seed "${text}" is not a seed: give an integer from 0 to 4294967295 (decimal or 0x hex)`);
  }
  return v;
}

/** The module parameters from the command line's addresses. */
export function paramsFromArgs(spm0: string | undefined, spm1: string | undefined, type: SpmType): TestHmmParams {
  if (spm0 === undefined) return { spm_addr_dev0: 0, spm_addr_dev1: 0, spm_type: 'generic' };
  const a0 = parseAddress('spm_addr_dev0', spm0), a1 = parseAddress('spm_addr_dev1', spm1!);
  if (a0 === 0 || a1 === 0) {
    throw new UsageError(`spm_addr_dev0=${spm0} spm_addr_dev1=${spm1}: 0 is no device memory address (test_hmm would make private devices); give two SPM start addresses, or none for private devices`);
  }
  return { spm_addr_dev0: a0, spm_addr_dev1: a1, spm_type: type };
}
