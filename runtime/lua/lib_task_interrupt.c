/* lua/lib_task_interrupt.c — ai.task.interrupt(payload): a task waits for a person's answer
 * without holding a VM, and gets it back as the call's value when the task is resumed. */
#include <stdlib.h>

#include "core/errors.h"
#include "lua/internal.h"
#include "lua/ljson.h"

/* The first time, the call has no journal entry: the engine is told to
 * record the task as waiting, and the attempt stops here like a pause (the
 * VM is released; everything journaled so far stays). The resume writes the
 * answer as this call's entry, and the attempt runs again from its journal:
 * this time the entry is found and its value returned. */
int lh_task_interrupt(lua_State *L) {
  lua_settop(L, 1);
  lh_vm *vm = lh_vm_of(L);
  if (!lh_fiber_of(L))
    return luaL_error(L, "ai.task.interrupt must be called from a workflow or an ai.spawn "
                         "function, not from inside coroutine.create/wrap or a callback");
  /* Named before the payload is encoded, so that a payload that cannot be
   * encoded fails the same way on every replay. */
  lh_jcall jc;
  if (lh_journal_begin(L, "task.interrupt", 0, &jc))
    return lh_journal_replay(L, &jc);
  const lh_task_hooks *hooks = vm->run.hooks;
  if (!jc.active || !hooks || !hooks->interrupt)
    return lh_raise(L, AGENTAI_ENOTSUP,
                    "ai.task.interrupt: this workflow does not run as a durable task", -1);
  char *payload = NULL, why[256];
  size_t len = 0;
  if (ljson_encode(L, 1, &payload, &len, why, sizeof why) < 0)
    return lh_raise(L, AGENTAI_EINVAL,
                    lua_pushfstring(L, "ai.task.interrupt: payload is not JSON-encodable: %s", why),
                    -1);
  int rc = hooks->interrupt(hooks->ud, payload, len, jc.key, jc.key_len);
  free(payload);
  if (rc < 0)
    return lh_raise(L, rc, lua_pushfstring(L, "ai.task.interrupt: %s", agentai_strerror(rc)), -1);
  /* Ends the attempt as a cancellation would (every fiber stops, pending
   * operations are cancelled or detached); the engine knows it is a pause. */
  lh_vm_kill(vm, AGENTAI_ECANCELED, "interrupted", "the task waits for input (ai.task.interrupt)");
  lh_sched_finish_now(vm);
  if (!lua_isyieldable(L)) /* inside a sort comparator, gsub callback...: the kill raises */
    return luaL_error(L, "ai.task.interrupt: the task waits for input");
  lh_fiber_of(L)->state = LH_FIBER_WAIT_OP; /* never resumed: the workflow is finished */
  return lua_yield(L, 0);
}
