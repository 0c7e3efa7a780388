/* engine/hooks.c — what a task's workflow tells the engine while it runs: ai.task.emit events,
 * journaled calls (usage accounting), live task.delta chunks, and ai.task.interrupt. */
#include "engine/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

static double num_of(const cJSON *obj, const char *name, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* ---- journal hooks ---- */

static int hook_emit(void *ud, const char *kind, const char *data_json, const char *jkey,
                     size_t jkey_len, const char *jvalue, size_t jvalue_len) {
  etask *t = ud;
  cJSON *data = cJSON_CreateObject();
  cJSON_AddStringToObject(data, "kind", kind);
  cJSON *payload = cJSON_Parse(data_json);
  cJSON_AddItemToObject(data, "data", payload ? payload : cJSON_CreateNull());
  agentai_kv_op op = {AGENTAI_KV_PUT, jkey, jkey_len, jvalue, jvalue_len};
  return engine_write_event(t->eng, t, t->id, t->agent_id, "task.progress", data, &op, jkey ? 1 : 0,
                            NULL, NULL);
}

static void hook_call(void *ud, const char *kind, const char *result_json, size_t len,
                      int replayed) {
  (void)replayed;
  etask *t = ud;
  if (strcmp(kind, "llm.chat") != 0)
    return;
  t->llm_calls++;
  cJSON *r = cJSON_ParseWithLength(result_json, len);
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(r, "usage");
  t->prompt_tokens += (int64_t)num_of(u, "prompt_tokens", 0);
  t->completion_tokens += (int64_t)num_of(u, "completion_tokens", 0);
  cJSON_Delete(r);
}

/* task.delta: live-only, so a token stream costs no storage writes; seq and
 * gseq 0 mark it as outside the durable sequence (followers pass it through,
 * resumption never asks for it). */
static void hook_delta(void *ud, const char *chunk_json, size_t len) {
  etask *t = ud;
  if (!t->eng->d.hub)
    return;
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "object", "event");
  cJSON_AddNumberToObject(ev, "seq", 0);
  cJSON_AddNumberToObject(ev, "gseq", 0);
  cJSON_AddStringToObject(ev, "type", "task.delta");
  cJSON_AddStringToObject(ev, "task_id", t->id);
  cJSON_AddStringToObject(ev, "agent_id", t->agent_id);
  cJSON *chunk = cJSON_ParseWithLength(chunk_json, len);
  cJSON_AddItemToObject(ev, "data", chunk ? chunk : cJSON_CreateNull());
  char *json = cJSON_PrintUnformatted(ev);
  cJSON_Delete(ev);
  if (!json)
    return;
  event_msg msg = {.task_id = t->id,
                   .agent_id = t->agent_id,
                   .seq = 0,
                   .gseq = 0,
                   .type = "task.delta",
                   .json = json,
                   .len = strlen(json)};
  event_hub_publish(t->eng->d.hub, &msg);
  free(json);
}

/* ai.task.interrupt: remembers the payload and where the answer goes; the
 * attempt ends right after, and workflow_done records the task as waiting. */
static int hook_interrupt(void *ud, const char *payload_json, size_t len, const char *jkey,
                          size_t jkey_len) {
  etask *t = ud;
  size_t plen = strlen(t->jprefix);
  if (t->cancel_requested || t->timed_out || t->stopping || t->eng->shutting_down)
    return AGENTAI_ECANCELED;
  if (t->interrupt_payload) /* one pause per attempt run: the VM is already stopping */
    return AGENTAI_EBUSY;
  if (jkey_len <= plen || jkey_len - plen >= sizeof t->interrupt_call ||
      memcmp(jkey, t->jprefix, plen) != 0)
    return AGENTAI_EINVAL;
  cJSON *payload = cJSON_ParseWithLength(payload_json, len);
  if (!payload)
    return AGENTAI_ENOMEM; /* the binding encoded it: only memory can fail */
  memcpy(t->interrupt_call, jkey + plen, jkey_len - plen);
  t->interrupt_call[jkey_len - plen] = '\0';
  t->interrupt_payload = payload;
  return 0;
}

void engine_task_hooks_init(etask *t) {
  t->hooks = (lh_task_hooks){.ud = t,
                             .emit = hook_emit,
                             .on_call = hook_call,
                             .delta = hook_delta,
                             .interrupt = hook_interrupt};
}
