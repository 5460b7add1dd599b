// SPDX-License-Identifier: GPL-2.0-only
/*
 * Data patterns, int by int from the start of the buffer, the way
 * hmm-tests.c fills its buffers (ptr[i] = i, ptr[i] = -i, a byte memset):
 *
 *   index        the int at offset o is o
 *   index+K      o + K (index-K: o - K)
 *   -index       -o
 *   0xNN         every byte is NN (zero: 0x00)
 */
import type { Pattern } from './scenario.js';

/** The pattern, or what was expected instead (a string). */
export function parsePattern(text: string): Pattern | string {
  const s = text.trim();
  const expected = 'a pattern: index, index+K, index-K, -index, a byte 0xNN or zero';
  let m: RegExpExecArray | null;
  if (s === 'zero') return { text: s, at: () => 0 };
  if ((m = /^0x([0-9a-f]{1,2})$/i.exec(s))) {
    const v = (parseInt(m[1], 16) * 0x01010101) | 0;
    return { text: s, at: () => v };
  }
  if (s === '-index') return { text: s, at: (o) => -o | 0 };
  if ((m = /^index(?:\s*([+-])\s*(\d+))?$/.exec(s))) {
    const k = m[1] === undefined ? 0 : (m[1] === '-' ? -1 : 1) * Number(m[2]);
    if (!Number.isSafeInteger(k) || Math.abs(k) > 0x7fffffff) return expected;
    return { text: s, at: (o) => (o + k) | 0 };
  }
  return expected;
}

/** The first int of `got` (the ints from int offset `base` of the buffer) that differs from the pattern, or -1. */
export function firstMismatch(p: Pattern, got: Int32Array, base: number): number {
  for (let i = 0; i < got.length; i++) if (got[i] !== p.at(base + i)) return i;
  return -1;
}
