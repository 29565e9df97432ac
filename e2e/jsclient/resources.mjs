// Drives the Files API, cached contents and batches with @google/genai as
// users set it up:
//   new GoogleGenAI({apiKey, httpOptions: {baseUrl}})
// GB_BASE_URL is the base URL, GB_TOKEN the API key (the proxy's client
// token, or a key when the script runs against the stand-in directly),
// GB_API_VERSION (optional) the apiVersion option; without it the SDK's
// default is used. GB_PAUSE (optional) is a file the script writes the
// names it made to, then waits for the test to remove, before the deletes.
//
// Besides what record.mjs records (method and path of each request), the
// report's upload calls return the X-Goog-Upload-URL the upload start
// answered with, as the SDK got it, and the full URL (host included) of each
// upload leg the SDK sent, since the SDK replaces the upload URL's scheme
// and host with its base URL's before it uses it.
import { call, env, report, version } from './record.mjs';
import { GoogleGenAI, createPartFromUri, createUserContent } from '@google/genai';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

// Full URLs and upload headers, recorded on top of record.mjs's fetch.
const wire = [];
const recorded = globalThis.fetch;
globalThis.fetch = async function wireFetch(input, init = {}) {
  const req = input instanceof Request ? input : null;
  const headers = new Headers(init.headers ?? req?.headers ?? {});
  const entry = {
    url: req ? req.url : String(input),
    method: (init.method ?? req?.method ?? 'GET').toUpperCase(),
    command: headers.get('x-goog-upload-command') ?? undefined,
    offset: headers.get('x-goog-upload-offset') ?? undefined,
  };
  wire.push(entry);
  const resp = await recorded(input, init);
  entry.status = resp.status;
  for (const h of ['x-goog-upload-url', 'x-goog-upload-status', 'x-goog-upload-control-url']) {
    const v = resp.headers.get(h);
    if (v !== null) entry[h] = v;
  }
  if (entry.command !== undefined) {
    // Every response header of an upload start or leg, for the test to
    // check none names the upstream or a key.
    entry.headers = Object.fromEntries(resp.headers);
  }
  return resp;
};

const baseUrl = env('GB_BASE_URL');
const apiKey = env('GB_TOKEN');
const opts = { apiKey, httpOptions: { baseUrl } };
if (process.env.GB_API_VERSION) opts.apiVersion = process.env.GB_API_VERSION;
const ai = new GoogleGenAI(opts);
const model = 'gemini-2.5-flash';

// A deterministic text of n bytes.
function text(n, seed) {
  const line = `${seed}: the quick brown fox jumps over the lazy dog 0123456789\n`;
  return line.repeat(Math.ceil(n / line.length)).slice(0, n);
}

const dir = await mkdtemp(join(tmpdir(), 'gb-resources-'));
const pathBytes = 3 * 1024 * 1024 + 123; // one leg ("upload, finalize")
const blobBytes = 8 * 1024 * 1024 + 4096; // two legs of the SDK's 8 MiB chunks
const filePath = join(dir, 'notes.txt');
await writeFile(filePath, text(pathBytes, 'path'));
const blob = new Blob([text(blobBytes, 'blob')], { type: 'text/plain' });
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const contentSHA256 = { path: sha256(text(pathBytes, 'path')), blob: sha256(text(blobBytes, 'blob')) };

// uploaded is what an upload call returns: the file, the upload URL the
// start answered with, and the legs the SDK sent.
function uploaded(file, from, content) {
  const calls = wire.slice(from);
  const start = calls.find((c) => c['x-goog-upload-url'] !== undefined);
  return {
    name: file.name, uri: file.uri, mimeType: file.mimeType, sizeBytes: file.sizeBytes,
    displayName: file.displayName, state: file.state, sha256Hash: file.sha256Hash,
    contentSHA256: contentSHA256[content],
    uploadURL: start?.['x-goog-upload-url'] ?? null,
    controlURL: start?.['x-goog-upload-control-url'] ?? null,
    startURL: start?.url ?? null,
    startHeaders: start?.headers ?? {},
    legs: calls.filter((c) => c !== start && c.command !== undefined).map((c) => ({
      url: c.url, method: c.method, command: c.command, offset: c.offset, status: c.status,
      uploadStatus: c['x-goog-upload-status'] ?? null, headers: c.headers,
    })),
  };
}

let fileA; // the 3 MiB file uploaded from a path
let fileB; // the 8 MiB + 4 KiB file uploaded from a Blob
await call('files.upload path', async () => {
  const from = wire.length;
  fileA = await ai.files.upload({ file: filePath, config: { mimeType: 'text/plain', displayName: 'notes from a path' } });
  return uploaded(fileA, from, 'path');
});
await call('files.upload blob', async () => {
  const from = wire.length;
  fileB = await ai.files.upload({ file: blob, config: { mimeType: 'text/plain', displayName: 'notes from a blob' } });
  return uploaded(fileB, from, 'blob');
});

await call('files.get', async () => {
  const f = await ai.files.get({ name: fileA.name });
  return { name: f.name, uri: f.uri, mimeType: f.mimeType, sizeBytes: f.sizeBytes, displayName: f.displayName, state: f.state };
});

for (const [name, params] of [['files.list', undefined], ['files.list pageSize 1', { config: { pageSize: 1 } }]]) {
  await call(name, async () => {
    const names = [];
    for await (const f of await ai.files.list(params)) names.push(f.name);
    return { names };
  });
}

await call('generateContent file', async () => {
  const r = await ai.models.generateContent({
    model,
    contents: createUserContent([createPartFromUri(fileA.uri, fileA.mimeType), 'Summarize the notes.']),
  });
  return { text: r.text };
});

await call('generateContent file blob', async () => {
  const r = await ai.models.generateContent({
    model,
    contents: createUserContent([createPartFromUri(fileB.uri, fileB.mimeType), 'Summarize the notes.']),
  });
  return { text: r.text };
});

let cache;
await call('caches.create', async () => {
  cache = await ai.caches.create({
    model,
    config: {
      contents: [createUserContent([createPartFromUri(fileA.uri, fileA.mimeType), 'These are my notes.'])],
      systemInstruction: 'Answer from the notes.',
      displayName: 'notes cache',
      ttl: '300s',
    },
  });
  return { name: cache.name, model: cache.model, displayName: cache.displayName, expireTime: cache.expireTime };
});

await call('generateContent cachedContent', async () => {
  const r = await ai.models.generateContent({ model, contents: 'What do the notes say?', config: { cachedContent: cache.name } });
  return { text: r.text, cachedContentTokenCount: r.usageMetadata?.cachedContentTokenCount ?? 0 };
});

await call('caches.get', async () => {
  const c = await ai.caches.get({ name: cache.name });
  return { name: c.name, model: c.model, expireTime: c.expireTime };
});

await call('caches.update', async () => {
  const c = await ai.caches.update({ name: cache.name, config: { ttl: '600s' } });
  return { name: c.name, expireTime: c.expireTime, before: cache.expireTime };
});

await call('caches.list', async () => {
  const names = [];
  for await (const c of await ai.caches.list()) names.push(c.name);
  return { names };
});

let batch;
await call('batches.create', async () => {
  batch = await ai.batches.create({
    model,
    src: [
      { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
      { contents: [createUserContent([createPartFromUri(fileA.uri, fileA.mimeType), 'Summarize the notes.'])] },
    ],
    config: { displayName: 'notes batch' },
  });
  return { name: batch.name, state: batch.state, displayName: batch.displayName };
});

await call('batches.get until done', async () => {
  const done = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED']);
  let b;
  let polls = 0;
  const states = [];
  do {
    if (polls > 0) await new Promise((r) => setTimeout(r, 50));
    b = await ai.batches.get({ name: batch.name });
    states.push(b.state);
    polls++;
  } while (!done.has(b.state) && polls < 20);
  const inlined = b.dest?.inlinedResponses ?? [];
  return {
    name: b.name, state: b.state, states, polls,
    // Plain objects, not GenerateContentResponse: no .text getter.
    texts: inlined.map((r) => r.response?.candidates?.[0]?.content?.parts?.map((p) => p.text ?? '').join('') ?? null),
    errors: inlined.map((r) => r.error ?? null).filter((e) => e),
  };
});

await call('batches.list', async () => {
  const names = [];
  for await (const b of await ai.batches.list()) names.push(b.name);
  return { names };
});

// With GB_PAUSE set, the script writes the names it made to that file and
// waits until the test removes it, so the test can ask the stand-in which
// key owns each before the deletes make it forget them.
if (process.env.GB_PAUSE) {
  const { access } = await import('node:fs/promises');
  await writeFile(process.env.GB_PAUSE, JSON.stringify({
    files: [fileA?.name, fileB?.name].filter(Boolean), cache: cache?.name ?? null, batch: batch?.name ?? null,
  }));
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      await access(process.env.GB_PAUSE);
    } catch {
      break;
    }
    if (Date.now() > deadline) {
      console.error('GB_PAUSE: the test never removed ' + process.env.GB_PAUSE);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

await call('batches.delete', async () => {
  await ai.batches.delete({ name: batch.name });
  return { name: batch.name };
});

await call('caches.delete', async () => {
  await ai.caches.delete({ name: cache.name });
  return { name: cache.name };
});

for (const [name, file] of [['files.delete', () => fileA], ['files.delete blob', () => fileB]]) {
  await call(name, async () => {
    await ai.files.delete({ name: file().name });
    return { name: file().name };
  });
}

// Gone: the SDK raises.
await call('files.get deleted', async () => {
  const f = await ai.files.get({ name: fileA.name });
  return { name: f.name };
});

await rm(dir, { recursive: true, force: true });

report({ sdk: '@google/genai', version: await version('@google/genai'), baseUrl, apiVersion: process.env.GB_API_VERSION ?? '(default)' });
