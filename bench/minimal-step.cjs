/**
 * Section 7's reference: the least a main step can do over https, to show what node itself costs
 * (node:https loading, Node 20's parsing of its bundled root certificates, two TLS handshakes).
 * It fetches the OIDC token, exchanges it, and writes one line to GITHUB_ENV: no input checks, no
 * retries, no masking, no summary. CommonJS, as the Action's bundles are.
 */
const https = require('node:https');
const { appendFileSync } = require('node:fs');

const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });

function call(url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: body ? 'POST' : 'GET', headers, agent }, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(text))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(env) {
  const url = `${env.ACTIONS_ID_TOKEN_REQUEST_URL}&audience=${env.INPUT_AUDIENCE}`;
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
