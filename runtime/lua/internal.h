/* lua/internal.h — structures shared by the Lua host's VM, scheduler and bindings. */
#pragma once

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <uv.h>

#include "lua/workflow.h"

typedef struct lh_vm lh_vm;
typedef struct lh_fiber lh_fiber;
typedef struct lh_op lh_op;

enum lh_fiber_state {
  LH_FIBER_RUNNABLE,  /* queued to be resumed */
  LH_FIBER_RUNNING,   /* inside lua_resume */
  LH_FIBER_WAIT_OP,   /* yielded on an operation */
  LH_FIBER_WAIT_JOIN, /* yielded in ai.wait */
  LH_FIBER_DONE,
  LH_FIBER_FAILED
};

/** One coroutine the scheduler owns (the workflow's root, or an ai.spawn). */
struct lh_fiber {
  lh_vm *vm;
  lua_State *co;
  int thread_ref; /* registry ref keeping co alive while it runs */
  int result_ref; /* registry ref: the value it returned, or its error value */
  uint64_t id;
  int state;
  int resume_nargs;     /* values on co's stack to pass to the next lua_resume */
  uint64_t slice_start; /* vm->instructions when last resumed */
  lh_op *op;            /* the operation it waits on */
  lh_fiber *next;       /* vm->fibers list */
  lh_fiber *next_runnable;
  int queued;
};

/** An operation a fiber waits on (a timer, an LLM call, a storage write...).
 *
 * Completions never touch Lua: they run from plugin callbacks and loop
 * callbacks where a Lua error (out of memory under the VM budget) would
 * longjmp through foreign frames or hit no protected call at all. They store
 * a C result in the op's data and call lh_op_complete; push_result turns it
 * into Lua values later, inside the fiber, where errors are ordinary. */
struct lh_op {
  lh_fiber *fiber;  /* NULL once detached: the completion just frees the op */
  lh_vm *vm;        /* NULL once unlinked from vm->ops */
  lh_vm *pool;      /* VM whose op pool takes it back when freed, or NULL */
  int inline_phase; /* 1 while the starting C function runs */
  int completed;    /* the C result is in data */
  size_t size;      /* bytes allocated for op + data */
  /* Stops the operation; after it, the completion must not run. NULL when
   * the operation cannot be stopped (it is detached instead). */
  void (*cancel)(lh_op *op);
  /* Runs in the fiber: pushes the result and returns 1, or pushes an error
   * value and returns 0 (it is then raised at the caller's file:line). */
  int (*push_result)(lua_State *L, lh_op *op);
  /* Frees memory the binding hung on data (copied values). May be NULL. */
  void (*release)(lh_op *op);
  void *data;         /* the binding's own state, zeroed */
  lh_op *next, *prev; /* vm->ops list, or the pool's free list */
};

struct lh_vm {
  lua_State *L;
  const lh_services *svc;
  size_t mem_used, mem_limit, mem_peak;
  uint64_t instructions, cpu_limit;
  uint32_t slice, hook_count;
  int killed;
  int kill_status;
  char kill_kind[32];
  char kill_msg[160];
  lh_fiber *fibers, *root, *current;
  lh_fiber *run_head, *run_tail;
  lh_op *ops;
  lh_op *op_pool; /* freed small ops, reused: inline reads allocate nothing */
  int op_pool_count;
  uint64_t next_fiber_id;
  uv_idle_t idle;
  int idle_active;
  int finished;
  int freeing;
  lh_done_fn done;
  void *done_ud;
  lh_workflow *wf;
  char path[1024];
  char dir[1024];
};

struct lh_workflow {
  lh_vm vm;
};

/* vm.c */
lua_State *lh_vm_open(lh_vm *vm, char *err, size_t err_len);
void lh_vm_kill(lh_vm *vm, int status, const char *kind, const char *msg);
void lh_vm_install_hook(lh_vm *vm, lua_State *co);
lh_vm *lh_vm_of(lua_State *L);

/* sched.c */
lh_fiber *lh_fiber_of(lua_State *L);
lh_fiber *lh_fiber_new(lh_vm *vm, int nargs); /* pops fn + nargs from vm->L */
void lh_sched_make_runnable(lh_fiber *f, int nargs);
/** Starts an op for the calling fiber, with data_size zeroed bytes for the
 *  binding at op->data (they live exactly as long as the op). push_result is
 *  required. Raises a Lua error when called outside a workflow fiber (e.g.
 *  inside coroutine.wrap). */
lh_op *lh_op_begin(lua_State *L, const char *what, size_t data_size,
                   int (*push_result)(lua_State *L, lh_op *op));
/** Drops an op whose operation was refused before it started. */
void lh_op_abort(lh_op *op);
/** Marks the op's C result as ready (any thread-free context, no Lua): the
 *  fiber resumes and push_result runs there. A detached op is freed here, so
 *  do not touch op after this call. */
void lh_op_complete(lh_op *op);
/** Whether the op was detached (its workflow ended): the completion should
 *  release what it holds and call lh_op_complete, which frees it. */
int lh_op_detached(const lh_op *op);
/** Ends the C function that started op: returns its value now if it
 *  completed inline, else yields until it completes. */
int lh_op_await(lua_State *L, lh_op *op);
/** Releases every op pooled by vm (at VM teardown). */
void lh_op_pool_drain(lh_vm *vm);
int lh_sched_spawn(lua_State *L);
int lh_sched_wait(lua_State *L);
void lh_sched_start(lh_vm *vm);
/** The idle callback that resumes runnable fibers and reports the end. */
void lh_sched_idle_cb(uv_idle_t *h);
/** Ends the workflow at once (cancellation): pending ops are cancelled and
 *  the outcome is reported from the next idle callback. */
void lh_sched_finish_now(lh_vm *vm);
void lh_sched_cancel_all(lh_vm *vm);

/* workflow.c */
/** Builds the outcome and calls vm->done once. */
void lh_workflow_report(lh_vm *vm);

/* lib_agentai.c */
int lh_open_agentai(lua_State *L);
/** Raises a structured error {kind, message, retryable, retry_after} whose
 *  tostring is "where: kind: message". */
int lh_raise(lua_State *L, int err, const char *message, int64_t retry_after_ms);
/** Pushes "file:line: " of the nearest Lua function on the call stack ("" if none). */
void lh_push_where(lua_State *L);
/** Pushes the structured error value (without raising) on L. */
void lh_push_error(lua_State *L, int err, const char *message, int64_t retry_after_ms);
