// Records what @anthropic-ai/sdk sends and gets, by wrapping the global
// fetch it calls (it is otherwise used with its defaults), and prints one
// JSON report on stdout. Same report shape as e2e/jsclient's record.mjs.

const sent = [];
const realFetch = globalThis.fetch;

// Headers worth reporting; the credential is reported by carrier only.
const shown = ['content-type', 'accept', 'anthropic-version', 'anthropic-beta', 'user-agent'];

globalThis.fetch = async function recordedFetch(input, init = {}) {
  const req = input instanceof Request ? input : null;
  const url = new URL(req ? req.url : String(input));
  const headers = new Headers(init.headers ?? req?.headers ?? {});
  const entry = {
    method: (init.method ?? req?.method ?? 'GET').toUpperCase(),
    path: url.pathname + url.search,
    auth: headers.has('x-api-key') ? 'x-api-key' : headers.has('authorization') ? 'authorization' : 'none',
    headers: Object.fromEntries(shown.filter((h) => headers.has(h)).map((h) => [h, headers.get(h)])),
  };
  if (typeof init.body === 'string') entry.body = init.body.length > 400 ? init.body.slice(0, 400) + '…' : init.body;
  sent.push(entry);
  try {
    const resp = await realFetch(input, init);
    entry.status = resp.status;
    if (resp.status >= 400) {
      entry.answer = (await resp.clone().text()).slice(0, 400);
    }
    return resp;
  } catch (err) {
    entry.error = String(err);
    throw err;
  }
};

const calls = [];

// call runs fn as the report's entry name, with the requests it sent. An
// error is reported with its class, status, message and, for API errors,
// its type and retry-after header.
export async function call(name, fn) {
  const from = sent.length;
  const entry = { name };
  try {
    entry.result = await fn();
    entry.ok = true;
  } catch (err) {
    entry.ok = false;
    entry.error = {
      name: err?.name,
      class: err?.constructor?.name,
      status: err?.status,
      type: err?.error?.error?.type ?? err?.error?.type,
      retryAfter: err?.headers?.get?.('retry-after') ?? null,
      message: String(err?.message ?? err).slice(0, 600),
    };
  }
  entry.sent = sent.slice(from);
  calls.push(entry);
}

export function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
}

export async function version(pkg) {
  const { readFile } = await import('node:fs/promises');
  const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
  return JSON.parse(await readFile(url, 'utf8')).version;
}

export function report(extra) {
  process.stdout.write(JSON.stringify({ ...extra, node: process.version, calls }) + '\n');
}
