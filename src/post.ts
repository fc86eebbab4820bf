import { realDeps } from './deps.js';
import { runPost } from './run-post.js';

void runPost(realDeps());
