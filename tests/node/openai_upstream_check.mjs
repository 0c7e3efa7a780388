// tests/node/openai_upstream_check.mjs — the official openai npm client against the local upstream.
// It proves the upstream speaks the protocol as that client understands it; exits 0/1.
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { startUpstream } from '../upstream/launch.mjs';

const KEY = 'sk-upstream-test';
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

let up;
let client; // maxRetries 0: every error surfaces as it is

const user = (content) => [{ role: 'user', content }];
const TOOLS = ['search', 'calc'].map((name) => ({
  type: 'function',
  function: {
    name,
    description: `${name} things`,
    parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
  },
}));

async function callLog() {
  const r = await fetch(`${up.base}/_control/calls`);
  return r.json();
}

test('chat: plain completion, usage', async () => {
  const c = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: user('hello world'),
  });
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0].message.content, 'echo: hello world');
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.deepEqual(c.usage, { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
  const log = await callLog();
  const last = log.calls[log.calls.length - 1];
  assert.equal(last.auth, true); // the client sent the key as a bearer token
  assert.equal(last.path, '/v1/chat/completions');
});

test('chat: streamed with include_usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'echo',
    stream: true,
    stream_options: { include_usage: true },
    messages: user('one two three'),
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const ch = chunk.choices[0];
    if (ch) {
      text += ch.delta.content || '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(text, 'echo: one two three');
  assert.equal(finish, 'stop');
  assert.equal(chunks, 6); // 4 words, the finish chunk, the usage chunk
  assert.deepEqual(usage, { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
});

test('chat: the stream helper assembles the final completion', async () => {
  const s = client.chat.completions.stream({ model: 'echo', messages: user('assemble me') });
  const deltas = [];
  s.on('content', (d) => deltas.push(d));
  const final = await s.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'echo: assemble me');
  assert.deepEqual(deltas, ['echo:', ' assemble', ' me']);
});

test('tool calls: streamed fragments are joined by index into two calls', async () => {
  const s = client.chat.completions.stream({
    model: 'tools',
    tools: TOOLS,
    messages: user('weather in Oslo'),
  });
  const final = await s.finalChatCompletion();
  const m = final.choices[0].message;
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(
    m.tool_calls.map((c) => [c.id, c.type, c.function.name, JSON.parse(c.function.arguments)]),
    [
      ['call_1', 'function', 'search', { q: 'weather in Oslo' }],
      ['call_2', 'function', 'calc', { q: 'weather in Oslo' }],
    ],
  );
  // Raw chunks too: every argument fragment carries the index of its call.
  const raw = await client.chat.completions.create({
    model: 'tools',
    stream: true,
    tools: TOOLS,
    messages: user('x'),
  });
  const args = ['', ''];
  for await (const chunk of raw) {
    for (const tc of chunk.choices[0]?.delta.tool_calls || [])
      args[tc.index] += tc.function?.arguments || '';
  }
  assert.deepEqual(args, ['{"q":"x"}', '{"q":"x"}']);
});

test('tool calls: runTools drives the whole loop to the final answer', async () => {
  const seen = [];
  const tools = TOOLS.map((t) => ({
    type: 'function',
    function: {
      ...t.function,
      parse: JSON.parse,
      function: (args) => {
        seen.push([t.function.name, args.q]);
        return `${t.function.name}(${args.q})`;
      },
    },
  }));
  const runner = client.chat.completions.runTools({ model: 'tools', tools, messages: user('q') });
  const content = await runner.finalContent();
  assert.deepEqual(seen, [
    ['search', 'q'],
    ['calc', 'q'],
  ]);
  assert.equal(content, 'done: search(q); calc(q)');
});

test('models: list and retrieve', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const id of ['echo', 'tools', 'gpt-4o-mini']) assert.ok(ids.includes(id), id);
  const m = await client.models.retrieve('echo');
  assert.equal(m.id, 'echo');
  await assert.rejects(client.models.retrieve('nope'), OpenAI.NotFoundError);
});

test('embeddings: the default base64 transport and floats agree', async () => {
  const dflt = await client.embeddings.create({
    model: 'text-embedding-3-small',
    input: ['alpha', 'beta'],
    dimensions: 16,
  });
  const floats = await client.embeddings.create({
    model: 'text-embedding-3-small',
    input: ['alpha', 'beta'],
    dimensions: 16,
    encoding_format: 'float',
  });
  assert.equal(dflt.data.length, 2);
  assert.equal(dflt.data[0].embedding.length, 16);
  assert.deepEqual(
    dflt.data.map((d) => Array.from(d.embedding)),
    floats.data.map((d) => d.embedding),
  );
  assert.notDeepEqual(floats.data[0].embedding, floats.data[1].embedding);
  assert.equal(dflt.usage.prompt_tokens, 3); // ceil(5/4) + ceil(4/4)
});

test('errors map onto the client error classes', async () => {
  const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${up.base}/v1`, maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'echo', messages: user('x') }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    return true;
  });
  await assert.rejects(
    client.chat.completions.create({ model: 'nope', messages: user('x') }),
    (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal(e.code, 'model_not_found');
      return true;
    },
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'rate-limit', messages: user('x') }),
    (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.headers.get('retry-after'), '1');
      assert.equal(e.headers.get('x-ratelimit-remaining-requests'), '0');
      assert.equal(e.code, 'rate_limit_exceeded');
      return true;
    },
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'server-error', messages: user('x') }),
    OpenAI.InternalServerError,
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'bad-gateway', messages: user('x') }),
    (e) => e.status === 502,
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'invalid-json', messages: user('x') }),
    SyntaxError,
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'hang', messages: user('x') }, { timeout: 300 }),
    OpenAI.APIConnectionTimeoutError,
  );
});

test('stream failures surface: mid-stream error event, dropped connection', async () => {
  const s = await client.chat.completions.create({
    model: 'midstream-error',
    stream: true,
    messages: user('x'),
  });
  let text = '';
  await assert.rejects(
    (async () => {
      for await (const c of s) text += c.choices[0]?.delta.content || '';
    })(),
    (e) => e instanceof OpenAI.APIError && /something went wrong/.test(e.message),
  );
  assert.equal(text, 'part1 part2');
  const d = await client.chat.completions.create({
    model: 'disconnect',
    stream: true,
    messages: user('x'),
  });
  await assert.rejects(async () => {
    for await (const c of d) void c;
  });
});

test('retries: the client retries a flaky model and the 429 Retry-After', async () => {
  const retrying = new OpenAI({ apiKey: KEY, baseURL: `${up.base}/v1`, maxRetries: 2 });
  const c = await retrying.chat.completions.create({
    model: 'flaky-2-openai',
    messages: user('again'),
  });
  assert.equal(c.choices[0].message.content, 'echo: again');
  const log = await callLog();
  assert.equal(log.calls.filter((x) => x.model === 'flaky-2-openai').length, 3);
  const before = (await callLog()).calls.filter((x) => x.model === 'rate-limit').length;
  const once = new OpenAI({ apiKey: KEY, baseURL: `${up.base}/v1`, maxRetries: 1 });
  const t0 = performance.now();
  await assert.rejects(
    once.chat.completions.create({ model: 'rate-limit', messages: user('x') }),
    OpenAI.RateLimitError,
  );
  assert.ok(performance.now() - t0 >= 900, 'the client did not wait for Retry-After: 1');
  const after = await callLog();
  assert.equal(after.calls.filter((x) => x.model === 'rate-limit').length, before + 2);
});

async function main() {
  up = await startUpstream(['--api-key', KEY]);
  client = new OpenAI({ apiKey: KEY, baseURL: `${up.base}/v1`, maxRetries: 0 });
  let passed = 0;
  let failed = 0;
  for (const t of tests) {
    try {
      await t.fn();
      passed++;
      console.log(`ok   ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}\n     ${(e && e.stack) || e}`);
    }
  }
  await up.stop();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`openai_upstream_check: ${(e && e.stack) || e}`);
  process.exit(1);
});
