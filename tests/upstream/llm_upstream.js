// tests/upstream/llm_upstream.js — local LLM upstream for tests: OpenAI and Ollama wire protocols.
// It misbehaves on demand, chosen by the request's model name.
//
// Usage: node llm_upstream.js [--port N] [--host 127.0.0.1] [--tls-cert F --tls-key F] [--api-key K]
// Prints exactly one line {"port":N,"tls":true|false} on stdout once listening; nothing else goes to
// stdout. Exits on SIGTERM/SIGINT, and when its stdin (a pipe, socket or terminal) closes so that a
// test which dies does not leave it behind. Only node's built-in modules: no npm install needed.
// The contract (model names, bodies, control endpoints) is in README.md beside this file.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const tty = require('node:tty');

const MAX_BODY = 64 * 1024 * 1024;
const HUGE_BYTES = 20 * 1024 * 1024;
const HUGE_CHUNK = 16 * 1024;
const DEFAULT_DIMS = 8;
const MAX_DIMS = 4096;

// ---------------------------------------------------------------------------------------------
// Command line

function usage(msg) {
  process.stderr.write(
    `llm_upstream: ${msg}\n` +
      'usage: node llm_upstream.js [--port N] [--host H] [--tls-cert F --tls-key F] [--api-key K]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', cert: null, key: null, apiKey: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') {
      const v = val();
      if (!/^\d+$/.test(v) || Number(v) > 65535) usage(`bad port: ${v}`);
      opts.port = Number(v);
    } else if (a === '--host') opts.host = val();
    else if (a === '--tls-cert') opts.cert = val();
    else if (a === '--tls-key') opts.key = val();
    else if (a === '--api-key') opts.apiKey = val();
    else usage(`unknown argument: ${a}`);
  }
  if (!!opts.cert !== !!opts.key) usage('--tls-cert and --tls-key go together');
  if (opts.apiKey === '') usage('--api-key needs a non-empty key');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------
// State: the call log (what tests assert on) and the per-model counters of the flaky models

let calls = [];
let flakyCounts = new Map();
let seq = 0;

function resetState() {
  calls = [];
  flakyCounts = new Map();
}

// ---------------------------------------------------------------------------------------------
// Model names -> behaviour

const FIXED = new Set([
  'echo',
  'tools',
  'rate-limit',
  'server-error',
  'bad-gateway',
  'invalid-json',
  'slow-drip',
  'disconnect',
  'endless',
  'huge',
  'hang',
  'midstream-error',
]);

// Listed by GET /v1/models and GET /api/tags; any gpt-*, llama*, m-*, flaky-N-*, slow-N works too.
const LISTED = [...FIXED, 'gpt-4o-mini', 'llama3', 'text-embedding-3-small', 'nomic-embed-text'];

/** Returns {kind, n?, ms?} for a model name, or null when the model is unknown. Ollama's ":latest"
 *  tag is ignored so that names listed by /api/tags work as they are. */
function behaviourOf(model, forEmbeddings) {
  if (typeof model !== 'string' || model === '') return null;
  const m = model.endsWith(':latest') ? model.slice(0, -':latest'.length) : model;
  if (FIXED.has(m)) return { kind: m };
  let r = /^flaky-(\d+)(?:-.*)?$/.exec(m);
  if (r) return { kind: 'flaky', n: Number(r[1]) };
  r = /^slow-(\d+)$/.exec(m);
  if (r) return { kind: 'slow', ms: Number(r[1]) };
  if (m.startsWith('gpt-') || m.startsWith('llama') || m.startsWith('m-')) return { kind: 'echo' };
  if (forEmbeddings && m.includes('embed')) return { kind: 'echo' };
  return null;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Tracks whether the client went away before the response finished. */
function watchGone(res) {
  const st = { gone: false, finished: false };
  res.on('finish', () => {
    st.finished = true;
  });
  res.on('close', () => {
    if (!st.finished) st.gone = true;
  });
  return st;
}

/** Sleeps ms, or less when the client goes away first. */
function sleepUnlessGone(res, st, ms) {
  if (st.gone) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      res.off('close', done);
      resolve();
    }
    res.on('close', done);
  });
}

/** Writes with backpressure; resolves false once the client has gone. */
function writeAwait(res, st, data) {
  if (st.gone) return Promise.resolve(false);
  if (res.write(data)) return Promise.resolve(true);
  return new Promise((resolve) => {
    function drain() {
      res.off('close', close);
      resolve(true);
    }
    function close() {
      res.off('drain', drain);
      resolve(false);
    }
    res.once('drain', drain);
    res.once('close', close);
  });
}

/** Code points, so that "chars" means characters and not UTF-16 units. */
const charLen = (s) => [...s].length;

/** The text of a message content: a string, or the text parts of an array of parts. */
function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === 'object' && typeof p.text === 'string' ? p.text : ''))
      .join('');
  }
  return '';
}

function messagesOf(body) {
  return Array.isArray(body.messages)
    ? body.messages.map((m) => (m && typeof m === 'object' ? m : {}))
    : [];
}

function lastUserText(msgs) {
  for (let i = msgs.length - 1; i >= 0; i--) {
    if (msgs[i].role === 'user') return contentText(msgs[i].content);
  }
  return '';
}

function promptTokens(msgs) {
  let chars = 0;
  for (const m of msgs) chars += charLen(contentText(m.content));
  return Math.max(1, Math.ceil(chars / 4));
}

const wordCount = (s) => s.split(/\s+/).filter(Boolean).length;

/** Splits a reply into one piece per word (leading whitespace kept) so the pieces join back to it. */
function wordPieces(s) {
  const p = s.match(/\s*\S+/g) || [];
  const joined = p.join('');
  if (joined.length < s.length) {
    if (p.length) p[p.length - 1] += s.slice(joined.length);
    else p.push(s);
  }
  return p;
}

function splitInThree(s) {
  const a = Math.ceil(s.length / 3);
  const b = Math.ceil((2 * s.length) / 3);
  return [s.slice(0, a), s.slice(a, b), s.slice(b)];
}

/** What a chat model answers: {reply} text, or {toolCalls} [{id, name, args (string)}]. */
function planAnswer(kind, body, msgs) {
  if (kind === 'slow-drip') {
    return { reply: Array.from({ length: 10 }, (_, i) => `drip${i + 1}`).join(' ') };
  }
  if (kind === 'tools') {
    const last = msgs.length ? msgs[msgs.length - 1] : {};
    if (last.role === 'tool') {
      const results = [];
      for (let i = msgs.length - 1; i >= 0 && msgs[i].role === 'tool'; i--) {
        results.unshift(contentText(msgs[i].content));
      }
      return { reply: `done: ${results.join('; ')}` };
    }
    const tools = Array.isArray(body.tools) ? body.tools.slice(0, 2) : [];
    if (tools.length) {
      const args = JSON.stringify({ q: lastUserText(msgs) });
      return {
        toolCalls: tools.map((t, i) => ({
          id: `call_${i + 1}`,
          name:
            t && t.function && typeof t.function.name === 'string'
              ? t.function.name
              : `tool_${i + 1}`,
          args,
        })),
      };
    }
  }
  return { reply: `echo: ${lastUserText(msgs)}` };
}

// ---------------------------------------------------------------------------------------------
// Embeddings: deterministic unit vectors from SHA-256 of the input, float32-exact so the JSON
// floats and the base64 float32 encoding carry the same numbers.

function embedVector(text, dims) {
  const raw = [];
  for (let ctr = 0; raw.length < dims; ctr++) {
    const h = crypto.createHash('sha256').update(`${ctr}\0${text}`).digest();
    for (let b = 0; b + 4 <= h.length && raw.length < dims; b += 4) {
      raw.push((h.readUInt32BE(b) / 0xffffffff) * 2 - 1);
    }
  }
  const norm = Math.sqrt(raw.reduce((s, v) => s + v * v, 0)) || 1;
  return raw.map((v) => Math.fround(v / norm));
}

/** Normalises an embeddings input to a list of strings, or null when it is not usable. */
function embedInputs(input) {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  if (input.every((x) => typeof x === 'number')) return [JSON.stringify(input)];
  const out = [];
  for (const x of input) {
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x) && x.every((n) => typeof n === 'number')) out.push(JSON.stringify(x));
    else return null;
  }
  return out;
}

function dimsOf(v) {
  if (v === undefined || v === null) return DEFAULT_DIMS;
  if (!Number.isInteger(v) || v < 1 || v > MAX_DIMS) return null;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Responses

function sendRaw(res, status, type, body, headers = {}) {
  const buf = Buffer.from(body);
  res.writeHead(status, { 'content-type': type, 'content-length': buf.length, ...headers });
  res.end(buf);
}

function sendJson(res, status, obj, headers = {}) {
  sendRaw(res, status, 'application/json', JSON.stringify(obj), headers);
}

/** Destroys the connection (HTTP/1.x) or resets the stream (HTTP/2) under a response. */
function cutOff(req, res) {
  if (req.httpVersionMajor === 2) {
    res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  } else if (res.socket) {
    res.socket.destroy();
  }
}

/** Sends the headers and half of a JSON body, then cuts the connection once that is flushed. */
function sendHalfThenCut(req, res, obj) {
  const buf = Buffer.from(JSON.stringify(obj));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': buf.length });
  res.write(buf.subarray(0, Math.floor(buf.length / 2)), () => {
    setTimeout(() => cutOff(req, res), 20);
  });
}

const BAD_GATEWAY_HTML =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n' +
  '<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

const RATE_LIMIT_HEADERS = {
  'retry-after': '1',
  'x-ratelimit-limit-requests': '60',
  'x-ratelimit-remaining-requests': '0',
  'x-ratelimit-reset-requests': '1s',
};

/** The two error dialects: OpenAI's {"error":{message,type,param,code}} and Ollama's {"error":"..."}. */
const openaiDialect = {
  error(res, status, message, type, code, headers = {}, param = null) {
    sendJson(res, status, { error: { message, type, param, code } }, headers);
  },
  badRequest(res, message, param = null) {
    this.error(res, 400, message, 'invalid_request_error', null, {}, param);
  },
  unknownModel(res, model) {
    this.error(
      res,
      404,
      `The model \`${model}\` does not exist or you do not have access to it.`,
      'invalid_request_error',
      'model_not_found',
    );
  },
  rateLimited(res) {
    this.error(
      res,
      429,
      'Rate limit reached for requests. Please try again in 1s.',
      'rate_limit_error',
      'rate_limit_exceeded',
      RATE_LIMIT_HEADERS,
    );
  },
  serverError(
    res,
    message = 'The server had an error while processing your request. Sorry about that!',
  ) {
    this.error(res, 500, message, 'server_error', null);
  },
};

const ollamaDialect = {
  badRequest(res, message) {
    sendJson(res, 400, { error: message });
  },
  unknownModel(res, model) {
    sendJson(res, 404, { error: `model "${model}" not found, try pulling it first` });
  },
  rateLimited(res) {
    sendJson(res, 429, { error: 'rate limited' }, { 'retry-after': '1' });
  },
  serverError(res, message = 'internal server error') {
    sendJson(res, 500, { error: message });
  },
};

/**
 * The behaviours every model endpoint shares. Returns the kind to answer with ('echo' for the
 * flaky and slow-N models once they answer), or null when the response is already dealt with.
 */
async function commonBehaviour(d, req, res, st, model, beh, stream) {
  switch (beh.kind) {
    case 'rate-limit':
      d.rateLimited(res);
      return null;
    case 'server-error':
      d.serverError(res);
      return null;
    case 'bad-gateway':
      sendRaw(res, 502, 'text/html', BAD_GATEWAY_HTML);
      return null;
    case 'invalid-json':
      sendRaw(res, 200, 'application/json', '{"choices": [');
      return null;
    case 'hang':
      return null; // the request stays open until the client or the process goes
    case 'flaky': {
      const n = (flakyCounts.get(model) || 0) + 1;
      flakyCounts.set(model, n);
      if (n <= beh.n) {
        d.serverError(res, `flaky: call ${n} of the first ${beh.n} fails`);
        return null;
      }
      return 'echo';
    }
    case 'slow':
      await sleepUnlessGone(res, st, beh.ms);
      return st.gone ? null : 'echo';
    case 'slow-drip':
      if (stream) return 'slow-drip';
      await sleepUnlessGone(res, st, 1000);
      return st.gone ? null : 'slow-drip';
    default:
      return beh.kind;
  }
}

// ---------------------------------------------------------------------------------------------
// OpenAI: POST /v1/chat/completions

function oaUsage(pt, ct) {
  return { prompt_tokens: pt, completion_tokens: ct, total_tokens: pt + ct };
}

async function openaiChat(req, res, st, body) {
  const d = openaiDialect;
  const model = body.model;
  if (typeof model !== 'string' || model === '') {
    return d.badRequest(res, 'you must provide a model parameter', 'model');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return d.badRequest(res, "'messages' must be a non-empty array", 'messages');
  }
  const beh = behaviourOf(model, false);
  if (!beh) return d.unknownModel(res, model);
  const stream = body.stream === true;
  const kind = await commonBehaviour(d, req, res, st, model, beh, stream);
  if (!kind) return;

  const msgs = messagesOf(body);
  const pt = promptTokens(msgs);
  const id = `chatcmpl-upstream${++seq}`;
  const created = Math.floor(Date.now() / 1000);
  const headers = { 'x-request-id': `req_upstream${seq}` };

  if (!stream) {
    if (kind === 'midstream-error') return d.serverError(res, 'something went wrong');
    const base = {
      id,
      object: 'chat.completion',
      created,
      model,
      system_fingerprint: 'fp_upstream',
    };
    if (kind === 'endless') {
      // A body that never ends: for size limits and total timeouts of non-streamed calls.
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      const head = JSON.stringify(base).slice(0, -1);
      if (
        !(await writeAwait(
          res,
          st,
          `${head},"choices":[{"index":0,"message":{"role":"assistant","content":"`,
        ))
      )
        return;
      while (await writeAwait(res, st, 'tick ')) await sleep(5);
      return;
    }
    let message;
    let finish = 'stop';
    let ct;
    if (kind === 'huge') {
      message = { role: 'assistant', content: 'x'.repeat(HUGE_BYTES), refusal: null };
      ct = HUGE_BYTES / 4;
    } else {
      const plan = planAnswer(kind, body, msgs);
      if (plan.toolCalls) {
        message = {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: plan.toolCalls.map((c) => ({
            id: c.id,
            type: 'function',
            function: { name: c.name, arguments: c.args },
          })),
        };
        finish = 'tool_calls';
        ct = plan.toolCalls.length * 3;
      } else {
        message = { role: 'assistant', content: plan.reply, refusal: null };
        ct = wordCount(plan.reply);
      }
    }
    const obj = {
      ...base,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage: oaUsage(pt, ct),
    };
    if (kind === 'disconnect') return sendHalfThenCut(req, res, obj);
    return sendJson(res, 200, obj, headers);
  }

  // Streamed: server-sent events, one JSON chunk per event, then [DONE].
  const includeUsage = !!(body.stream_options && body.stream_options.include_usage === true);
  const chunk = (delta, finish = null) => {
    const c = {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: 'fp_upstream',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
    if (includeUsage) c.usage = null;
    return `data: ${JSON.stringify(c)}\n\n`;
  };
  const finishStream = async (finish, ct) => {
    if (!(await writeAwait(res, st, chunk({}, finish)))) return;
    if (includeUsage) {
      const u = {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: 'fp_upstream',
        choices: [],
        usage: oaUsage(pt, ct),
      };
      if (!(await writeAwait(res, st, `data: ${JSON.stringify(u)}\n\n`))) return;
    }
    if (await writeAwait(res, st, 'data: [DONE]\n\n')) res.end();
  };
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...headers,
  });

  switch (kind) {
    case 'disconnect':
      await writeAwait(res, st, chunk({ role: 'assistant', content: 'part1' }));
      res.write(chunk({ content: ' part2' }), () => setTimeout(() => cutOff(req, res), 20));
      return;
    case 'midstream-error': {
      await writeAwait(res, st, chunk({ role: 'assistant', content: 'part1' }));
      await writeAwait(res, st, chunk({ content: ' part2' }));
      const err = {
        error: { message: 'something went wrong', type: 'server_error', param: null, code: null },
      };
      if (await writeAwait(res, st, `data: ${JSON.stringify(err)}\n\n`)) res.end();
      return;
    }
    case 'endless':
      for (let i = 0; ; i++) {
        const delta = i === 0 ? { role: 'assistant', content: 'tick' } : { content: ' tick' };
        if (!(await writeAwait(res, st, chunk(delta)))) return;
        await sleep(5);
      }
    case 'huge': {
      const piece = 'x'.repeat(HUGE_CHUNK);
      for (let sent = 0; sent < HUGE_BYTES; sent += HUGE_CHUNK) {
        const delta = sent === 0 ? { role: 'assistant', content: piece } : { content: piece };
        if (!(await writeAwait(res, st, chunk(delta)))) return;
      }
      return finishStream('stop', HUGE_BYTES / 4);
    }
    default:
      break;
  }

  const plan = planAnswer(kind, body, msgs);
  if (plan.toolCalls) {
    let first = true;
    for (let i = 0; i < plan.toolCalls.length; i++) {
      const c = plan.toolCalls[i];
      const open = {
        index: i,
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: '' },
      };
      const delta = first
        ? { role: 'assistant', content: null, tool_calls: [open] }
        : { tool_calls: [open] };
      first = false;
      if (!(await writeAwait(res, st, chunk(delta)))) return;
      for (const frag of splitInThree(c.args)) {
        const fd = { tool_calls: [{ index: i, function: { arguments: frag } }] };
        if (!(await writeAwait(res, st, chunk(fd)))) return;
      }
    }
    return finishStream('tool_calls', plan.toolCalls.length * 3);
  }
  const pieces = wordPieces(plan.reply);
  for (let i = 0; i < pieces.length; i++) {
    if (kind === 'slow-drip' && i > 0) await sleepUnlessGone(res, st, 100);
    const delta = i === 0 ? { role: 'assistant', content: pieces[i] } : { content: pieces[i] };
    if (!(await writeAwait(res, st, chunk(delta)))) return;
  }
  return finishStream('stop', wordCount(plan.reply));
}

// ---------------------------------------------------------------------------------------------
// OpenAI: models and embeddings

function modelObject(id) {
  return { id, object: 'model', created: 1700000000, owned_by: 'llm-upstream' };
}

async function openaiEmbeddings(req, res, st, body) {
  const d = openaiDialect;
  const model = body.model;
  if (typeof model !== 'string' || model === '') {
    return d.badRequest(res, 'you must provide a model parameter', 'model');
  }
  const inputs = embedInputs(body.input);
  if (!inputs) return d.badRequest(res, "'input' must be a string or a non-empty array", 'input');
  const dims = dimsOf(body.dimensions);
  if (dims === null) {
    return d.badRequest(res, `'dimensions' must be an integer from 1 to ${MAX_DIMS}`, 'dimensions');
  }
  const fmt = body.encoding_format === undefined ? 'float' : body.encoding_format;
  if (fmt !== 'float' && fmt !== 'base64') {
    return d.badRequest(res, "'encoding_format' must be 'float' or 'base64'", 'encoding_format');
  }
  const beh = behaviourOf(model, true);
  if (!beh) return d.unknownModel(res, model);
  const kind = await commonBehaviour(d, req, res, st, model, beh, false);
  if (!kind) return;
  let tokens = 0;
  const data = inputs.map((text, index) => {
    tokens += Math.max(1, Math.ceil(charLen(text) / 4));
    const v = embedVector(text, dims);
    const embedding =
      fmt === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v;
    return { object: 'embedding', index, embedding };
  });
  const obj = {
    object: 'list',
    data,
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
  if (kind === 'disconnect') return sendHalfThenCut(req, res, obj);
  sendJson(res, 200, obj);
}

// ---------------------------------------------------------------------------------------------
// Ollama: POST /api/chat, POST /api/embed, GET /api/tags

function ollamaFinal(model, started, pt, ec, extra = {}) {
  const total = Number(process.hrtime.bigint() - started);
  return {
    model,
    created_at: new Date().toISOString(),
    ...extra,
    done_reason: 'stop',
    done: true,
    total_duration: total,
    load_duration: 1000,
    prompt_eval_count: pt,
    prompt_eval_duration: Math.floor(total / 4),
    eval_count: ec,
    eval_duration: Math.floor(total / 2),
  };
}

async function ollamaChat(req, res, st, body) {
  const d = ollamaDialect;
  const started = process.hrtime.bigint();
  const model = body.model;
  if (typeof model !== 'string' || model === '') return d.badRequest(res, 'model is required');
  if (body.messages !== undefined && !Array.isArray(body.messages)) {
    return d.badRequest(res, 'messages must be an array');
  }
  const beh = behaviourOf(model, false);
  if (!beh) return d.unknownModel(res, model);
  const stream = body.stream !== false;
  const kind = await commonBehaviour(d, req, res, st, model, beh, stream);
  if (!kind) return;

  const msgs = messagesOf(body);
  const pt = promptTokens(msgs);
  const line = (content) =>
    `${JSON.stringify({
      model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content },
      done: false,
    })}\n`;
  const toOllamaCalls = (calls) =>
    calls.map((c, i) => ({
      id: c.id,
      function: { index: i, name: c.name, arguments: JSON.parse(c.args) },
    }));

  if (!stream) {
    if (kind === 'midstream-error') return d.serverError(res, 'something went wrong');
    if (kind === 'endless') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      const start = { model, created_at: new Date().toISOString() };
      const head = `${JSON.stringify(start).slice(0, -1)},"message":{"role":"assistant","content":"`;
      if (!(await writeAwait(res, st, head))) return;
      while (await writeAwait(res, st, 'tick ')) await sleep(5);
      return;
    }
    let obj;
    if (kind === 'huge') {
      obj = ollamaFinal(model, started, pt, HUGE_BYTES / 4, {
        message: { role: 'assistant', content: 'x'.repeat(HUGE_BYTES) },
      });
    } else {
      const plan = planAnswer(kind, body, msgs);
      const message = plan.toolCalls
        ? { role: 'assistant', content: '', tool_calls: toOllamaCalls(plan.toolCalls) }
        : { role: 'assistant', content: plan.reply };
      const ec = plan.toolCalls ? plan.toolCalls.length * 3 : wordCount(plan.reply);
      obj = ollamaFinal(model, started, pt, ec, { message });
    }
    if (kind === 'disconnect') return sendHalfThenCut(req, res, obj);
    return sendJson(res, 200, obj);
  }

  // Streamed: newline-delimited JSON, one object per line, the last one with done:true.
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const finish = async (ec) => {
    const fin = ollamaFinal(model, started, pt, ec, {
      message: { role: 'assistant', content: '' },
    });
    if (await writeAwait(res, st, `${JSON.stringify(fin)}\n`)) res.end();
  };
  switch (kind) {
    case 'disconnect':
      await writeAwait(res, st, line('part1'));
      res.write(line(' part2'), () => setTimeout(() => cutOff(req, res), 20));
      return;
    case 'midstream-error':
      await writeAwait(res, st, line('part1'));
      await writeAwait(res, st, line(' part2'));
      if (await writeAwait(res, st, `${JSON.stringify({ error: 'something went wrong' })}\n`))
        res.end();
      return;
    case 'endless':
      for (let i = 0; ; i++) {
        if (!(await writeAwait(res, st, line(i === 0 ? 'tick' : ' tick')))) return;
        await sleep(5);
      }
    case 'huge': {
      const piece = 'x'.repeat(HUGE_CHUNK);
      for (let sent = 0; sent < HUGE_BYTES; sent += HUGE_CHUNK) {
        if (!(await writeAwait(res, st, line(piece)))) return;
      }
      return finish(HUGE_BYTES / 4);
    }
    default:
      break;
  }
  const plan = planAnswer(kind, body, msgs);
  if (plan.toolCalls) {
    // Ollama sends tool calls whole, in one line, with arguments as an object.
    const obj = {
      model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content: '', tool_calls: toOllamaCalls(plan.toolCalls) },
      done: false,
    };
    if (!(await writeAwait(res, st, `${JSON.stringify(obj)}\n`))) return;
    return finish(plan.toolCalls.length * 3);
  }
  const pieces = wordPieces(plan.reply);
  for (let i = 0; i < pieces.length; i++) {
    if (kind === 'slow-drip' && i > 0) await sleepUnlessGone(res, st, 100);
    if (!(await writeAwait(res, st, line(pieces[i])))) return;
  }
  return finish(wordCount(plan.reply));
}

async function ollamaEmbed(req, res, st, body, legacy) {
  const d = ollamaDialect;
  const model = body.model;
  if (typeof model !== 'string' || model === '') return d.badRequest(res, 'model is required');
  const inputs = legacy
    ? typeof body.prompt === 'string'
      ? [body.prompt]
      : null
    : embedInputs(body.input);
  if (!inputs) return d.badRequest(res, legacy ? 'prompt must be a string' : 'invalid input type');
  const dims = dimsOf(body.dimensions);
  if (dims === null)
    return d.badRequest(res, `dimensions must be an integer from 1 to ${MAX_DIMS}`);
  const beh = behaviourOf(model, true);
  if (!beh) return d.unknownModel(res, model);
  const kind = await commonBehaviour(d, req, res, st, model, beh, false);
  if (!kind) return;
  let obj;
  if (legacy) {
    obj = { embedding: embedVector(inputs[0], dims) };
  } else {
    let tokens = 0;
    for (const t of inputs) tokens += Math.max(1, Math.ceil(charLen(t) / 4));
    obj = {
      model,
      embeddings: inputs.map((t) => embedVector(t, dims)),
      total_duration: 1000,
      load_duration: 100,
      prompt_eval_count: tokens,
    };
  }
  if (kind === 'disconnect') return sendHalfThenCut(req, res, obj);
  sendJson(res, 200, obj);
}

function ollamaTags() {
  return {
    models: LISTED.map((name) => ({
      name: `${name}:latest`,
      model: `${name}:latest`,
      modified_at: '2024-01-01T00:00:00Z',
      size: 1000,
      digest: crypto.createHash('sha256').update(name).digest('hex'),
      details: {
        parent_model: '',
        format: 'gguf',
        family: 'upstream',
        families: ['upstream'],
        parameter_size: '1M',
        quantization_level: 'Q8_0',
      },
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Dispatch

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function bearerOf(req) {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(\S.*)$/i.exec(h.trim());
  return m ? m[1] : null;
}

async function handle(req, res) {
  const t = Date.now();
  const st = watchGone(res);
  const path = new URL(req.url, 'http://upstream').pathname;
  const method = req.method;

  if (path === '/_control/calls' && method === 'GET') {
    return sendJson(res, 200, { total: calls.length, calls });
  }
  if (path === '/_control/reset' && method === 'POST') {
    resetState();
    return sendJson(res, 200, { ok: true });
  }

  let raw;
  try {
    raw = await readBody(req);
  } catch {
    if (!st.gone && !res.headersSent) sendJson(res, 413, { error: 'request body too large' });
    return;
  }
  let body;
  let badJson = null;
  if (method === 'POST') {
    try {
      body = JSON.parse(raw.toString('utf8'));
      if (!body || typeof body !== 'object' || Array.isArray(body))
        badJson = 'the body must be a JSON object';
    } catch (e) {
      badJson = e.message;
    }
  }
  const ok = !badJson && body;
  const token = bearerOf(req);
  const auth = opts.apiKey ? token === opts.apiKey : token !== null;
  const isOllamaChat = path === '/api/chat';
  calls.push({
    path,
    model: ok && typeof body.model === 'string' ? body.model : null,
    stream: ok ? (isOllamaChat ? body.stream !== false : body.stream === true) : false,
    http: req.httpVersion,
    auth,
    t,
  });

  if (path.startsWith('/v1/')) {
    const d = openaiDialect;
    if (opts.apiKey && !auth) {
      const msg =
        token === null
          ? "You didn't provide an API key. You need to provide your API key in an " +
            'Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).'
          : 'Incorrect API key provided. You can find your API key at your account page.';
      return d.error(res, 401, msg, 'invalid_request_error', 'invalid_api_key');
    }
    if (path === '/v1/models' && method === 'GET') {
      return sendJson(res, 200, { object: 'list', data: LISTED.map(modelObject) });
    }
    if (path.startsWith('/v1/models/') && method === 'GET') {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (!behaviourOf(id, true)) return d.unknownModel(res, id);
      return sendJson(res, 200, modelObject(id));
    }
    const post = { '/v1/chat/completions': openaiChat, '/v1/embeddings': openaiEmbeddings }[path];
    if (!post)
      return d.error(
        res,
        404,
        `Unknown request URL: ${method} ${path}.`,
        'invalid_request_error',
        'unknown_url',
      );
    if (method !== 'POST') {
      return d.error(
        res,
        405,
        `Method ${method} not allowed on ${path}.`,
        'invalid_request_error',
        null,
      );
    }
    if (badJson) {
      return d.badRequest(res, `We could not parse the JSON body of your request. (${badJson})`);
    }
    return post(req, res, st, body);
  }

  if (path.startsWith('/api/')) {
    const d = ollamaDialect;
    if (path === '/api/tags' && method === 'GET') return sendJson(res, 200, ollamaTags());
    if (path === '/api/version' && method === 'GET')
      return sendJson(res, 200, { version: '0.0.0-upstream' });
    const post = {
      '/api/chat': (q, s, w, b) => ollamaChat(q, s, w, b),
      '/api/embed': (q, s, w, b) => ollamaEmbed(q, s, w, b, false),
      '/api/embeddings': (q, s, w, b) => ollamaEmbed(q, s, w, b, true),
    }[path];
    if (!post) return sendJson(res, 404, { error: `${path} not found` });
    if (method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
    if (badJson) return d.badRequest(res, `invalid JSON: ${badJson}`);
    return post(req, res, st, body);
  }

  if (path === '/' && (method === 'GET' || method === 'HEAD')) {
    return sendRaw(res, 200, 'text/plain; charset=utf-8', 'Ollama is running');
  }
  sendJson(res, 404, { error: `${path} not found` });
}

function onRequest(req, res) {
  handle(req, res).catch((e) => {
    process.stderr.write(`llm_upstream: ${e && e.stack ? e.stack : e}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'upstream bug: see its stderr' });
    else cutOff(req, res);
  });
}

// ---------------------------------------------------------------------------------------------
// Start-up and lifetime

function readPem(file, what) {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    process.stderr.write(`llm_upstream: cannot read ${what} ${file}: ${e.message}\n`);
    process.exit(1);
  }
}

// With TLS, HTTP/2 for clients that offer h2 by ALPN and HTTP/1.1 for the others, on one port.
const server = opts.cert
  ? http2.createSecureServer(
      {
        cert: readPem(opts.cert, '--tls-cert'),
        key: readPem(opts.key, '--tls-key'),
        allowHTTP1: true,
      },
      onRequest,
    )
  : http.createServer(onRequest);

server.on('error', (e) => {
  process.stderr.write(`llm_upstream: ${e.message}\n`);
  process.exit(1);
});

server.listen(opts.port, opts.host, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, tls: !!opts.cert })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// Leave with the test that started us: when our stdin is a pipe, socket or terminal and it
// closes, the parent has gone. A stdin that is a file or /dev/null says nothing about the parent.
function watchStdin() {
  let s;
  try {
    s = fs.fstatSync(0);
  } catch {
    return;
  }
  if (!(s.isFIFO() || s.isSocket() || (s.isCharacterDevice() && tty.isatty(0)))) return;
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
watchStdin();
