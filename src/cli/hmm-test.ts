// SPDX-License-Identifier: GPL-2.0-only
/*
 * The executable: bin/hmm-test runs this file. For `smoke` the suite's
 * threads start first and load the model while this thread loads the CLI
 * (smoke-prestart.ts); main.js is imported only after that.
 */
import { prestartCount, prestartWorkers } from './smoke-prestart.js';

const argv = process.argv.slice(2);
prestartWorkers(prestartCount(argv));
const { main } = await import('./main.js');
main(argv);
