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

/** An operation a fiber waits on (a timer, an LLM call, a storage write...). */
struct lh_op {
  lh_fiber *fiber; /* NULL once detached: the completion just frees the op */
  lh_vm *vm;
  int inline_phase; /* 1 while the starting C function runs */
  int completed;    /* results (ok flag, value) are on the fiber's stack */
  /* Stops the operation; after it, the completion must not run. NULL when
   * the operation cannot be stopped (it is detached instead). */
  void (*cancel)(lh_op *op);
  void *data;         /* the binding's own state */
  lh_op *next, *prev; /* vm->ops list */
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
 *  binding at op->data (they live exactly as long as the op). Raises a Lua
 *  error when called outside a workflow fiber (e.g. inside coroutine.wrap). */
lh_op *lh_op_begin(lua_State *L, const char *what, size_t data_size);
/** Drops an op whose operation was refused before it started. */
void lh_op_abort(lh_op *op);
/** Completes an op: call after pushing (ok, value) onto lh_op_stack(op).
 *  The op (and its data) may be freed by this call: do not touch it after. */
void lh_op_complete(lh_op *op);
/** The stack results must be pushed on (the fiber's thread), or NULL when
 *  the op was detached (drop the results and free your data). */
lua_State *lh_op_stack(lh_op *op);
/** Ends the C function that started op: returns its value now if it
 *  completed inline, else yields until it completes. */
int lh_op_await(lua_State *L, lh_op *op);
void lh_op_free(lh_op *op);
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
