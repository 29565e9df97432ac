// Drives the proxy's Messages API with @anthropic-ai/sdk as its users set it
// up: new Anthropic({apiKey, baseURL: <proxy root>}). GB_BASE_URL is the
// proxy's root URL, GB_TOKEN the client token, GB_IMAGE a base64 PNG.
// GB_PHASE=ratelimited runs only the call made while every key is cooling.
import { call, env, report, version } from './record.mjs';
import Anthropic from '@anthropic-ai/sdk';

const baseURL = env('GB_BASE_URL').replace(/\/$/, '');
const apiKey = env('GB_TOKEN');
// No retries: a 429 or 5xx must reach the report as the proxy answered it,
// not be retried after retry-after.
const client = new Anthropic({ apiKey, baseURL, maxRetries: 0 });
const model = 'claude-sonnet-4-5';
const hi = [{ role: 'user', content: 'hi' }];
const weather = {
  name: 'get_weather',
  description: 'The weather in a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

// blocks keeps what the test checks of content blocks.
const blocks = (content) => content.map((b) => ({
  type: b.type, text: b.text, thinking: b.thinking, signature: b.signature, id: b.id, name: b.name, input: b.input,
}));

if (process.env.GB_PHASE === 'ratelimited') {
  await call('rate limited', async () => {
    const r = await client.messages.create({ model, max_tokens: 64, messages: hi });
    return { content: blocks(r.content) };
  });
  report({ sdk: '@anthropic-ai/sdk', version: await version('@anthropic-ai/sdk') });
  process.exit(0);
}

await call('messages.create', async () => {
  const r = await client.messages.create({ model, max_tokens: 256, system: 'Be brief.', messages: hi });
  return { id: r.id, type: r.type, role: r.role, model: r.model, stop_reason: r.stop_reason, content: blocks(r.content), usage: r.usage };
});

await call('messages.stream', async () => {
  const stream = client.messages.stream({ model, max_tokens: 256, messages: hi });
  const events = [];
  let deltas = '';
  for await (const ev of stream) {
    events.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') deltas += ev.delta.text;
  }
  const m = await stream.finalMessage();
  return { events, deltas, text: await stream.finalText(), stop_reason: m.stop_reason, content: blocks(m.content), usage: m.usage };
});

await call('tool loop', async () => {
  const user = { role: 'user', content: 'What is the weather in Paris?' };
  const first = await client.messages.create({ model, max_tokens: 256, tools: [weather], messages: [user] });
  const use = first.content.find((b) => b.type === 'tool_use');
  if (!use) throw new Error('no tool_use in ' + JSON.stringify(first.content));
  const second = await client.messages.create({
    model, max_tokens: 256, tools: [weather], messages: [
      user,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] },
    ],
  });
  return {
    first: { stop_reason: first.stop_reason, content: blocks(first.content) },
    second: { stop_reason: second.stop_reason, content: blocks(second.content) },
  };
});

await call('streamed tool call', async () => {
  const stream = client.messages.stream({ model, max_tokens: 256, tools: [weather], messages: [{ role: 'user', content: 'Weather in Paris?' }] });
  const events = [];
  const partial = [];
  for await (const ev of stream) {
    events.push(ev.type === 'content_block_delta' ? ev.delta.type : ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') partial.push(ev.delta.partial_json);
  }
  const m = await stream.finalMessage();
  return { events, partial, stop_reason: m.stop_reason, content: blocks(m.content) };
});

// claude-opus is mapped to a Gemini 3 model by claude_model in the test's
// Caddyfile: its function calls carry thought signatures that must come back.
await call('thinking with signature', async () => {
  const opus = 'claude-opus-4-1';
  const thinking = { type: 'enabled', budget_tokens: 2048 };
  const user = { role: 'user', content: 'What is the weather in Paris?' };
  const first = await client.messages.create({ model: opus, max_tokens: 4096, thinking, tools: [weather], messages: [user] });
  const use = first.content.find((b) => b.type === 'tool_use');
  if (!use) throw new Error('no tool_use in ' + JSON.stringify(first.content));
  const second = await client.messages.create({
    model: opus, max_tokens: 4096, thinking, tools: [weather], messages: [
      user,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] },
    ],
  });
  return {
    first: { stop_reason: first.stop_reason, content: blocks(first.content), usage: first.usage },
    second: { stop_reason: second.stop_reason, content: blocks(second.content) },
  };
});

await call('image', async () => {
  const r = await client.messages.create({
    model, max_tokens: 256, messages: [{
      role: 'user', content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: env('GB_IMAGE') } },
        { type: 'text', text: 'What is in this image?' },
      ],
    }],
  });
  return { stop_reason: r.stop_reason, content: blocks(r.content) };
});

await call('messages.countTokens', async () => {
  const r = await client.messages.countTokens({ model: 'claude-haiku-4-5', system: 'Be brief.', messages: hi });
  return r;
});

await call('bad token', async () => {
  const bad = new Anthropic({ apiKey: 'sk-not-a-client-token', baseURL, maxRetries: 0 });
  return await bad.messages.create({ model, max_tokens: 64, messages: hi });
});

await call('bad request', async () => {
  return await client.messages.create({ model, max_tokens: 64, messages: [] });
});

report({ sdk: '@anthropic-ai/sdk', version: await version('@anthropic-ai/sdk') });
