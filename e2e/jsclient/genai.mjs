// Drives the proxy with @google/genai as users set it up:
//   new GoogleGenAI({apiKey, httpOptions: {baseUrl}})
// GB_BASE_URL is the base URL, GB_TOKEN the client token, GB_API_VERSION
// (optional) the apiVersion option; without it the SDK's default is used.
import { call, env, report, version } from './record.mjs';
import { GoogleGenAI } from '@google/genai';

const baseUrl = env('GB_BASE_URL');
const apiKey = env('GB_TOKEN');
const opts = { apiKey, httpOptions: { baseUrl } };
if (process.env.GB_API_VERSION) opts.apiVersion = process.env.GB_API_VERSION;
const ai = new GoogleGenAI(opts);
const model = 'gemini-2.5-flash';

await call('generateContent', async () => {
  const r = await ai.models.generateContent({ model, contents: 'hi' });
  return { text: r.text };
});

await call('generateContentStream', async () => {
  let text = '';
  let chunks = 0;
  for await (const c of await ai.models.generateContentStream({ model, contents: 'hi' })) {
    text += c.text ?? '';
    chunks++;
  }
  return { text, chunks };
});

await call('countTokens', async () => {
  const r = await ai.models.countTokens({ model, contents: 'hi' });
  return { totalTokens: r.totalTokens };
});

await call('embedContent', async () => {
  const r = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['hello', 'world'] });
  return { embeddings: r.embeddings.length, dims: r.embeddings[0]?.values?.length ?? 0 };
});

for (const [name, params] of [['models.list', undefined], ['models.list pageSize 2', { config: { pageSize: 2 } }]]) {
  await call(name, async () => {
    const names = [];
    for await (const m of await ai.models.list(params)) names.push(m.name);
    return { names };
  });
}

await call('models.get', async () => {
  const m = await ai.models.get({ model: 'gemini-2.5-pro' });
  return { name: m.name, displayName: m.displayName };
});

// A function-calling round trip, by hand and through a chat (which keeps the
// model's turn, thought signature included, as the SDK does for users).
const tools = [{
  functionDeclarations: [{
    name: 'get_weather',
    description: 'Weather of a city',
    parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  }],
}];
for (const fcModel of ['gemini-2.5-flash', 'gemini-3-flash-preview']) {
  await call(`functionCalling ${fcModel}`, async () => {
    const user = { role: 'user', parts: [{ text: 'Weather in Paris?' }] };
    const first = await ai.models.generateContent({ model: fcModel, contents: [user], config: { tools } });
    const fc = first.functionCalls?.[0];
    if (!fc) throw new Error('no function call in ' + JSON.stringify(first.candidates));
    const second = await ai.models.generateContent({
      model: fcModel,
      config: { tools },
      contents: [user, first.candidates[0].content, {
        role: 'user',
        parts: [{ functionResponse: { id: fc.id, name: fc.name, response: { temperature: 21 } } }],
      }],
    });
    return { call: { name: fc.name, args: fc.args }, signed: !!first.candidates[0].content.parts.find((p) => p.functionCall)?.thoughtSignature, text: second.text };
  });
}
await call('chat functionCalling gemini-3-flash-preview', async () => {
  const chat = ai.chats.create({ model: 'gemini-3-flash-preview', config: { tools } });
  const first = await chat.sendMessage({ message: 'Weather in Paris?' });
  const fc = first.functionCalls?.[0];
  if (!fc) throw new Error('no function call');
  const second = await chat.sendMessage({ message: [{ functionResponse: { name: fc.name, response: { temperature: 21 } } }] });
  return { call: fc.name, text: second.text };
});

await call('unknown model', async () => {
  const r = await ai.models.generateContent({ model: 'no-such-model-xyz', contents: 'hi' });
  return { text: r.text };
});

report({ sdk: '@google/genai', version: await version('@google/genai'), baseUrl, apiVersion: process.env.GB_API_VERSION ?? '(default)' });
