// SPDX-License-Identifier: GPL-2.0-only
/* The executable: bin/hmm-test runs this file. */
import { main } from './main.js';

main(process.argv.slice(2));
