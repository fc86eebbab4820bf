import { realDeps } from './client/deps.js';
import { runPost } from './post/run.js';
import { createTransport } from './transport/http.js';

const transport = createTransport(process.env);
void runPost(realDeps(transport)).finally(transport.close);
