// tests/node/gateway_openai_check.mjs — the official openai npm client against agentai's gateway.
// agentai serve routes to the local upstream through provider-openai; exit 0: every check passed.
// Usage: node gateway_openai_check.mjs [path/to/agentai]   (or AGENTAI_BIN=path/to/agentai)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import OpenAI from 'openai';

import { startUpstream } from '../upstream/launch.mjs';

const BIN = process.argv[2] || process.env.AGENTAI_BIN;
const TIMEOUT_MS = 30000; // per request; a sanitizer build is slow
const WATCHDOG_MS = 240000; // the whole run, below the ctest timeout

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

let up; // the upstream: {base, stop()}
let gw; // agentai serve: {port, proc, stderr(), stop()}
let dir; // temporary folder: config and data
let client; // maxRetries 0: every error surfaces as the gateway sent it

const user = (content) => [{ role: 'user', content }];
const TOOLS = ['search', 'calc'].map((name) => ({
  type: 'function',
  function: {
    name,
    description: `${name} things`,
    parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
  },
}));

/** The upstream's request log (every call that reached it). */
async function upstreamCalls() {
  const r = await fetch(`${up.base}/_control/calls`);
  return (await r.json()).calls;
}

/** Upstream calls made while fn ran, and fn's result. */
async function upstreamDuring(fn) {
  const before = (await upstreamCalls()).length;
  const result = await fn();
  return { result, calls: (await upstreamCalls()).slice(before) };
}

function config(upstreamBase) {
  return `# written by tests/node/gateway_openai_check.mjs
[plugins]
load = ["storage-lmdb", "provider-openai"]

[plugins.provider-openai.providers.upstream]
base_url = "${upstreamBase}/v1"
models = ["echo", "tools", "gpt-4o-mini"]

[llm]
default_provider = "absent"   # not loaded: an unknown model is a 404
retries = 0
retry_base_ms = 1
retry_max_ms = 50
cooldown_failures = 0         # every call to "smart" tries its failing deployment first

[llm.models.smart]
deployments = [ { provider = "upstream", model = "server-error" } ]
fallbacks = ["echo"]

[llm.models.limited]
deployments = [ { provider = "upstream", model = "rate-limit" } ]

[cache]
enabled = true
`;
}

/** Starts `agentai serve` on an ephemeral port; resolves once its log says "listening". */
function startGateway(configPath, dataDir) {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      BIN,
      ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, '--config', configPath],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    let settled = false;
    const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
    const timer = setTimeout(
      () => fail(new Error('agentai did not log "listening" within 20 s')),
      20000,
    );
    function fail(e) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`${e.message}\n--- agentai stderr ---\n${err}`));
    }
    proc.on('error', fail);
    proc.on('exit', (code, sig) =>
      fail(new Error(`agentai exited early (code ${code}, signal ${sig})`)),
    );
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (s) => {
      err += s;
      if (settled) return;
      for (const line of err.split('\n')) {
        let j;
        try {
          j = JSON.parse(line);
        } catch {
          continue;
        }
        if (j.msg === 'listening' && Number.isInteger(j.port)) {
          settled = true;
          clearTimeout(timer);
          resolve({
            port: j.port,
            proc,
            stderr: () => err,
            stop: async () => {
              if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
              const kill = setTimeout(() => proc.kill('SIGKILL'), 10000);
              const st = await exited;
              clearTimeout(kill);
              return st;
            },
          });
          return;
        }
      }
    });
  });
}

// ---- chat ----

let plain; // the non-streamed answer to 'hello gateway', compared with the streamed one

test('chat: non-streamed completion with usage and the overhead header', async () => {
  const { data: c, response } = await client.chat.completions
    .create({ model: 'echo', messages: user('hello gateway') })
    .withResponse();
  assert.equal(response.status, 200);
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.equal(c.choices[0].message.content, 'echo: hello gateway');
  assert.equal(c.choices[0].finish_reason, 'stop');
  // ceil(13 chars / 4) = 4 prompt tokens, 3 words answered.
  assert.deepEqual(c.usage, { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });
  const overhead = response.headers.get('x-agentai-overhead-ms');
  assert.ok(overhead !== null, 'x-agentai-overhead-ms header missing');
  assert.ok(Number.isFinite(Number(overhead)) && Number(overhead) >= 0, `overhead ${overhead}`);
  assert.equal(response.headers.get('x-agentai-provider'), 'upstream');
  assert.equal(response.headers.get('x-agentai-cache'), 'miss');
  plain = c;
});

test('chat: streamed (upstream SSE through the gateway) joins to the same content', async () => {
  assert.ok(plain, 'needs the non-streamed answer');
  const { result, calls } = await upstreamDuring(async () => {
    // bypass: the answer must come from the upstream's stream, not the cache
    const stream = await client.chat.completions.create(
      {
        model: 'echo',
        stream: true,
        stream_options: { include_usage: true },
        messages: user('hello gateway'),
      },
      { headers: { 'x-agentai-cache': 'bypass' } },
    );
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  });
  assert.deepEqual(
    calls.map((c) => [c.path, c.model, c.stream]),
    [['/v1/chat/completions', 'echo', true]],
  );
  let text = '';
  let finish = null;
  let usage = null;
  let role = null;
  for (const chunk of result) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const ch = chunk.choices[0];
    if (!ch) continue;
    if (ch.delta.role) role = ch.delta.role;
    text += ch.delta.content || '';
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.ok(result.length >= 4, `only ${result.length} chunks: the answer was not streamed`);
  assert.equal(role, 'assistant');
  assert.equal(text, plain.choices[0].message.content);
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, plain.usage);
});

test('chat: a cached answer is replayed as a stream to a streaming caller', async () => {
  const { result, calls } = await upstreamDuring(async () => {
    const stream = await client.chat.completions.create({
      model: 'echo',
      stream: true,
      messages: user('hello gateway'),
    });
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      text += ch?.delta.content || '';
      if (ch?.finish_reason) finish = ch.finish_reason;
    }
    return { text, finish };
  });
  assert.equal(calls.length, 0, 'the cached answer went to the upstream again');
  assert.deepEqual(result, { text: plain.choices[0].message.content, finish: 'stop' });
});

test('chat: the stream helper and finalChatCompletion()', async () => {
  assert.equal(typeof client.chat.completions.stream, 'function', 'this openai has no stream()');
  const s = client.chat.completions.stream(
    { model: 'echo', messages: user('assemble me please') },
    { headers: { 'x-agentai-cache': 'bypass' } },
  );
  const deltas = [];
  s.on('content', (d) => deltas.push(d));
  const final = await s.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'echo: assemble me please');
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.deepEqual(deltas, ['echo:', ' assemble', ' me', ' please']);
  assert.equal(await s.finalContent(), 'echo: assemble me please');
});

// ---- tool calls ----

/** Checks two tool calls asking {q}; returns the assistant message. */
function checkToolCalls(message, finish, q) {
  assert.equal(finish, 'tool_calls');
  assert.ok(Array.isArray(message.tool_calls), 'no tool_calls');
  assert.deepEqual(
    message.tool_calls.map((c) => [
      c.id,
      c.type,
      c.function.name,
      JSON.parse(c.function.arguments),
    ]),
    [
      ['call_1', 'function', 'search', { q }],
      ['call_2', 'function', 'calc', { q }],
    ],
  );
  return message;
}

/** The conversation after the tool calls: their results, one tool message each. */
function withResults(q, assistant) {
  return [
    ...user(q),
    { role: 'assistant', content: assistant.content ?? null, tool_calls: assistant.tool_calls },
    ...assistant.tool_calls.map((c) => ({
      role: 'tool',
      tool_call_id: c.id,
      content: `${c.function.name}=${JSON.parse(c.function.arguments).q}`,
    })),
  ];
}

test('tool calls: non-streamed, then the results sent back give "done: ..."', async () => {
  const q = 'weather in Oslo';
  const c = await client.chat.completions.create({
    model: 'tools',
    tools: TOOLS,
    messages: user(q),
  });
  const m = checkToolCalls(c.choices[0].message, c.choices[0].finish_reason, q);
  assert.equal(m.content ?? null, null);
  assert.equal(c.usage.completion_tokens, 6); // 3 per call
  const done = await client.chat.completions.create({
    model: 'tools',
    tools: TOOLS,
    messages: withResults(q, m),
  });
  assert.equal(
    done.choices[0].message.content,
    'done: search=weather in Oslo; calc=weather in Oslo',
  );
  assert.equal(done.choices[0].finish_reason, 'stop');
});

test('tool calls: streamed fragments join by index; the results give "done: ..."', async () => {
  const q = 'time in Lima';
  const stream = await client.chat.completions.create({
    model: 'tools',
    stream: true,
    tools: TOOLS,
    messages: user(q),
  });
  const calls = [];
  let finish = null;
  let fragments = 0;
  for await (const chunk of stream) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    if (ch.finish_reason) finish = ch.finish_reason;
    for (const tc of ch.delta.tool_calls || []) {
      assert.ok(Number.isInteger(tc.index), 'a tool call fragment without index');
      const cur = (calls[tc.index] ??= { id: '', type: '', function: { name: '', arguments: '' } });
      if (tc.id) cur.id = tc.id;
      if (tc.type) cur.type = tc.type;
      if (tc.function?.name) cur.function.name = tc.function.name;
      if (tc.function?.arguments) {
        cur.function.arguments += tc.function.arguments;
        fragments++;
      }
    }
  }
  assert.equal(fragments, 6, 'the upstream sends each call\'s arguments in 3 fragments');
  const m = checkToolCalls({ content: null, tool_calls: calls }, finish, q);
  const s = client.chat.completions.stream({
    model: 'tools',
    tools: TOOLS,
    messages: withResults(q, m),
  });
  const final = await s.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'done: search=time in Lima; calc=time in Lima');
});

test('tool calls: runTools drives the loop through the gateway', async () => {
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
  const runner = client.chat.completions.runTools({ model: 'tools', tools, messages: user('r') });
  assert.equal(await runner.finalContent(), 'done: search(r); calc(r)');
  assert.deepEqual(seen, [
    ['search', 'r'],
    ['calc', 'r'],
  ]);
});

// ---- the router: fallbacks and the cache ----

test('router: group "smart" falls back from a 500 deployment to "echo"', async () => {
  const { result, calls } = await upstreamDuring(() =>
    client.chat.completions
      .create({ model: 'smart', messages: user('fall back please') })
      .withResponse(),
  );
  const { data: c, response } = result;
  assert.equal(response.status, 200);
  assert.equal(c.choices[0].message.content, 'echo: fall back please');
  assert.equal(c.model, 'echo');
  // The failing deployment was tried once (retries = 0), then the fallback.
  assert.deepEqual(
    calls.map((x) => x.model),
    ['server-error', 'echo'],
  );
});

test('cache: the second identical request is a hit and does not reach the upstream', async () => {
  const req = { model: 'gpt-4o-mini', messages: user('cache me please') };
  const first = await client.chat.completions.create(req).withResponse();
  assert.equal(first.response.headers.get('x-agentai-cache'), 'miss');
  const { result: second, calls } = await upstreamDuring(() =>
    client.chat.completions.create(req).withResponse(),
  );
  assert.equal(second.response.headers.get('x-agentai-cache'), 'hit');
  assert.equal(calls.length, 0, 'a cache hit reached the upstream');
  assert.equal(second.data.id, first.data.id);
  assert.deepEqual(second.data.choices, first.data.choices);
  assert.equal(second.data.choices[0].message.content, 'echo: cache me please');
  // bypass asks the upstream again
  const fresh = await client.chat.completions
    .create(req, { headers: { 'x-agentai-cache': 'bypass' } })
    .withResponse();
  assert.equal(fresh.response.headers.get('x-agentai-cache'), 'bypass');
});

// ---- embeddings and models ----

test('embeddings: vectors from the upstream through provider-openai', async () => {
  const input = ['alpha', 'beta'];
  const { result: e, calls } = await upstreamDuring(() =>
    client.embeddings.create({ model: 'upstream/text-embedding-3-small', input, dimensions: 16 }),
  );
  assert.deepEqual(
    calls.map((x) => [x.path, x.model]),
    [['/v1/embeddings', 'text-embedding-3-small']],
  );
  // The same request straight to the upstream, as floats.
  const direct = await (
    await fetch(`${up.base}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'text-embedding-3-small',
        input,
        dimensions: 16,
        encoding_format: 'float',
      }),
    })
  ).json();
  assert.equal(e.object, 'list');
  assert.equal(e.data.length, 2);
  assert.deepEqual(
    e.data.map((d) => [d.index, d.embedding.length]),
    [
      [0, 16],
      [1, 16],
    ],
  );
  assert.deepEqual(
    e.data.map((d) => Array.from(d.embedding)),
    direct.data.map((d) => d.embedding),
  );
  assert.notDeepEqual(Array.from(e.data[0].embedding), Array.from(e.data[1].embedding));
  assert.equal(e.usage.prompt_tokens, 3); // ceil(5/4) + ceil(4/4)
});

test('models: list has the groups and the provider\'s models; retrieve', async () => {
  const byId = new Map();
  for await (const m of client.models.list()) byId.set(m.id, m.owned_by);
  for (const id of ['smart', 'limited', 'echo', 'tools', 'gpt-4o-mini'])
    assert.ok(byId.has(id), `${id} is not listed`);
  assert.equal(byId.get('smart'), 'agentai');
  assert.equal(byId.get('echo'), 'upstream');
  const smart = await client.models.retrieve('smart');
  assert.equal(smart.id, 'smart');
  assert.equal(smart.object, 'model');
  const echo = await client.models.retrieve('echo');
  assert.deepEqual([echo.id, echo.owned_by], ['echo', 'upstream']);
  await assert.rejects(client.models.retrieve('no-such-model'), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 404);
    return true;
  });
});

// ---- errors ----

test('errors: group "limited" (upstream 429) -> RateLimitError 429 with Retry-After', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'limited', messages: user('x') }),
    (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.headers.get('retry-after'), '1');
      assert.equal(e.headers.get('x-ratelimit-remaining-requests'), '0');
      assert.equal(e.type, 'rate_limit_error');
      assert.equal(e.code, 'rate_limit_exceeded');
      return true;
    },
  );
});

test('errors: unknown model, default provider not loaded -> NotFoundError 404', async () => {
  const { calls } = await upstreamDuring(() =>
    assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: user('x') }),
      (e) => {
        assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name}: ${e.message}`);
        assert.equal(e.status, 404);
        assert.equal(e.code, 'model_not_found');
        assert.equal(e.param, 'model');
        return true;
      },
    ),
  );
  assert.equal(calls.length, 0);
});

test('errors: a request without messages -> BadRequestError 400', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'echo' }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 400);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.param, 'messages');
    return true;
  });
});

// ---- the run ----

async function stopAll() {
  const out = {};
  if (gw) {
    out.gw = await gw.stop();
    out.gwStderr = gw.stderr();
    gw = null;
  }
  if (up) {
    await up.stop();
    up = null;
  }
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
    dir = null;
  }
  return out;
}

async function main() {
  if (!BIN) throw new Error('give the agentai binary as the first argument or in AGENTAI_BIN');
  dir = mkdtempSync(join(tmpdir(), 'agentai-gwc-'));
  up = await startUpstream();
  writeFileSync(join(dir, 'agentai.toml'), config(up.base));
  gw = await startGateway(join(dir, 'agentai.toml'), join(dir, 'data'));
  client = new OpenAI({
    apiKey: 'unused',
    baseURL: `http://127.0.0.1:${gw.port}/v1`,
    maxRetries: 0,
    timeout: TIMEOUT_MS,
  });
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
  // The daemon must also shut down cleanly (a sanitizer build reports leaks at exit).
  const { gw: st, gwStderr } = await stopAll();
  const report = /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/;
  const clean = st.code === 0 && !report.test(gwStderr);
  if (clean) {
    passed++;
    console.log('ok   agentai serve stops cleanly on SIGTERM');
  } else {
    failed++;
    console.log(`FAIL agentai serve stops cleanly on SIGTERM: exit ${st.code} signal ${st.sig}`);
    console.log(gwStderr.split('\n').slice(-60).join('\n'));
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

const watchdog = setTimeout(async () => {
  console.log(`gateway_openai_check: still running after ${WATCHDOG_MS / 1000} s`);
  await stopAll().catch(() => {});
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();
// Last resort: never leave a child behind, whatever ends this process.
process.on('exit', () => {
  gw?.proc.kill('SIGKILL');
  up?.proc.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

main()
  .then((code) => process.exit(code))
  .catch(async (e) => {
    console.log(`gateway_openai_check: ${(e && e.stack) || e}`);
    await stopAll().catch(() => {});
    process.exit(1);
  });
