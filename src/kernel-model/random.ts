// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of the kernel's random numbers (drivers/char/random.c) as far as the
 * selftests see them: the bytes a read of /dev/urandom returns. Customised
 * for testing: the real kernel's ChaCha output is unrepeatable; here it is a
 * seeded generator, so a run with the same seed draws the same numbers and
 * takes the same path.
 */

/**
 * mulberry32: a small 32-bit generator with a full 2^32 period over its
 * state. Not cryptographic; it only has to spread well and repeat exactly.
 */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** The next value, an unsigned 32-bit integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
}

/** The seed a kernel gets when none is given (SmokeOptions.seed, `--seed N`). */
export const DEFAULT_SEED = 1;

/** The seed of an independent stream derived from `seed` (so two users of one seed do not share draws). */
export const deriveSeed = (seed: number, stream: number): number => (Math.imul((seed >>> 0) ^ 0x9e3779b9, stream * 2 + 1) + stream) >>> 0;
