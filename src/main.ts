import { realDeps } from './client/deps.js';
import { run } from './main/run.js';
import { createTransport } from './transport/http.js';

const transport = createTransport(process.env);
// The step ends with its last write: no pooled connection is left to hold the process open.
void run(realDeps(transport)).finally(transport.close);
