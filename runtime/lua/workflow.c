/* lua/workflow.c — starts a workflow file in a fresh VM, reports its outcome, cancels and frees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "lua/internal.h"
#include "lua/ljson.h"

/* Runs the workflow chunk, then the function it returns, in the root fiber
 * (so top-level code may use the yielding bindings too). */
static const char BOOTSTRAP[] =
    "local chunk, input, path, agent = ...\n"
    "local fn = chunk()\n"
    "if type(fn) ~= 'function' then\n"
    "  error(path .. ': a workflow file must return a function, it returned ' .. type(fn), 0)\n"
    "end\n"
    "return fn(input, agent)\n";

int lh_workflow_start(const lh_services *svc, const char *path, const char *input_json,
                      lh_done_fn done, void *ud, lh_workflow **out, char *err, size_t err_len) {
  lh_run_options opts = {.input_json = input_json};
  return lh_workflow_run(svc, path, &opts, done, ud, out, err, err_len);
}

/* Decodes json (NULL: nil) onto L; 0 or AGENTAI_EINVAL with what in err. */
static int push_json_arg(lua_State *L, const char *json, const char *what, char *err,
                         size_t err_len) {
  if (!json) {
    lua_pushnil(L);
    return 0;
  }
  char why[256];
  if (ljson_decode(L, json, strlen(json), why, sizeof why) == 0)
    return 0;
  snprintf(err, err_len, "%s is not valid JSON: %s", what, why);
  return AGENTAI_EINVAL;
}

int lh_workflow_run(const lh_services *svc, const char *path, const lh_run_options *opts,
                    lh_done_fn done, void *ud, lh_workflow **out, char *err, size_t err_len) {
  lh_workflow *wf = calloc(1, sizeof *wf);
  if (!wf) {
    snprintf(err, err_len, "out of memory");
    return AGENTAI_ENOMEM;
  }
  lh_vm *vm = &wf->vm;
  vm->wf = wf;
  vm->svc = svc;
  vm->done = done;
  vm->done_ud = ud;
  if (opts)
    vm->run = *opts;
  const config *cfg = svc->cfg;
  vm->mem_limit = cfg && cfg->lua_memory_limit ? cfg->lua_memory_limit : (64u << 20);
  vm->cpu_limit = cfg ? cfg->lua_cpu_limit : 0;
  vm->slice = cfg && cfg->lua_slice_instructions ? cfg->lua_slice_instructions : 100000;
  vm->hook_count = vm->slice < 10000 ? vm->slice : 10000;
  snprintf(vm->path, sizeof vm->path, "%s", path);
  snprintf(vm->dir, sizeof vm->dir, "%s", path);
  char *slash = strrchr(vm->dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(vm->dir, sizeof vm->dir, ".");

  lua_State *L = lh_vm_open(vm, err, err_len);
  if (!L) {
    free(wf);
    return AGENTAI_ENOMEM;
  }
  lh_sched_start(vm);
  int rc = 0;
  if (luaL_loadbufferx(L, BOOTSTRAP, sizeof BOOTSTRAP - 1, "=agentai", "t") != LUA_OK) {
    snprintf(err, err_len, "bootstrap: %s", lua_tostring(L, -1));
    rc = AGENTAI_EINVAL;
  } else if (luaL_loadfilex(L, path, "t") != LUA_OK) {
    /* "cannot open FILE" or "FILE:LINE: syntax error": both name the file */
    snprintf(err, err_len, "%s", lua_tostring(L, -1));
    rc = strstr(err, "cannot open") ? AGENTAI_ENOENT : AGENTAI_EINVAL;
  } else if ((rc = push_json_arg(L, vm->run.input_json, "input", err, err_len)) == 0) {
    lua_pushstring(L, path);
    rc = push_json_arg(L, vm->run.agent_json, "agent", err, err_len);
  }
  if (rc == 0) {
    vm->root = lh_fiber_new(vm, 4);
    if (!vm->root) {
      snprintf(err, err_len, "out of memory");
      rc = AGENTAI_ENOMEM;
    }
  }
  if (rc < 0) {
    vm->done = NULL;
    lh_workflow_free(wf);
    return rc;
  }
  *out = wf;
  return 0;
}

/* The message of a failed root fiber: the error with its traceback. Pushes
 * the error value and its text (2 values). */
static const char *failure_text(lua_State *L, lh_fiber *root) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, root->result_ref);
  return luaL_tolstring(L, -1, NULL);
}

void lh_workflow_report(lh_vm *vm) {
  lh_done_fn done = vm->done;
  vm->done = NULL;
  if (!done)
    return;
  lua_State *L = vm->L;
  lua_settop(L, 0);
  lh_outcome out = {
      .instructions = vm->instructions, .memory_peak = vm->mem_peak, .retry_after_ms = -1};
  char *result = NULL, *message = NULL;
  char kind[32] = "lua_error";
  lh_fiber *root = vm->root;
  if (!vm->killed && root->state == LH_FIBER_DONE) {
    char why[512];
    size_t len = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, root->result_ref);
    if (ljson_encode(L, -1, &result, &len, why, sizeof why) < 0) {
      size_t n = strlen(why) + strlen(vm->path) + 64;
      message = malloc(n);
      snprintf(message, n, "%s: the workflow's result cannot be encoded as JSON: %s", vm->path,
               why);
      out.status = AGENTAI_EINVAL;
      snprintf(kind, sizeof kind, "invalid_result");
    } else {
      out.result_json = result;
    }
  } else if (vm->killed) {
    out.status = vm->kill_status;
    snprintf(kind, sizeof kind, "%s", vm->kill_kind);
    const char *detail = root->state == LH_FIBER_FAILED ? failure_text(L, root) : "";
    if (strstr(detail, vm->kill_msg)) {
      message = strdup(detail); /* raised by the hook: has file:line and traceback */
    } else {
      size_t n = strlen(vm->path) + strlen(vm->kill_msg) + strlen(detail) + 32;
      message = malloc(n);
      snprintf(message, n, "%s: %s%s%s", vm->path, vm->kill_msg, detail[0] ? "\n" : "", detail);
    }
  } else {
    out.status = AGENTAI_EINVAL;
    message = strdup(failure_text(L, root));
    /* structured errors from bindings carry their kind and code */
    if (lua_istable(L, 1)) {
      if (lua_getfield(L, 1, "kind") == LUA_TSTRING)
        snprintf(kind, sizeof kind, "%s", lua_tostring(L, -1));
      if (lua_getfield(L, 1, "code") == LUA_TNUMBER && lua_isinteger(L, -1))
        out.status = (int)lua_tointeger(L, -1);
      out.retryable = lua_getfield(L, 1, "retryable") == LUA_TBOOLEAN && lua_toboolean(L, -1);
      if (lua_getfield(L, 1, "retry_after") == LUA_TNUMBER)
        out.retry_after_ms = (int64_t)(lua_tonumber(L, -1) * 1000.0);
    }
  }
  lua_settop(L, 0);
  if (out.status) {
    out.error = message;
    out.error_kind = kind;
  }
  done(vm->done_ud, vm->wf, &out);
  free(result);
  free(message);
}

void lh_workflow_cancel(lh_workflow *wf, const char *reason) {
  lh_vm *vm = &wf->vm;
  if (vm->finished || !vm->done)
    return;
  lh_vm_kill(vm, AGENTAI_ECANCELED, "cancelled", reason ? reason : "cancelled");
  lh_sched_finish_now(vm);
}

static void idle_closed(uv_handle_t *h) {
  lh_vm *vm = h->data;
  free(vm->wf);
}

void lh_workflow_free(lh_workflow *wf) {
  if (!wf)
    return;
  lh_vm *vm = &wf->vm;
  vm->freeing = 1;
  lh_sched_cancel_all(vm);
  lh_op_pool_drain(vm);
  if (vm->idle_active)
    uv_idle_stop(&vm->idle);
  for (lh_fiber *f = vm->fibers; f;) {
    lh_fiber *next = f->next;
    free(f);
    f = next;
  }
  vm->fibers = NULL;
  if (vm->L)
    lua_close(vm->L);
  vm->L = NULL;
  uv_close((uv_handle_t *)&vm->idle, idle_closed);
}

size_t lh_workflow_memory(const lh_workflow *wf) {
  return wf ? wf->vm.mem_used : 0;
}
