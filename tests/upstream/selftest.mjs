// tests/upstream/selftest.mjs — checks every behaviour of llm_upstream.js over HTTP/1.1 and HTTP/2; exits 0/1.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

import { UPSTREAM_JS, startUpstream } from './launch.mjs';

// ---------------------------------------------------------------------------------------------
// A tiny runner: named async checks, a summary line the CI reads, exit code 0/1.

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

let up; // the plain upstream most checks use
let base;

async function post(path, body, { headers = {}, signal, raw = false } = {}) {
  return fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw ? body : JSON.stringify(body),
    signal,
  });
}

const user = (content) => [{ role: 'user', content }];

const TOOLS = ['search', 'calc', 'third'].map((name) => ({
  type: 'function',
  function: {
    name,
    description: name,
    parameters: { type: 'object', properties: { q: { type: 'string' } } },
  },
}));

async function json(res) {
  return JSON.parse(await res.text());
}

/** Yields each SSE data payload with its arrival time, until the body ends. */
async function* sseEvents(res) {
  const dec = new TextDecoder();
  let buf = '';
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      assert.ok(ev.startsWith('data: '), `SSE event without data: ${ev}`);
      yield { data: ev.slice(6), t: performance.now() };
    }
  }
  assert.equal(buf, '', 'SSE body ended inside an event');
}

/** Yields each NDJSON line (parsed) with its arrival time. */
async function* ndjsonLines(res) {
  const dec = new TextDecoder();
  let buf = '';
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      yield { obj: JSON.parse(line), t: performance.now() };
    }
  }
  assert.equal(buf, '', 'NDJSON body ended inside a line');
}

async function collectSse(res) {
  const out = [];
  for await (const e of sseEvents(res)) out.push(e);
  return out;
}

async function collectNdjson(res) {
  const out = [];
  for await (const l of ndjsonLines(res)) out.push(l);
  return out;
}

/** Parses SSE events into chunks; asserts the stream ends with exactly one [DONE]. */
function chunksOf(events) {
  assert.ok(events.length > 0, 'no events');
  assert.equal(events[events.length - 1].data, '[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e.data));
}

async function calls() {
  const r = await fetch(`${base}/_control/calls`);
  assert.equal(r.status, 200);
  return json(r);
}

async function reset() {
  const r = await fetch(`${base}/_control/reset`, { method: 'POST' });
  assert.equal(r.status, 200);
}

const since = (t0) => performance.now() - t0;

// ---------------------------------------------------------------------------------------------
// Start-up and control

test('prints exactly one port line', async () => {
  assert.match(up.firstLine, /^\{"port":\d+,"tls":false\}\n$/);
  assert.ok(up.port > 0);
});

test('control: calls are logged with path, model, stream, http, auth, t; reset clears', async () => {
  await reset();
  const t0 = Date.now();
  await (await post('/v1/chat/completions', { model: 'echo', messages: user('a') })).text();
  await (await post('/api/chat', { model: 'echo', messages: user('a') })).text();
  await (await post('/api/chat', { model: 'echo', stream: false, messages: user('a') })).text();
  await (await fetch(`${base}/v1/models`)).text();
  const log = await calls();
  assert.equal(log.total, 4);
  assert.equal(log.calls.length, 4);
  assert.deepEqual(Object.keys(log.calls[0]).sort(), [
    'auth',
    'http',
    'model',
    'path',
    'stream',
    't',
  ]);
  assert.deepEqual(
    log.calls.map((c) => [c.path, c.model, c.stream, c.http, c.auth]),
    [
      ['/v1/chat/completions', 'echo', false, '1.1', false],
      ['/api/chat', 'echo', true, '1.1', false],
      ['/api/chat', 'echo', false, '1.1', false],
      ['/v1/models', null, false, '1.1', false],
    ],
  );
  for (const c of log.calls) assert.ok(c.t >= t0 - 5 && c.t <= Date.now() + 5, `t ${c.t}`);
  await reset();
  assert.deepEqual(await calls(), { total: 0, calls: [] });
});

test('control: a bearer token counts as auth when no --api-key is set', async () => {
  await reset();
  await (
    await post(
      '/v1/chat/completions',
      { model: 'echo', messages: user('a') },
      { headers: { authorization: 'Bearer anything' } },
    )
  ).text();
  const log = await calls();
  assert.equal(log.calls[0].auth, true);
});

// ---------------------------------------------------------------------------------------------
// OpenAI: echo

test('openai echo: reply, usage and shape', async () => {
  const messages = [
    { role: 'system', content: 'You are terse.' }, // 14 chars
    { role: 'user', content: 'hello brave new world' }, // 21 chars
  ];
  const r = await post('/v1/chat/completions', { model: 'echo', messages });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const b = await json(r);
  assert.equal(b.object, 'chat.completion');
  assert.equal(b.model, 'echo');
  assert.match(b.id, /^chatcmpl-/);
  assert.equal(typeof b.created, 'number');
  assert.equal(b.choices.length, 1);
  assert.equal(b.choices[0].index, 0);
  assert.equal(b.choices[0].finish_reason, 'stop');
  assert.equal(b.choices[0].message.role, 'assistant');
  assert.equal(b.choices[0].message.content, 'echo: hello brave new world');
  assert.deepEqual(b.usage, { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 });
});

test('openai echo: last user message, content parts, unicode chars, minimum one prompt token', async () => {
  let b = await json(
    await post('/v1/chat/completions', {
      model: 'echo',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'x' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'sec' },
            { type: 'text', text: 'ond' },
          ],
        },
      ],
    }),
  );
  assert.equal(b.choices[0].message.content, 'echo: second');
  assert.equal(b.usage.prompt_tokens, 3); // 5 + 1 + 6 chars
  b = await json(await post('/v1/chat/completions', { model: 'echo', messages: user('') }));
  assert.equal(b.choices[0].message.content, 'echo: ');
  assert.deepEqual(b.usage, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
  b = await json(await post('/v1/chat/completions', { model: 'echo', messages: user('éééé€') }));
  assert.equal(b.usage.prompt_tokens, 2); // 5 characters, not 6 UTF-16 units or 11 bytes
});

test('openai echo aliases: gpt-*, llama*, m-*; other names are unknown', async () => {
  for (const model of ['gpt-4o-mini', 'llama3.2', 'm-anything']) {
    const b = await json(await post('/v1/chat/completions', { model, messages: user('hi') }));
    assert.equal(b.choices[0].message.content, 'echo: hi', model);
    assert.equal(b.model, model);
  }
  // They echo even when the request offers tools: only the tools model calls them.
  const t = await json(
    await post('/v1/chat/completions', { model: 'gpt-4o', tools: TOOLS, messages: user('hi') }),
  );
  assert.equal(t.choices[0].message.content, 'echo: hi');
  assert.equal(t.choices[0].message.tool_calls, undefined);
  for (const model of ['gpt', 'mistral', 'ECHO', 'echo2']) {
    const r = await post('/v1/chat/completions', { model, messages: user('hi') });
    assert.equal(r.status, 404, model);
  }
});

test('openai echo streamed: one chunk per word, role first, finish stop, [DONE], no usage', async () => {
  const r = await post('/v1/chat/completions', {
    model: 'echo',
    stream: true,
    messages: user('one two  three'),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const chunks = chunksOf(await collectSse(r));
  const content = chunks.filter((c) => c.choices[0] && c.choices[0].delta.content);
  assert.equal(content.length, 4); // "echo:", " one", " two", "  three"
  assert.equal(content.map((c) => c.choices[0].delta.content).join(''), 'echo: one two  three');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  for (const c of chunks.slice(1)) assert.equal(c.choices[0].delta.role, undefined);
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, chunks[0].id);
    assert.equal('usage' in c, false);
  }
  const last = chunks[chunks.length - 1];
  assert.equal(last.choices[0].finish_reason, 'stop');
  assert.deepEqual(last.choices[0].delta, {});
  for (const c of chunks.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
});

test('openai echo streamed with include_usage: final usage chunk with empty choices', async () => {
  const r = await post('/v1/chat/completions', {
    model: 'echo',
    stream: true,
    stream_options: { include_usage: true },
    messages: user('one two'), // 7 chars -> 2 tokens
  });
  const chunks = chunksOf(await collectSse(r));
  const u = chunks[chunks.length - 1];
  assert.deepEqual(u.choices, []);
  assert.deepEqual(u.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
  assert.equal(chunks[chunks.length - 2].choices[0].finish_reason, 'stop');
});

// ---------------------------------------------------------------------------------------------
// Errors of the request itself

test('unknown model: OpenAI 404 model_not_found, Ollama 404 with the pull hint', async () => {
  let r = await post('/v1/chat/completions', { model: 'nope', messages: user('x') });
  assert.equal(r.status, 404);
  const b = await json(r);
  assert.deepEqual(Object.keys(b.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(b.error.code, 'model_not_found');
  assert.equal(b.error.type, 'invalid_request_error');
  assert.equal(b.error.param, null);
  assert.match(b.error.message, /nope/);
  r = await post('/api/chat', { model: 'x', messages: user('x') });
  assert.equal(r.status, 404);
  assert.equal(await r.text(), '{"error":"model \\"x\\" not found, try pulling it first"}');
  r = await post('/v1/embeddings', { model: 'nope', input: 'x' });
  assert.equal(r.status, 404);
  r = await post('/api/embed', { model: 'nope', input: 'x' });
  assert.equal(r.status, 404);
});

test('malformed JSON and bad requests: 400', async () => {
  for (const p of ['/v1/chat/completions', '/v1/embeddings', '/api/chat', '/api/embed']) {
    for (const bad of ['{"model":', 'not json', '[1,2]', '"str"', '']) {
      const r = await post(p, bad, { raw: true });
      assert.equal(r.status, 400, `${p} ${bad}`);
      const b = await json(r);
      assert.ok(
        p.startsWith('/v1/') ? typeof b.error.message === 'string' : typeof b.error === 'string',
      );
    }
  }
  let r = await post('/v1/chat/completions', { messages: user('x') });
  assert.equal(r.status, 400);
  r = await post('/v1/chat/completions', { model: 'echo' });
  assert.equal(r.status, 400);
  r = await post('/v1/chat/completions', { model: 'echo', messages: [] });
  assert.equal(r.status, 400);
  r = await post('/api/chat', { messages: user('x') });
  assert.equal(r.status, 400);
  r = await post('/api/chat', { model: 'echo', messages: 'x' });
  assert.equal(r.status, 400);
});

test('unknown paths and methods', async () => {
  assert.equal((await fetch(`${base}/v1/nothing`)).status, 404);
  assert.equal((await fetch(`${base}/api/nothing`)).status, 404);
  assert.equal((await fetch(`${base}/v1/chat/completions`)).status, 405);
  assert.equal((await fetch(`${base}/api/chat`)).status, 405);
  assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
});

// ---------------------------------------------------------------------------------------------
// Models and embeddings

test('openai models: list and one model', async () => {
  const b = await json(await fetch(`${base}/v1/models`));
  assert.equal(b.object, 'list');
  const ids = b.data.map((m) => m.id);
  for (const id of ['echo', 'tools', 'rate-limit', 'hang', 'gpt-4o-mini'])
    assert.ok(ids.includes(id), id);
  assert.equal(b.data[0].object, 'model');
  const one = await json(await fetch(`${base}/v1/models/gpt-4o`));
  assert.equal(one.id, 'gpt-4o');
  assert.equal((await fetch(`${base}/v1/models/nope`)).status, 404);
});

test('ollama tags', async () => {
  const b = await json(await fetch(`${base}/api/tags`));
  const names = b.models.map((m) => m.name);
  assert.ok(names.includes('echo:latest'));
  assert.ok(names.includes('tools:latest'));
  assert.equal(typeof b.models[0].details.family, 'string');
  // A listed name works as it is.
  const c = await json(
    await post('/api/chat', { model: 'echo:latest', stream: false, messages: user('hi') }),
  );
  assert.equal(c.message.content, 'echo: hi');
});

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

test('openai embeddings: deterministic unit vectors, dimensions, arrays, base64', async () => {
  const r = await post('/v1/embeddings', { model: 'text-embedding-3-small', input: 'hello' });
  assert.equal(r.status, 200);
  const b = await json(r);
  assert.equal(b.object, 'list');
  assert.equal(b.model, 'text-embedding-3-small');
  assert.equal(b.data.length, 1);
  assert.equal(b.data[0].object, 'embedding');
  assert.equal(b.data[0].index, 0);
  const v = b.data[0].embedding;
  assert.equal(v.length, 8);
  assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  assert.deepEqual(b.usage, { prompt_tokens: 2, total_tokens: 2 });

  const again = await json(
    await post('/v1/embeddings', {
      model: 'echo',
      input: ['hello', 'world', 'hello'],
      dimensions: 8,
    }),
  );
  assert.deepEqual(
    again.data.map((d) => d.index),
    [0, 1, 2],
  );
  assert.deepEqual(again.data[0].embedding, v);
  assert.deepEqual(again.data[2].embedding, v);
  assert.notDeepEqual(again.data[1].embedding, v);

  const small = await json(
    await post('/v1/embeddings', { model: 'echo', input: 'hello', dimensions: 3 }),
  );
  assert.equal(small.data[0].embedding.length, 3);
  const big = await json(
    await post('/v1/embeddings', { model: 'echo', input: 'hello', dimensions: 1536 }),
  );
  assert.equal(big.data[0].embedding.length, 1536);
  assert.ok(Math.abs(norm(big.data[0].embedding) - 1) < 1e-4);

  const b64 = await json(
    await post('/v1/embeddings', { model: 'echo', input: 'hello', encoding_format: 'base64' }),
  );
  const buf = Buffer.from(b64.data[0].embedding, 'base64');
  assert.equal(buf.length, 8 * 4);
  assert.deepEqual(Array.from(new Float32Array(buf.buffer, buf.byteOffset, 8)), v);

  for (const bad of [
    { input: 'x', dimensions: 0 },
    { input: 'x', dimensions: 1.5 },
    { input: [] },
    {},
    { input: [{}] },
    { input: 'x', encoding_format: 'hex' },
  ]) {
    const e = await post('/v1/embeddings', { model: 'echo', ...bad });
    assert.equal(e.status, 400, JSON.stringify(bad));
  }
});

test('ollama embed: same vectors as the OpenAI endpoint; legacy /api/embeddings', async () => {
  const oa = await json(await post('/v1/embeddings', { model: 'echo', input: ['a', 'b'] }));
  const r = await post('/api/embed', { model: 'nomic-embed-text', input: ['a', 'b'] });
  assert.equal(r.status, 200);
  const b = await json(r);
  assert.equal(b.model, 'nomic-embed-text');
  assert.deepEqual(
    b.embeddings,
    oa.data.map((d) => d.embedding),
  );
  const one = await json(await post('/api/embed', { model: 'echo', input: 'a', dimensions: 5 }));
  assert.equal(one.embeddings.length, 1);
  assert.equal(one.embeddings[0].length, 5);
  const legacy = await json(await post('/api/embeddings', { model: 'echo', prompt: 'a' }));
  assert.deepEqual(legacy.embedding, oa.data[0].embedding);
  assert.equal((await post('/api/embed', { model: 'echo' })).status, 400);
});

// ---------------------------------------------------------------------------------------------
// Tools

test('openai tools: one call per tool (up to 2), then done: results', async () => {
  const messages = user('find "it"');
  const b = await json(
    await post('/v1/chat/completions', { model: 'tools', tools: TOOLS, messages }),
  );
  const m = b.choices[0].message;
  assert.equal(b.choices[0].finish_reason, 'tool_calls');
  assert.equal(m.content, null);
  assert.equal(m.tool_calls.length, 2);
  assert.deepEqual(
    m.tool_calls.map((c) => [c.id, c.type, c.function.name, JSON.parse(c.function.arguments)]),
    [
      ['call_1', 'function', 'search', { q: 'find "it"' }],
      ['call_2', 'function', 'calc', { q: 'find "it"' }],
    ],
  );
  const one = await json(
    await post('/v1/chat/completions', { model: 'tools', tools: TOOLS.slice(0, 1), messages }),
  );
  assert.equal(one.choices[0].message.tool_calls.length, 1);

  const after = [
    ...messages,
    m,
    { role: 'tool', tool_call_id: 'call_1', content: 'r1' },
    { role: 'tool', tool_call_id: 'call_2', content: 'r2' },
  ];
  const d = await json(
    await post('/v1/chat/completions', { model: 'tools', tools: TOOLS, messages: after }),
  );
  assert.equal(d.choices[0].finish_reason, 'stop');
  assert.equal(d.choices[0].message.content, 'done: r1; r2');
  const none = await json(await post('/v1/chat/completions', { model: 'tools', messages }));
  assert.equal(none.choices[0].message.content, 'echo: find "it"');
});

test('openai tools streamed: 3 argument fragments per call, joined by index', async () => {
  const r = await post('/v1/chat/completions', {
    model: 'tools',
    stream: true,
    tools: TOOLS,
    messages: user('q1'),
  });
  const chunks = chunksOf(await collectSse(r));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const calls = [];
  const frags = [0, 0];
  for (const c of chunks) {
    for (const tc of c.choices[0].delta.tool_calls || []) {
      if (tc.id) {
        assert.equal(calls[tc.index], undefined);
        calls[tc.index] = { id: tc.id, name: tc.function.name, args: tc.function.arguments };
        assert.equal(tc.type, 'function');
      } else {
        assert.ok(tc.function.arguments.length > 0, 'empty argument fragment');
        calls[tc.index].args += tc.function.arguments;
        frags[tc.index]++;
      }
    }
  }
  assert.deepEqual(frags, [3, 3]);
  assert.deepEqual(calls, [
    { id: 'call_1', name: 'search', args: '{"q":"q1"}' },
    { id: 'call_2', name: 'calc', args: '{"q":"q1"}' },
  ]);
  assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'tool_calls');

  const r2 = await post('/v1/chat/completions', {
    model: 'tools',
    stream: true,
    tools: TOOLS,
    messages: [
      ...user('q1'),
      { role: 'assistant', content: null, tool_calls: [] },
      { role: 'tool', tool_call_id: 'call_1', content: 'only' },
    ],
  });
  const c2 = chunksOf(await collectSse(r2));
  assert.equal(c2.map((c) => c.choices[0].delta.content || '').join(''), 'done: only');
});

test('ollama tools: arguments as an object, streamed and not', async () => {
  const b = await json(
    await post('/api/chat', { model: 'tools', stream: false, tools: TOOLS, messages: user('w') }),
  );
  assert.equal(b.done, true);
  const tc = b.message.tool_calls;
  assert.equal(tc.length, 2);
  assert.deepEqual(tc[0].function.arguments, { q: 'w' });
  assert.equal(tc[0].function.name, 'search');
  assert.equal(tc[1].function.name, 'calc');
  const lines = (
    await collectNdjson(
      await post('/api/chat', { model: 'tools', tools: TOOLS, messages: user('w') }),
    )
  ).map((l) => l.obj);
  assert.deepEqual(lines[0].message.tool_calls[1].function.arguments, { q: 'w' });
  assert.equal(lines[lines.length - 1].done, true);
  const d = await json(
    await post('/api/chat', {
      model: 'tools',
      stream: false,
      tools: TOOLS,
      messages: [
        ...user('w'),
        b.message,
        { role: 'tool', content: 'x1' },
        { role: 'tool', content: 'x2' },
      ],
    }),
  );
  assert.equal(d.message.content, 'done: x1; x2');
});

// ---------------------------------------------------------------------------------------------
// Ollama chat

test('ollama chat: NDJSON stream by default, done line with counts', async () => {
  const r = await post('/api/chat', { model: 'llama3', messages: user('hi there') }); // 8 chars
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/x-ndjson/);
  const lines = (await collectNdjson(r)).map((l) => l.obj);
  assert.equal(lines.length, 4);
  assert.equal(
    lines
      .slice(0, 3)
      .map((l) => l.message.content)
      .join(''),
    'echo: hi there',
  );
  for (const l of lines.slice(0, 3)) {
    assert.equal(l.done, false);
    assert.equal(l.model, 'llama3');
    assert.equal(l.message.role, 'assistant');
    assert.ok(!Number.isNaN(Date.parse(l.created_at)));
  }
  const fin = lines[3];
  assert.equal(fin.done, true);
  assert.equal(fin.done_reason, 'stop');
  assert.equal(fin.prompt_eval_count, 2);
  assert.equal(fin.eval_count, 3);
  assert.equal(typeof fin.total_duration, 'number');
});

test('ollama chat: stream false gives one object', async () => {
  const r = await post('/api/chat', { model: 'echo', stream: false, messages: user('a b c d e') });
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const b = await json(r);
  assert.equal(b.message.content, 'echo: a b c d e');
  assert.equal(b.done, true);
  assert.equal(b.done_reason, 'stop');
  assert.equal(b.prompt_eval_count, 3);
  assert.equal(b.eval_count, 6);
});

// ---------------------------------------------------------------------------------------------
// Misbehaving models

test('rate-limit: 429 with retry headers (OpenAI and Ollama)', async () => {
  const r = await post('/v1/chat/completions', { model: 'rate-limit', messages: user('x') });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), '60');
  assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(r.headers.get('x-ratelimit-reset-requests'), '1s');
  const b = await json(r);
  assert.equal(b.error.type, 'rate_limit_error');
  assert.equal(b.error.code, 'rate_limit_exceeded');
  assert.equal(b.error.param, null);
  const o = await post('/api/chat', { model: 'rate-limit', messages: user('x') });
  assert.equal(o.status, 429);
  assert.deepEqual(await json(o), { error: 'rate limited' });
  assert.equal((await post('/v1/embeddings', { model: 'rate-limit', input: 'x' })).status, 429);
});

test('server-error: 500 with an error body; bad-gateway: 502 HTML', async () => {
  let r = await post('/v1/chat/completions', {
    model: 'server-error',
    stream: true,
    messages: user('x'),
  });
  assert.equal(r.status, 500);
  assert.equal((await json(r)).error.type, 'server_error');
  r = await post('/api/chat', { model: 'server-error', messages: user('x') });
  assert.equal(r.status, 500);
  assert.equal(typeof (await json(r)).error, 'string');
  for (const p of ['/v1/chat/completions', '/api/chat']) {
    r = await post(p, { model: 'bad-gateway', messages: user('x') });
    assert.equal(r.status, 502);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(await r.text(), /<html>[\s\S]*502 Bad Gateway/);
  }
});

test('invalid-json: 200 application/json with a truncated body', async () => {
  for (const [p, stream] of [
    ['/v1/chat/completions', false],
    ['/v1/chat/completions', true],
    ['/api/chat', true],
    ['/v1/embeddings', false],
  ]) {
    const r = await post(p, { model: 'invalid-json', stream, messages: user('x'), input: 'x' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(await r.text(), '{"choices": [');
  }
});

test('slow-drip: 10 chunks 100 ms apart; non-stream waits 1 s', async () => {
  let t0 = performance.now();
  const r = await post('/v1/chat/completions', {
    model: 'slow-drip',
    stream: true,
    messages: user('x'),
  });
  const events = await collectSse(r);
  const chunks = chunksOf(events);
  const content = events.filter(
    (e) => e.data !== '[DONE]' && JSON.parse(e.data).choices[0].delta.content,
  );
  assert.equal(content.length, 10);
  for (let i = 1; i < content.length; i++) {
    const gap = content[i].t - content[i - 1].t;
    assert.ok(gap >= 70, `gap ${gap.toFixed(0)} ms before chunk ${i}`);
  }
  assert.ok(since(t0) >= 850);
  assert.equal(
    chunks.map((c) => c.choices[0].delta.content || '').join(''),
    'drip1 drip2 drip3 drip4 drip5 drip6 drip7 drip8 drip9 drip10',
  );
  t0 = performance.now();
  const b = await json(
    await post('/v1/chat/completions', { model: 'slow-drip', messages: user('x') }),
  );
  assert.ok(since(t0) >= 950, `non-stream took ${since(t0)} ms`);
  assert.match(b.choices[0].message.content, /^drip1 .* drip10$/);
  const lines = await collectNdjson(
    await post('/api/chat', { model: 'slow-drip', messages: user('x') }),
  );
  assert.equal(lines.length, 11);
  assert.ok(lines[9].t - lines[8].t >= 70);
});

test('disconnect: streams 2 chunks then drops, no [DONE]; non-stream drops mid-body', async () => {
  const r = await post('/v1/chat/completions', {
    model: 'disconnect',
    stream: true,
    messages: user('x'),
  });
  assert.equal(r.status, 200);
  const seen = [];
  await assert.rejects(async () => {
    for await (const e of sseEvents(r)) seen.push(e.data);
  });
  assert.equal(seen.length, 2);
  assert.ok(!seen.includes('[DONE]'));
  const n = await post('/v1/chat/completions', { model: 'disconnect', messages: user('x') });
  assert.equal(n.status, 200);
  await assert.rejects(n.text());
  const o = await post('/api/chat', { model: 'disconnect', messages: user('x') });
  const lines = [];
  await assert.rejects(async () => {
    for await (const l of ndjsonLines(o)) lines.push(l.obj);
  });
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.done === false));
  await assert.rejects(
    (await post('/api/chat', { model: 'disconnect', stream: false, messages: user('x') })).text(),
  );
  // The upstream is fine afterwards.
  assert.equal(
    (await post('/v1/chat/completions', { model: 'echo', messages: user('x') })).status,
    200,
  );
});

test('endless: a chunk every 5 ms until the client goes away', async () => {
  for (const p of ['/v1/chat/completions', '/api/chat']) {
    const ac = new AbortController();
    const r = await post(
      p,
      { model: 'endless', stream: true, messages: user('x') },
      { signal: ac.signal },
    );
    const t0 = performance.now();
    let n = 0;
    const gen = p === '/api/chat' ? ndjsonLines(r) : sseEvents(r);
    for await (const e of gen) {
      assert.notEqual(e.data, '[DONE]');
      if (++n >= 60) break;
    }
    ac.abort();
    assert.ok(since(t0) >= 150, `60 chunks came in ${since(t0)} ms`);
  }
  // Non-streamed, the body never ends either.
  const ac = new AbortController();
  const r = await post(
    '/v1/chat/completions',
    { model: 'endless', messages: user('x') },
    { signal: ac.signal },
  );
  let bytes = 0;
  for await (const part of r.body) {
    bytes += part.length;
    if (bytes > 200) break;
  }
  ac.abort();
  assert.equal(
    (await post('/v1/chat/completions', { model: 'echo', messages: user('x') })).status,
    200,
  );
});

test('huge: 20 MB content, whole and streamed', async () => {
  const MB20 = 20 * 1024 * 1024;
  const b = await json(await post('/v1/chat/completions', { model: 'huge', messages: user('x') }));
  assert.equal(b.choices[0].message.content.length, MB20);
  const chunks = chunksOf(
    await collectSse(
      await post('/v1/chat/completions', { model: 'huge', stream: true, messages: user('x') }),
    ),
  );
  let total = 0;
  for (const c of chunks) if (c.choices[0]) total += (c.choices[0].delta.content || '').length;
  assert.equal(total, MB20);
  const o = await json(
    await post('/api/chat', { model: 'huge', stream: false, messages: user('x') }),
  );
  assert.equal(o.message.content.length, MB20);
});

test('hang: never answers (the client times out)', async () => {
  await reset();
  const t0 = performance.now();
  await assert.rejects(
    post(
      '/v1/chat/completions',
      { model: 'hang', messages: user('x') },
      { signal: AbortSignal.timeout(300) },
    ),
    (e) => e.name === 'TimeoutError',
  );
  assert.ok(since(t0) >= 280);
  await assert.rejects(
    post('/api/chat', { model: 'hang', messages: user('x') }, { signal: AbortSignal.timeout(200) }),
  );
  const log = await calls();
  assert.deepEqual(
    log.calls.map((c) => c.model),
    ['hang', 'hang'],
  );
});

test('midstream-error: Ollama 2 lines then an error line; OpenAI 2 chunks then an error event', async () => {
  const lines = (
    await collectNdjson(await post('/api/chat', { model: 'midstream-error', messages: user('x') }))
  ).map((l) => l.obj);
  assert.equal(lines.length, 3);
  assert.equal(lines[0].done, false);
  assert.equal(lines[1].done, false);
  assert.deepEqual(lines[2], { error: 'something went wrong' });
  const events = await collectSse(
    await post('/v1/chat/completions', {
      model: 'midstream-error',
      stream: true,
      messages: user('x'),
    }),
  );
  assert.equal(events.length, 3);
  assert.equal(JSON.parse(events[2].data).error.message, 'something went wrong');
  assert.equal(
    (await post('/api/chat', { model: 'midstream-error', stream: false, messages: user('x') }))
      .status,
    500,
  );
});

test('flaky-N-tag: the first N calls per name fail with 500, then echo; reset starts over', async () => {
  await reset();
  const st = async (model, p = '/v1/chat/completions') =>
    (await post(p, { model, messages: user('hi') })).status;
  assert.deepEqual(
    [await st('flaky-2-a'), await st('flaky-2-a'), await st('flaky-2-a'), await st('flaky-2-a')],
    [500, 500, 200, 200],
  );
  assert.equal(await st('flaky-2-b'), 500); // its own counter
  assert.equal(await st('flaky-0-c'), 200);
  const ok = await json(
    await post('/v1/chat/completions', { model: 'flaky-1-d', messages: user('hi') }).then(() =>
      post('/v1/chat/completions', { model: 'flaky-1-d', messages: user('hi') }),
    ),
  );
  assert.equal(ok.choices[0].message.content, 'echo: hi');
  assert.deepEqual(
    [await st('flaky-1-e', '/api/chat'), await st('flaky-1-e', '/api/chat')],
    [500, 200],
  );
  await reset();
  assert.equal(await st('flaky-2-a'), 500);
});

test('slow-N: answers like echo after N ms', async () => {
  let t0 = performance.now();
  const b = await json(
    await post('/v1/chat/completions', { model: 'slow-300', messages: user('hi') }),
  );
  assert.ok(since(t0) >= 290, `took ${since(t0)} ms`);
  assert.equal(b.choices[0].message.content, 'echo: hi');
  t0 = performance.now();
  const r = await post('/api/chat', { model: 'slow-200', messages: user('hi') });
  assert.ok(since(t0) >= 190, 'headers came before the delay');
  assert.equal((await collectNdjson(r)).length, 3);
  t0 = performance.now();
  await (await post('/v1/chat/completions', { model: 'slow-0', messages: user('hi') })).text();
  assert.ok(since(t0) < 1000, `slow-0 took ${since(t0)} ms`);
});

// ---------------------------------------------------------------------------------------------
// --api-key, TLS + HTTP/2, lifetime

test('--api-key: OpenAI endpoints need the bearer key; Ollama and control do not', async () => {
  const u = await startUpstream(['--api-key', 'sk-test']);
  try {
    const chat = (headers) =>
      fetch(`${u.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'echo', messages: user('x') }),
      });
    for (const h of [{}, { authorization: 'Bearer wrong' }, { authorization: 'sk-test' }]) {
      const r = await chat(h);
      assert.equal(r.status, 401, JSON.stringify(h));
      const b = await json(r);
      assert.deepEqual(Object.keys(b.error), ['message', 'type', 'param', 'code']);
      assert.equal(b.error.type, 'invalid_request_error');
      assert.equal(b.error.param, null);
      assert.equal(b.error.code, 'invalid_api_key');
    }
    assert.equal((await chat({ authorization: 'Bearer sk-test' })).status, 200);
    assert.equal((await fetch(`${u.base}/v1/models`)).status, 401);
    assert.equal(
      (await fetch(`${u.base}/v1/models`, { headers: { authorization: 'Bearer sk-test' } })).status,
      200,
    );
    // An unknown model still says 401 first when the key is wrong.
    const r = await fetch(`${u.base}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'nope', messages: user('x') }),
    });
    assert.equal(r.status, 401);
    const o = await fetch(`${u.base}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({ model: 'echo', stream: false, messages: user('x') }),
    });
    assert.equal(o.status, 200);
    const log = await json(await fetch(`${u.base}/_control/calls`));
    assert.deepEqual(
      log.calls.map((c) => c.auth),
      [false, false, false, true, false, true, false, false],
    );
  } finally {
    await u.stop();
  }
});

function makeCert(dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { cert, key };
}

function h2Request(session, headers, body) {
  return new Promise((resolve, reject) => {
    const s = session.request(headers);
    let status;
    let data = '';
    s.setEncoding('utf8');
    s.on('response', (h) => (status = h[':status']));
    s.on('data', (c) => (data += c));
    s.on('end', () => resolve({ status, data }));
    s.on('error', reject);
    s.end(body);
  });
}

test('TLS: HTTP/2 via ALPN and HTTP/1.1 on the same port, recorded in the call log', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upstream-tls-'));
  let u;
  try {
    const { cert, key } = makeCert(dir);
    u = await startUpstream(['--tls-cert', cert, '--tls-key', key]);
    assert.match(u.firstLine, /^\{"port":\d+,"tls":true\}\n$/);
    const ca = fs.readFileSync(cert);
    const session = http2.connect(`https://127.0.0.1:${u.port}`, { ca });
    try {
      const body = JSON.stringify({ model: 'echo', messages: user('over h2') });
      const r = await h2Request(
        session,
        { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' },
        body,
      );
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.data).choices[0].message.content, 'echo: over h2');
      const s = await h2Request(
        session,
        { ':method': 'POST', ':path': '/v1/chat/completions' },
        JSON.stringify({ model: 'echo', stream: true, messages: user('a b') }),
      );
      assert.match(s.data, /data: \[DONE\]\n\n$/);
      const o = await h2Request(
        session,
        { ':method': 'POST', ':path': '/api/chat' },
        JSON.stringify({ model: 'echo', messages: user('a b') }),
      );
      assert.equal(o.data.trim().split('\n').length, 4);
      // disconnect resets the stream, and the session carries on.
      await assert.rejects(
        h2Request(
          session,
          { ':method': 'POST', ':path': '/v1/chat/completions' },
          JSON.stringify({ model: 'disconnect', stream: true, messages: user('x') }),
        ),
      );
      const again = await h2Request(session, { ':method': 'GET', ':path': '/v1/models' });
      assert.equal(again.status, 200);
    } finally {
      session.close();
    }
    const h1 = await new Promise((resolve, reject) => {
      const req = https.request(
        `https://127.0.0.1:${u.port}/v1/chat/completions`,
        { method: 'POST', ca, agent: false },
        (res) => {
          let d = '';
          res.on('data', (c) => (d += c));
          res.on('end', () => resolve({ status: res.statusCode, d, v: res.httpVersion }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'echo', messages: user('over h1') }));
    });
    assert.equal(h1.status, 200);
    assert.equal(h1.v, '1.1');
    const log = await new Promise((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${u.port}/_control/calls`, { ca, agent: false }, (res) => {
          let d = '';
          res.on('data', (c) => (d += c));
          res.on('end', () => resolve(JSON.parse(d)));
        })
        .on('error', reject);
    });
    assert.deepEqual(
      log.calls.map((c) => c.http),
      ['2.0', '2.0', '2.0', '2.0', '2.0', '1.1'],
    );
  } finally {
    if (u) await u.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('lifetime: exits when stdin closes, on SIGTERM and on SIGINT', async () => {
  const a = await startUpstream();
  a.proc.stdin.end();
  const ea = await Promise.race([
    a.exited,
    new Promise((r) => setTimeout(() => r('still running'), 3000)),
  ]);
  assert.deepEqual(ea, { code: 0, sig: null });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    const b = await startUpstream();
    b.proc.kill(sig);
    const eb = await Promise.race([
      b.exited,
      new Promise((r) => setTimeout(() => r('still running'), 3000)),
    ]);
    assert.deepEqual(eb, { code: 0, sig: null }, sig);
  }
});

test('bad command lines exit 2 and print nothing on stdout', async () => {
  for (const args of [['--port', 'x'], ['--bogus'], ['--tls-cert', 'only'], ['--port']]) {
    const p = spawn(process.execPath, [UPSTREAM_JS, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    const code = await new Promise((r) => p.on('exit', r));
    assert.equal(code, 2, args.join(' '));
    assert.equal(out, '');
  }
});

test('stdout carried nothing but the port line', async () => {
  assert.equal(up.stdout(), up.firstLine);
});

// ---------------------------------------------------------------------------------------------

async function main() {
  up = await startUpstream();
  base = up.base;
  let passed = 0;
  let failed = 0;
  for (const t of tests) {
    const t0 = performance.now();
    try {
      await t.fn();
      passed++;
      console.log(`ok   ${t.name} (${since(t0).toFixed(0)} ms)`);
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
  console.log(`selftest: ${(e && e.stack) || e}`);
  process.exit(1);
});
