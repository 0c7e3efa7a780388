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
typedef struct lh_group lh_group;

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
  /* Deterministic position in the spawn tree ("0", "0.1", "0.1.2"): with the
   * per-fiber count of journaled calls it names each call the same way in
   * every replay of the workflow, whatever order fibers complete in. */
  char path[48];
  uint32_t nchildren; /* ai.spawn calls made by this fiber */
  uint32_t ncalls;    /* journaled calls made by this fiber */
  /* Shared VMs (see lh_group): */
  lh_fiber *prev;                 /* vm->fibers is doubly linked: ended fibers leave it at once */
  lh_group *group;                /* the group it belongs to; NULL once it ended or was stopped */
  struct lh_fiber_handle *handle; /* its ai.spawn handle while that is alive, or NULL */
  int released;                   /* the scheduler is done with it: freed when nothing holds it */
};

/** Fibers that run and end together inside a shared VM: one HTTP request of
 *  the route VM (routes.c), its handler's fiber and what that spawns.
 *
 *  A workflow VM is one implicit group: the root's end ends everything, and a
 *  kill (CPU, memory) ends the VM. A shared VM (vm->shared) hosts many
 *  independent groups instead: a group's CPU budget, failure, kill or
 *  cancellation ends that group only, and the VM lives on. The memory budget
 *  stays the VM's; the group that allocates past it is the one killed.
 *
 *  The group is owned by its creator and must stay valid until on_end. */
struct lh_group {
  lh_fiber *main;        /* its end ends the group */
  uint64_t instructions; /* counted while one of its fibers runs */
  uint64_t cpu_limit;    /* 0 = none */
  int nfibers;           /* fibers of the group still running (main included) */
  int killed;
  int kill_status;
  char kill_kind[32];
  char kill_msg[160];
  /* Called once on the loop thread when the group ends: main returned or
   * failed, a killed fiber gave control back, or lh_group_cancel stopped it.
   * Every other fiber of the group is stopped by then (pending operations
   * cancelled). ended is the fiber whose end ended the group (its state and
   * result_ref are readable during the call), or NULL after a cancel. The
   * group may be released from here. */
  void (*on_end)(lh_group *g, lh_fiber *ended);
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
  /* Hosts many independent fiber groups (the route VM): no root, no done
   * callback, failures end groups, never the VM. */
  int shared;
  lh_fiber *fiber_pool; /* shared VMs: ended fibers whose coroutine can run again */
  int fiber_pool_count;
  void *refused_ptr;   /* shared VMs: the allocation last refused over the budget */
  size_t refused_size; /* (0: none since the last one that succeeded) */
  lh_run_options run;  /* the task context (strings borrowed until done); zero for plain runs */
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
/** Kills one group of a shared VM (CPU or memory budget, cancellation): its
 *  fibers raise at every line from now on, so pcall cannot swallow it. */
void lh_group_kill(lh_vm *vm, lh_group *g, int status, const char *kind, const char *msg);

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

/* Shared VMs (sched.c) */
/** A fiber with an empty coroutine, from the VM's pool when it has one (then
 *  nothing is allocated), else made on L, where it raises on out-of-memory:
 *  call it protected unless vm->fiber_pool is non-NULL. Push the function and
 *  its arguments on f->co, then call lh_sched_run_group. */
lh_fiber *lh_fiber_take(lh_vm *vm, lua_State *L);
/** Starts g with f as its main fiber, running nargs arguments on f->co. It
 *  runs at once, inline, unless a fiber of the VM is running already (then
 *  from the loop): g->on_end may be called, and g released, before this
 *  returns. */
void lh_sched_run_group(lh_fiber *f, lh_group *g, int nargs);
/** Ends g now (client gone, shutdown): kills it, cancels the operations of
 *  its fibers and calls on_end. If one of its fibers is running, the kill
 *  stops it at its next instruction and the group ends when it gives control
 *  back. No-op for a group that is already killed. */
void lh_group_cancel(lh_vm *vm, lh_group *g, const char *reason);
/** Frees every fiber of a shared VM whose groups have all ended, before
 *  lua_close (which frees those still held by spawn handles). */
void lh_sched_free_fibers(lh_vm *vm);

/* workflow.c */
/** Builds the outcome and calls vm->done once. */
void lh_workflow_report(lh_vm *vm);

/* journal.c — recorded results of side-effecting calls, for replay after a crash */

/** A call that may be journaled: where it is in the journal, and what it found. */
typedef struct lh_jcall {
  int active;    /* the workflow has a journal: record the outcome */
  char kind[16]; /* "llm.chat", "kv.put", ... */
  uint64_t hash; /* of the call's arguments: a replay must make the same call */
  char key[224]; /* storage key of the entry */
  size_t key_len;
  const char *found; /* the recorded entry (JSON), when replaying; borrowed */
  size_t found_len;
} lh_jcall;

/** FNV-1a of bytes, chained from h (start with 0). */
uint64_t lh_journal_hash(uint64_t h, const void *data, size_t len);
/** Names the calling fiber's next journaled call. Returns 1 when the journal
 *  holds its outcome (jc->found: replay it, do not make the call), 0 when
 *  the call must be made (jc->active says whether to record it). Raises a
 *  non-retryable "nondeterminism" error when the recorded call differs. */
int lh_journal_begin(lua_State *L, const char *kind, uint64_t hash, lh_jcall *jc);
/** Replays a found entry: pushes its result and returns 1, or raises its
 *  recorded error. */
int lh_journal_replay(lua_State *L, const lh_jcall *jc);
/** The entry's bytes for an outcome: result_json (len bytes) on success, or
 *  err/message/retry_after_ms. malloc'd, *out_len set; NULL on ENOMEM. */
char *lh_journal_encode(const lh_jcall *jc, const char *result_json, size_t len, int err,
                        const char *message, int64_t retry_after_ms, size_t *out_len);
/** Writes the entry (owned: freed here) alone, in storage order; cb(ud, err)
 *  runs once durable (cb may be NULL: fire and forget, still ordered before
 *  every later write). Returns 0 or a negative code (cb not called). */
int lh_journal_write(lh_vm *vm, const lh_jcall *jc, char *entry, size_t len,
                     void (*cb)(void *ud, int err), void *ud);
/** Reports a completed journaled call to the task hooks (usage accounting). */
void lh_journal_notify(lh_vm *vm, const char *kind, const char *result_json, size_t len,
                       int replayed);

/* callback.c */
/** A thread holding the function at fn_index, for lh_callback_call; anchored
 *  on L's stack (keep it there until the call it serves completes). */
lua_State *lh_callback_new(lua_State *L, int fn_index);
/** Calls T's function with data (a string, or decoded JSON when as_json) from a
 *  loop callback while fiber f waits. Not yieldable; counts as f's work.
 *  Returns 0; 1 when it raised (its error value is left on top of T); -1 when
 *  the VM or group was killed (nothing left on T: the fiber raises the kill). */
int lh_callback_call(lua_State *T, lh_fiber *f, const char *data, size_t len, int as_json);

/* lib_agentai.c */
int lh_open_agentai(lua_State *L);
/* lib_task_interrupt.c: ai.task.interrupt(payload) */
int lh_task_interrupt(lua_State *L);
/* lib_http.c: sets ai.http (read-only) on the module table at the top of the stack */
void lh_http_register(lua_State *L);
/* lib_repo.c: sets ai.repo (read-only) on the module table at the top of the stack */
void lh_repo_register(lua_State *L);
/* lib_schema.c: sets ai.schema (read-only) on the module table at the top of the stack */
void lh_schema_register(lua_State *L);
/** Raises a structured error {kind, message, retryable, retry_after} whose
 *  tostring is "where: kind: message". */
int lh_raise(lua_State *L, int err, const char *message, int64_t retry_after_ms);
/** Pushes "file:line: " of the nearest Lua function on the call stack ("" if none). */
void lh_push_where(lua_State *L);
/** Pushes the structured error value (without raising) on L. */
void lh_push_error(lua_State *L, int err, const char *message, int64_t retry_after_ms);
