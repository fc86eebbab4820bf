import { realDeps } from './deps.js';
import { run } from './run-main.js';

void run(realDeps());
