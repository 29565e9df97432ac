// Drives the proxy with the newest @google/genai and openai SDKs while the
// site's Gemini keys are all rate-limited, so an OpenAI-compatible fallback
// pool answers: Gemini-native calls are translated, OpenAI calls pass through.
// GB_BASE_URL is the proxy's root, GB_TOKEN the client token.
import { call, env, report, version } from './record.mjs';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';

const baseUrl = env('GB_BASE_URL');
const apiKey = env('GB_TOKEN');
const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl } });
const model = 'gemini-2.5-flash';

await call('genai generateContent', async () => {
  const r = await ai.models.generateContent({ model, contents: 'plain' });
  return { text: r.text, finish: r.candidates?.[0]?.finishReason, total: r.usageMetadata?.totalTokenCount ?? 0 };
});

await call('genai generateContentStream', async () => {
  let text = '';
  let chunks = 0;
  let finish = '';
  for await (const c of await ai.models.generateContentStream({ model, contents: 'streamed' })) {
    text += c.text ?? '';
    chunks++;
    finish = c.candidates?.[0]?.finishReason ?? finish;
  }
  return { text, chunks, finish };
});

await call('genai chat functionCalling', async () => {
  const tools = [{
    functionDeclarations: [{
      name: 'get_weather',
      description: 'Weather of a city',
      parametersJsonSchema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
    }],
  }];
  const chat = ai.chats.create({ model, config: { tools } });
  const first = await chat.sendMessage({ message: 'Weather in Paris?' });
  const fc = first.functionCalls?.[0];
  if (!fc) throw new Error('no function call: ' + JSON.stringify(first));
  const second = await chat.sendMessage({ message: [{ functionResponse: { id: fc.id, name: fc.name, response: { result: 'sunny' } } }] });
  return { call: fc.name, args: fc.args, text: second.text };
});

const openai = new OpenAI({ apiKey, baseURL: baseUrl + '/v1', maxRetries: 0 });

await call('openai chat', async () => {
  const r = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  return { text: r.choices[0].message.content, model: r.model };
});

await call('openai chat stream', async () => {
  let text = '';
  let chunks = 0;
  const s = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
  for await (const c of s) {
    text += c.choices[0]?.delta?.content ?? '';
    chunks++;
  }
  return { text, chunks };
});

report({ sdk: '@google/genai + openai', version: `${await version('@google/genai')} / ${await version('openai')}`, baseUrl });
