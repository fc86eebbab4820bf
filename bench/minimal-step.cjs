/**
 * Section 7's reference: a main step that does only the two requests over https, to show what
 * node itself costs (node:https loading, Node 20's parsing of its bundled root certificates, two
 * TLS handshakes).
 * It fetches the OIDC token, exchanges it, and writes one line to GITHUB_ENV: no input checks, no
 * retries, no masking, no summary. CommonJS, as the Action's bundles are.
 */
const https = require('node:https');
const { appendFileSync } = require('node:fs');

const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });

function call(url, headers, body) {
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(30_000);
    const req = https.request(url, { method: body ? 'POST' : 'GET', headers, agent, signal }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`${res.statusCode}: ${text}`);
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(env) {
  const url = `${env.ACTIONS_ID_TOKEN_REQUEST_URL}&audience=${encodeURIComponent(env.INPUT_AUDIENCE)}`;
  const { value } = await call(url, { authorization: `Bearer ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}` });
  const body = JSON.stringify({ role: env.INPUT_ROLE });
  const lease = await call(
    new URL('v1/exchange', `${env['INPUT_EXCHANGER-URL']}/`),
    { authorization: `Bearer ${value}`, 'content-type': 'application/json' },
    body,
  );
  appendFileSync(env.GITHUB_ENV, `AWS_ACCESS_KEY_ID=${lease.credentials.access_key_id}\n`);
  agent.destroy();
}

main(process.env).catch((err) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
