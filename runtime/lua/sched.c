/* lua/sched.c — coroutine scheduling on the loop: fibers, awaited operations, spawn/wait, time
 * slices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"
#include "lua/internal.h"

#define FIBER_MT "agentai.fiber"

/* Each workflow fiber stores its lh_fiber* in its thread's extra space;
 * threads created by coroutine.create copy the main thread's (NULL), which
 * is how bindings tell a workflow fiber from a user coroutine. */
lh_fiber *lh_fiber_of(lua_State *L) {
  return *(lh_fiber **)lua_getextraspace(L);
}

static void run_queue_push(lh_vm *vm, lh_fiber *f) {
  if (f->queued)
    return;
  f->queued = 1;
  f->next_runnable = NULL;
  if (vm->run_tail)
    vm->run_tail->next_runnable = f;
  else
    vm->run_head = f;
  vm->run_tail = f;
  if (!vm->idle_active && !vm->freeing) {
    uv_idle_start(&vm->idle, lh_sched_idle_cb);
    vm->idle_active = 1;
  }
}

void lh_sched_make_runnable(lh_fiber *f, int nargs) {
  f->state = LH_FIBER_RUNNABLE;
  f->resume_nargs = nargs;
  run_queue_push(f->vm, f);
}

static void fiber_link(lh_vm *vm, lh_fiber *f) {
  f->prev = NULL;
  f->next = vm->fibers;
  if (vm->fibers)
    vm->fibers->prev = f;
  vm->fibers = f;
}

lh_fiber *lh_fiber_new(lh_vm *vm, int nargs) {
  lua_State *L = vm->L;
  /* The thread first: lua_newthread raises on out-of-memory, and nothing of
   * ours may be allocated yet when it does. */
  lua_State *co = lua_newthread(L);
  lh_fiber *f = calloc(1, sizeof *f);
  if (!f) {
    lua_pop(L, 1);
    return NULL;
  }
  f->vm = vm;
  f->id = ++vm->next_fiber_id;
  lh_fiber *parent = vm->current;
  if (!parent) {
    snprintf(f->path, sizeof f->path, "0");
  } else {
    uint32_t n = ++parent->nchildren;
    int w = snprintf(f->path, sizeof f->path, "%s.%u", parent->path, (unsigned)n);
    if (w < 0 || (size_t)w >= sizeof f->path) { /* deep spawn trees: fold the path */
      char tmp[64];
      snprintf(tmp, sizeof tmp, "%s.%u", parent->path, (unsigned)n);
      uint64_t h = lh_journal_hash(0, tmp, strlen(tmp));
      snprintf(f->path, sizeof f->path, "h%016llx", (unsigned long long)h);
    }
  }
  f->result_ref = LUA_NOREF;
  f->co = co;
  f->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the thread */
  *(lh_fiber **)lua_getextraspace(f->co) = f;
  lh_vm_install_hook(vm, f->co);
  if (!lua_checkstack(f->co, nargs + 1)) {
    luaL_unref(L, LUA_REGISTRYINDEX, f->thread_ref);
    lua_pop(L, nargs + 1);
    free(f);
    return NULL;
  }
  lua_xmove(L, f->co, nargs + 1); /* the function and its arguments */
  fiber_link(vm, f);
  lh_sched_make_runnable(f, nargs);
  return f;
}

/* ---- operations ---- */

/* Ops up to this size (op + data) are recycled through a per-VM pool. */
#define OP_POOL_SLOT 320
#define OP_POOL_MAX 32
#define OP_HEAD ((sizeof(lh_op) + 15) & ~(size_t)15)

lh_op *lh_op_begin(lua_State *L, const char *what, size_t data_size,
                   int (*push_result)(lua_State *L, lh_op *op)) {
  lh_fiber *f = lh_fiber_of(L);
  if (!f)
    luaL_error(L,
               "%s must be called from a workflow or an ai.spawn function, not from inside "
               "coroutine.create/wrap",
               what);
  lh_vm *vm = f->vm;
  size_t size = OP_HEAD + data_size;
  lh_op *op = NULL;
  if (size <= OP_POOL_SLOT && vm->op_pool) {
    op = vm->op_pool;
    vm->op_pool = op->next;
    vm->op_pool_count--;
    memset(op, 0, size); /* only what this op uses */
  } else {
    /* one allocation for the op and the binding's data */
    op = calloc(1, size <= OP_POOL_SLOT ? OP_POOL_SLOT : size);
    if (!op)
      luaL_error(L, "%s: out of memory", what);
  }
  op->size = size <= OP_POOL_SLOT ? OP_POOL_SLOT : size;
  op->pool = op->size == OP_POOL_SLOT ? vm : NULL;
  op->data = data_size ? (char *)op + OP_HEAD : NULL;
  op->push_result = push_result;
  op->fiber = f;
  op->vm = vm;
  op->inline_phase = 1;
  op->next = vm->ops;
  if (vm->ops)
    vm->ops->prev = op;
  vm->ops = op;
  f->op = op;
  return op;
}

static void op_unlink(lh_op *op) {
  if (!op->vm)
    return;
  if (op->prev)
    op->prev->next = op->next;
  else
    op->vm->ops = op->next;
  if (op->next)
    op->next->prev = op->prev;
  op->vm = NULL;
  op->next = op->prev = NULL;
}

/* Unlinks, releases the binding's memory and recycles or frees the op. */
static void op_free(lh_op *op) {
  op_unlink(op);
  if (op->release)
    op->release(op);
  lh_vm *pool = op->pool;
  if (pool && pool->op_pool_count < OP_POOL_MAX) {
    op->next = pool->op_pool;
    pool->op_pool = op;
    pool->op_pool_count++;
  } else {
    free(op);
  }
}

void lh_op_pool_drain(lh_vm *vm) {
  while (vm->op_pool) {
    lh_op *op = vm->op_pool;
    vm->op_pool = op->next;
    free(op);
  }
  vm->op_pool_count = 0;
}

void lh_op_abort(lh_op *op) {
  if (op->fiber)
    op->fiber->op = NULL;
  op_free(op);
}

int lh_op_detached(const lh_op *op) {
  return op->fiber == NULL;
}

void lh_op_complete(lh_op *op) {
  lh_fiber *f = op->fiber;
  op->completed = 1;
  if (!f) { /* detached: nobody waits for the result */
    op_free(op);
    return;
  }
  if (op->inline_phase)
    return; /* lh_op_await picks the result up directly */
  f->op = NULL;
  lh_sched_make_runnable(f, 0);
}

/* In the fiber: the result, or the error raised at the caller's file:line. */
static int op_finish(lua_State *L, lh_op *op) {
  lh_fiber *f = op->fiber;
  if (f)
    f->op = NULL;
  op->fiber = NULL;
  int ok = op->push_result(L, op);
  op_free(op);
  if (ok)
    return 1;
  if (lua_istable(L, -1)) {
    if (lua_getfield(L, -1, "where") == LUA_TNIL) {
      lh_push_where(L);
      lua_setfield(L, -3, "where");
    }
    lua_pop(L, 1);
  }
  return lua_error(L);
}

static int op_continue(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return op_finish(L, (lh_op *)ctx);
}

int lh_op_await(lua_State *L, lh_op *op) {
  op->inline_phase = 0;
  if (op->completed)
    return op_finish(L, op);
  lh_fiber_of(L)->state = LH_FIBER_WAIT_OP;
  return lua_yieldk(L, 0, (lua_KContext)op, op_continue);
}

/* ---- spawn / wait ---- */

/* The fiber and its handle point at each other; whichever goes first (the
 * handle collected, or the fiber freed) clears the other's pointer. */
typedef struct lh_fiber_handle {
  lh_fiber *fiber;
} fiber_handle;

int lh_sched_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lh_fiber *self = lh_fiber_of(L);
  if (!self)
    return luaL_error(L, "ai.spawn must be called from a workflow or an ai.spawn function");
  lh_vm *vm = self->vm;
  int nargs = lua_gettop(L) - 1;
  lua_checkstack(vm->L, nargs + 2);
  lua_xmove(L, vm->L, nargs + 1);
  lh_fiber *f = lh_fiber_new(vm, nargs);
  if (!f)
    return luaL_error(L, "ai.spawn: out of memory");
  if (self->group) { /* shared VM: the child runs and ends with its request */
    f->group = self->group;
    f->group->nfibers++;
    lh_vm_install_hook(vm, f->co);
  }
  /* The handle is made last: if it raises (out of memory), the fiber runs
   * without one, which is what an unreferenced handle means anyway. */
  fiber_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->fiber = f;
  f->handle = h;
  luaL_setmetatable(L, FIBER_MT);
  return 1;
}

static lh_fiber *check_handle(lua_State *L, int idx) {
  fiber_handle *h = luaL_testudata(L, idx, FIBER_MT);
  if (!h)
    luaL_typeerror(L, idx, "handle from ai.spawn");
  if (!h->fiber)
    luaL_argerror(L, idx, "the fiber of this handle is gone");
  return h->fiber;
}

static int all_finished(lua_State *L, int n) {
  for (int i = 1; i <= n; i++) {
    lh_fiber *f = check_handle(L, i);
    if (f->state != LH_FIBER_DONE && f->state != LH_FIBER_FAILED)
      return 0;
  }
  return 1;
}

/* Returns each handle's first result in order; the first failure is raised. */
static int wait_collect(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checkstack(L, n + 4, "ai.wait: too many handles");
  for (int i = 1; i <= n; i++) {
    lh_fiber *f = check_handle(L, i);
    if (f->state == LH_FIBER_FAILED) {
      if (f->result_ref == LUA_NOREF) /* stopped: its request ended first */
        return luaL_error(L, "ai.wait: the fiber was stopped before it finished");
      lua_rawgeti(L, LUA_REGISTRYINDEX, f->result_ref);
      return lua_error(L);
    }
  }
  for (int i = 1; i <= n; i++) {
    lh_fiber *f = check_handle(L, i);
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->result_ref);
  }
  return n;
}

static int wait_continue(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_settop(L, (int)ctx);
  return wait_collect(L);
}

int lh_sched_wait(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0)
    return luaL_error(L, "ai.wait expects at least one handle from ai.spawn");
  lh_fiber *self = lh_fiber_of(L);
  if (!self)
    return luaL_error(L, "ai.wait must be called from a workflow or an ai.spawn function");
  for (int i = 1; i <= n; i++)
    if (check_handle(L, i) == self)
      return luaL_error(L, "ai.wait: a fiber cannot wait for itself");
  if (all_finished(L, n))
    return wait_collect(L);
  self->state = LH_FIBER_WAIT_JOIN;
  return lua_yieldk(L, 0, n, wait_continue);
}

/* After a fiber ends: wake every joiner whose handles have all finished. */
static void wake_joiners(lh_vm *vm) {
  for (lh_fiber *f = vm->fibers; f; f = f->next) {
    if (f->state != LH_FIBER_WAIT_JOIN)
      continue;
    int n = lua_gettop(f->co);
    int ready = lua_checkstack(f->co, 4); /* room for luaL_testudata */
    for (int i = 1; i <= n && ready; i++) {
      fiber_handle *h = luaL_testudata(f->co, i, FIBER_MT);
      if (h && h->fiber && h->fiber->state != LH_FIBER_DONE && h->fiber->state != LH_FIBER_FAILED)
        ready = 0;
    }
    if (ready)
      lh_sched_make_runnable(f, 0);
  }
}

/* ---- running fibers ---- */

static void finish_workflow(lh_vm *vm);
static void shared_fiber_ended(lh_vm *vm, lh_fiber *f);
static void fiber_free_if_unheld(lua_State *L, lh_fiber *f);

/* Keeps the error value with a traceback: appended to a string error, or
 * stored as the `traceback` field of a structured (table) error. Raw table
 * access: no metamethod (user code) may run here, outside any fiber and any
 * protected call. */
static void store_failure(lh_fiber *f) {
  lua_State *co = f->co;
  lua_State *L = f->vm->L;
  if (lua_type(co, -1) == LUA_TTABLE) {
    lua_xmove(co, L, 1);
    lua_pushliteral(L, "traceback");
    if (lua_rawget(L, -2) == LUA_TNIL) {
      lua_pushliteral(L, "traceback");
      luaL_traceback(L, co, NULL, 0);
      lua_rawset(L, -4);
    }
    lua_pop(L, 1);
  } else {
    const char *msg = lua_tostring(co, -1);
    luaL_traceback(L, co, msg ? msg : luaL_typename(co, -1), 0);
    lua_pop(co, 1);
  }
  f->result_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void resume_fiber(lh_vm *vm, lh_fiber *f) {
  int nargs = f->resume_nargs, nres = 0;
  f->resume_nargs = 0;
  f->state = LH_FIBER_RUNNING;
  f->slice_start = vm->instructions;
  vm->current = f;
  int rc = lua_resume(f->co, vm->L, nargs, &nres);
  vm->current = NULL;
  if (rc == LUA_YIELD) {
    lua_pop(f->co, nres);
    if (f->state == LH_FIBER_RUNNING) /* a time slice ended, or a plain coroutine.yield */
      lh_sched_make_runnable(f, 0);
    return;
  }
  if (rc == LUA_OK && vm->shared && !f->handle) {
    f->state = LH_FIBER_DONE; /* nobody can ask for its result */
  } else if (rc == LUA_OK) {
    /* keep the first returned value */
    if (nres == 0)
      lua_pushnil(f->co);
    else
      lua_pushvalue(f->co, lua_gettop(f->co) - nres + 1);
    lua_xmove(f->co, vm->L, 1);
    f->result_ref = luaL_ref(vm->L, LUA_REGISTRYINDEX);
    f->state = LH_FIBER_DONE;
  } else {
    store_failure(f);
    f->state = LH_FIBER_FAILED;
    int main_fiber = f == vm->root || (f->group && f == f->group->main); /* reported elsewhere */
    if (!main_fiber && log_get_level() <= AGENTAI_LOG_DEBUG) {
      /* Its text without __tostring: no user code outside a fiber. */
      int top = lua_gettop(vm->L);
      lua_rawgeti(vm->L, LUA_REGISTRYINDEX, f->result_ref);
      if (lua_type(vm->L, -1) == LUA_TTABLE) {
        lua_pushliteral(vm->L, "message");
        lua_rawget(vm->L, -2);
      }
      log_printf(
          AGENTAI_LOG_DEBUG, "lua", "spawned fiber %llu failed: %s", (unsigned long long)f->id,
          lua_type(vm->L, -1) == LUA_TSTRING ? lua_tostring(vm->L, -1) : luaL_typename(vm->L, -1));
      lua_settop(vm->L, top);
    }
  }
  if (vm->shared) {
    shared_fiber_ended(vm, f);
    return;
  }
  luaL_unref(vm->L, LUA_REGISTRYINDEX, f->thread_ref);
  f->thread_ref = LUA_NOREF;
  f->co = NULL; /* collectable now */
  /* A kill ends the workflow as soon as the killed fiber gives control back,
   * even if the root is still waiting on something. */
  if (f == vm->root || vm->killed)
    finish_workflow(vm);
  else
    wake_joiners(vm);
}

void lh_sched_idle_cb(uv_idle_t *h) {
  lh_vm *vm = h->data;
  /* Run what is runnable now; fibers made runnable meanwhile wait for the
   * next loop iteration, so I/O callbacks get their turn between slices. */
  lh_fiber *batch = vm->run_head;
  vm->run_head = vm->run_tail = NULL;
  while (batch && !vm->finished) {
    lh_fiber *f = batch;
    batch = f->next_runnable;
    f->queued = 0;
    if (f->state == LH_FIBER_RUNNABLE)
      resume_fiber(vm, f);
    else if (f->released) /* stopped while queued (shared VMs) */
      fiber_free_if_unheld(vm->L, f);
  }
  if (vm->finished) {
    uv_idle_stop(&vm->idle);
    vm->idle_active = 0;
    lh_workflow_report(vm); /* may free the workflow: touch nothing after */
    return;
  }
  if (!vm->run_head) {
    uv_idle_stop(&vm->idle);
    vm->idle_active = 0;
  }
}

static void finish_workflow(lh_vm *vm) {
  vm->finished = 1;
  lh_sched_cancel_all(vm);
}

void lh_sched_finish_now(lh_vm *vm) {
  finish_workflow(vm);
  if (!vm->idle_active) {
    uv_idle_start(&vm->idle, lh_sched_idle_cb);
    vm->idle_active = 1;
  }
}

static int fiber_handle_gc(lua_State *L);

void lh_sched_start(lh_vm *vm) {
  uv_idle_init(vm->svc->loop, &vm->idle);
  vm->idle.data = vm;
  luaL_newmetatable(vm->L, FIBER_MT);
  lua_pushliteral(vm->L, "agentai.fiber");
  lua_setfield(vm->L, -2, "__name");
  lua_pushcfunction(vm->L, fiber_handle_gc);
  lua_setfield(vm->L, -2, "__gc");
  lua_pop(vm->L, 1);
}

/* Takes op away from its fiber: stopped and freed, or detached. */
static void op_drop(lh_op *op) {
  op_unlink(op);
  if (op->fiber)
    op->fiber->op = NULL;
  op->fiber = NULL;
  op->pool = NULL; /* it may outlive the VM: never return it to the pool */
  if (op->completed) {
    op_free(op); /* its result was never picked up */
  } else if (op->cancel) {
    op->cancel(op); /* stops the operation: its completion will not run */
    op_free(op);
  }
  /* else: detached; its completion sees no fiber and frees it */
}

void lh_sched_cancel_all(lh_vm *vm) {
  while (vm->ops)
    op_drop(vm->ops);
}

/* ---- shared VMs: many independent fiber groups (the route VM) ----
 *
 * A workflow VM keeps every fiber until the workflow is freed. A shared VM
 * lives as long as the server, so its fibers go as they end: one the
 * scheduler is done with is "released" (out of vm->fibers) and freed once
 * neither the run queue nor an ai.spawn handle holds it. One that ended
 * cleanly keeps its coroutine for the pool, so the next request runs
 * without allocating a thread. */

#define FIBER_POOL_MAX 64

static void fiber_unlink(lh_vm *vm, lh_fiber *f) {
  if (f->prev)
    f->prev->next = f->next;
  else if (vm->fibers == f)
    vm->fibers = f->next;
  if (f->next)
    f->next->prev = f->prev;
  f->next = f->prev = NULL;
}

/* L: any thread of the VM (the registry is shared), e.g. a finalizer's. */
static void fiber_free_if_unheld(lua_State *L, lh_fiber *f) {
  if (f->queued || f->handle)
    return;
  lh_vm *vm = f->vm;
  luaL_unref(L, LUA_REGISTRYINDEX, f->result_ref);
  if (f->co && f->state == LH_FIBER_DONE && !vm->freeing && vm->fiber_pool_count < FIBER_POOL_MAX) {
    lua_State *co = f->co;
    int thread_ref = f->thread_ref;
    lua_settop(co, 0);
    memset(f, 0, sizeof *f);
    f->vm = vm;
    f->co = co;
    f->thread_ref = thread_ref;
    f->result_ref = LUA_NOREF;
    if (lua_gethookmask(co) & LUA_MASKLINE) /* its group was killed: the count hook again */
      lh_vm_install_hook(vm, co);
    f->next = vm->fiber_pool;
    vm->fiber_pool = f;
    vm->fiber_pool_count++;
    return;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, f->thread_ref);
  free(f);
}

static void fiber_release(lh_vm *vm, lh_fiber *f) {
  fiber_unlink(vm, f);
  f->released = 1;
  fiber_free_if_unheld(vm->L, f);
}

/* Ends a fiber that is not running: its operations are cancelled and its
 * coroutine dropped mid-way (the collector takes it). ai.wait on it raises. */
static void fiber_stop(lh_vm *vm, lh_fiber *f) {
  for (lh_op *op = vm->ops, *next; op; op = next) {
    next = op->next;
    if (op->fiber == f)
      op_drop(op);
  }
  f->op = NULL;
  if (f->co) {
    luaL_unref(vm->L, LUA_REGISTRYINDEX, f->thread_ref);
    f->thread_ref = LUA_NOREF;
    f->co = NULL;
  }
  f->state = LH_FIBER_FAILED; /* with no result_ref: "stopped" */
  f->group = NULL;
  fiber_release(vm, f);
}

/* ended: the fiber whose end ends g (not running any more), or NULL. */
static void group_end(lh_vm *vm, lh_group *g, lh_fiber *ended) {
  if (!(ended && ended == g->main && g->nfibers == 1)) {
    for (lh_fiber *f = vm->fibers, *next; f; f = next) {
      next = f->next;
      if (f->group == g && f != ended)
        fiber_stop(vm, f);
    }
  }
  if (ended)
    ended->group = NULL;
  g->on_end(g, ended); /* may release g */
  if (ended)
    fiber_release(vm, ended);
}

static void shared_fiber_ended(lh_vm *vm, lh_fiber *f) {
  lh_group *g = f->group;
  /* A kill ends the group as soon as the killed fiber gives control back,
   * even if its main fiber is still waiting on something. */
  if (g && (f == g->main || g->killed)) {
    group_end(vm, g, f);
  } else {
    if (g)
      g->nfibers--;
    f->group = NULL;
    fiber_release(vm, f);
  }
  wake_joiners(vm);
}

lh_fiber *lh_fiber_take(lh_vm *vm, lua_State *L) {
  lh_fiber *f = vm->fiber_pool;
  if (f) {
    vm->fiber_pool = f->next;
    vm->fiber_pool_count--;
    f->next = NULL;
  } else {
    lua_State *co = lua_newthread(L);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX); /* if it raises, the thread is garbage */
    f = calloc(1, sizeof *f);
    if (!f) {
      luaL_unref(L, LUA_REGISTRYINDEX, ref);
      luaL_error(L, "out of memory");
    }
    f->vm = vm;
    f->co = co;
    f->thread_ref = ref;
    f->result_ref = LUA_NOREF;
    *(lh_fiber **)lua_getextraspace(co) = f;
    lh_vm_install_hook(vm, co);
  }
  f->id = ++vm->next_fiber_id;
  return f;
}

void lh_sched_run_group(lh_fiber *f, lh_group *g, int nargs) {
  lh_vm *vm = f->vm;
  f->group = g;
  g->main = f;
  g->nfibers = 1;
  fiber_link(vm, f);
  f->state = LH_FIBER_RUNNABLE;
  f->resume_nargs = nargs;
  if (vm->current) /* called from inside Lua: never resume a second fiber there */
    run_queue_push(vm, f);
  else
    resume_fiber(vm, f);
}

void lh_group_cancel(lh_vm *vm, lh_group *g, const char *reason) {
  if (g->killed)
    return;
  lh_group_kill(vm, g, AGENTAI_ECANCELED, "cancelled", reason ? reason : "cancelled");
  if (vm->current && vm->current->group == g)
    return; /* the hook stops it; the group ends when it gives control back */
  group_end(vm, g, NULL);
  wake_joiners(vm);
}

static int fiber_handle_gc(lua_State *L) {
  fiber_handle *h = lua_touserdata(L, 1);
  /* Workflow VMs free all their fibers at once, at the end: there the
   * handle's pointer may already dangle, and is left alone. */
  if (!lh_vm_of(L)->shared || !h || !h->fiber)
    return 0;
  lh_fiber *f = h->fiber;
  h->fiber = NULL;
  f->handle = NULL;
  if (f->released)
    fiber_free_if_unheld(L, f);
  return 0;
}

void lh_sched_free_fibers(lh_vm *vm) {
  vm->freeing = 1; /* nothing goes back to the pool, the idle handle stays stopped */
  for (lh_fiber *f = vm->run_head, *next; f; f = next) {
    next = f->next_runnable;
    f->queued = 0;
    if (f->released)
      fiber_free_if_unheld(vm->L, f);
  }
  vm->run_head = vm->run_tail = NULL;
  while (vm->fibers) {
    lh_fiber *f = vm->fibers;
    fiber_unlink(vm, f);
    if (f->handle)
      f->handle->fiber = NULL;
    free(f); /* its coroutine goes with lua_close */
  }
  while (vm->fiber_pool) {
    lh_fiber *f = vm->fiber_pool;
    vm->fiber_pool = f->next;
    free(f);
  }
  vm->fiber_pool_count = 0;
}
