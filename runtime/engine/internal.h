/* engine/internal.h — structures shared by the engine's files; not for other modules. */
#pragma once

#include "core/ids.h"
#include "core/strmap.h"
#include "engine/engine.h"

enum etask_state {
  ET_QUEUED = 1, /* in the run queue */
  ET_BACKOFF,    /* waiting for its retry timer (stored as queued) */
  ET_STARTING,   /* the running transition is being committed / journal loaded */
  ET_RUNNING,    /* its workflow runs */
  ET_FINISHING   /* its final transition is being committed */
};

typedef struct etask etask;

/** A queued or running task. Its record here is the truth; storage gets
 *  every change in order. */
struct etask {
  engine *eng;
  char id[IDS_MAX];
  char agent_id[IDS_MAX];
  cJSON *rec;
  int state;
  uint64_t last_seq; /* last event sequence written */
  etask *qnext;      /* run queue link */
  int resume;        /* continues its attempt (after a crash or a resume): replay the journal */
  int waking;        /* resumed from "waiting": the record says queued until it starts */
  int cancel_requested, timed_out, stopping;
  char cancel_reason[160];
  uv_timer_t *timer; /* retry backoff or attempt time limit; heap: closed async */
  lh_workflow *wf;
  /* attempt context, borrowed by the workflow until it ends */
  char *agent_json;
  char *input_json;
  char path[1024];
  char jprefix[64];
  char provider[64];
  char model[128];
  lh_journal_entry *journal;
  size_t journal_len, journal_cap;
  lh_task_hooks hooks;
  int64_t prompt_tokens, completion_tokens, llm_calls;
  /* set by ai.task.interrupt: the attempt pauses and the task waits */
  cJSON *interrupt_payload;
  char interrupt_call[160]; /* its journal key after jprefix */
};

/** An agent's run queue; agents with queued tasks form a ring for fairness. */
typedef struct agent_queue {
  char agent_id[IDS_MAX];
  etask *head, *tail;
  struct agent_queue *ring_next;
  int in_ring;
  size_t active; /* queued + running tasks of the agent */
} agent_queue;

struct engine {
  engine_deps d;
  strmap agents;       /* id -> char* record JSON */
  strmap active;       /* task id -> etask* */
  strmap queues;       /* agent id -> agent_queue* */
  strmap pending_idem; /* "agent/key" -> (void*)1 while a submission commits */
  agent_queue *ring_head, *ring_tail;
  size_t nqueued, nrunning, nbackoff;
  uint64_t gseq;
  int max_running;
  int shutting_down;
  int inflight; /* writes and loads not yet called back */
  void (*shutdown_done)(void *ud);
  void *shutdown_ud;
  uint64_t n_started, n_succeeded, n_failed, n_cancelled, n_retried;
};

/* engine.c */
int64_t engine_now_ms(void);
/** Unix ms of an ISO 8601 UTC time as engine_now_iso writes it; -1 if malformed. */
int64_t engine_parse_iso(const char *s);
/** Writes ops + one event (type, data: owned, may be NULL) of t's in one
 *  batch; after commit, publishes the event and calls then(t, err). */
int engine_write_event(engine *e, etask *t, const char *task_id, const char *agent_id,
                       const char *type, cJSON *data, const agentai_kv_op *ops, size_t nops,
                       void (*then)(etask *t, int err, void *ud), void *ud);
/** The batch ops that move t's status index from old to new status
 *  (keys built into keybuf, >= 2*128 bytes). Returns the op count. */
size_t engine_status_ops(const char *task_id, const char *old_status, const char *new_status,
                         agentai_kv_op *ops, char *keybuf);
/** Puts t in its agent's queue (tail, or head for resumed tasks) and runs what fits. */
void engine_enqueue(engine *e, etask *t, int front);
/** Starts queued tasks while fewer than max_running run. */
void engine_pump(engine *e);
agent_queue *engine_agent_queue(engine *e, const char *agent_id);
/** Releases an active task (removed from the active map first). */
void engine_task_free(etask *t);
/** Lowers the in-flight count; finishes a shutdown that waited for it. */
void engine_inflight_done(engine *e);
/** Stops and releases t's timer, if any. */
void engine_stop_timer(etask *t);
/** Sets t's retry timer for delay_ms. */
void engine_backoff(etask *t, int64_t delay_ms);
/** Removes t from its agent's run queue (if it is in it). */
void engine_dequeue(engine *e, etask *t);

/* A pending engine call: who to answer. */
typedef struct engine_call {
  engine *e;
  engine_result_fn cb;
  void *ud;
  char *json;       /* agents: the record written */
  char key[160];    /* idempotency: the pending key */
  char id[IDS_MAX]; /* agents */
  char *previous;   /* agents: the cached record before this write */
  etask *t;         /* tasks: the task being submitted / retried */
  int deleting;
} engine_call;

/** A pending call, answering cb(ud, ...) (tasks.c). NULL on ENOMEM. */
engine_call *engine_call_new(engine *e, engine_result_fn cb, void *ud);
/** Answers c with rec printed (or NULL) and message. */
void engine_answer_record(engine_call *c, int err, const cJSON *rec, const char *message);
/** Points t->hooks at the engine's handlers for t's workflow (hooks.c). */
void engine_task_hooks_init(etask *t);
