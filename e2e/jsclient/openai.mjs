// Drives the proxy with the openai package as users set it up:
//   new OpenAI({apiKey, baseURL: root + '/v1'}) (translated) and
//   new OpenAI({apiKey, baseURL: root + '/openai/v1'}) (passed through).
// GB_BASE_URL is the proxy's root URL, GB_TOKEN the client token.
import { call, env, report, version } from './record.mjs';
import OpenAI from 'openai';

const root = env('GB_BASE_URL').replace(/\/$/, '');
const apiKey = env('GB_TOKEN');
const model = 'gemini-2.5-flash';
const messages = [{ role: 'user', content: 'hi' }];

for (const [family, baseURL] of [['v1', root + '/v1'], ['openai/v1', root + '/openai/v1']]) {
  const client = new OpenAI({ apiKey, baseURL });

  await call(`${family} chat.completions.create`, async () => {
    const r = await client.chat.completions.create({ model, messages });
    return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason };
  });

  await call(`${family} chat.completions.create stream`, async () => {
    let text = '';
    let finish = null;
    let chunks = 0;
    const stream = await client.chat.completions.create({ model, messages, stream: true });
    for await (const c of stream) {
      chunks++;
      text += c.choices[0]?.delta?.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    return { text, finish, chunks };
  });

  await call(`${family} models.list`, async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return { ids };
  });

  await call(`${family} embeddings.create`, async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-004', input: ['hello', 'world'] });
    return { data: r.data.length, dims: r.data[0]?.embedding?.length ?? 0 };
  });

  await call(`${family} unknown model`, async () => {
    const r = await client.chat.completions.create({ model: 'no-such-model-xyz', messages });
    return { text: r.choices[0].message.content };
  });
}

report({ sdk: 'openai', version: await version('openai') });
