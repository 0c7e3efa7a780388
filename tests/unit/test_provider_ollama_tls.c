/* tests/unit/test_provider_ollama_tls.c — provider-ollama over HTTPS to the node test upstream with
 * a self-signed certificate: refused by default, accepted with ca_file (streamed too). */
#include "provider_ollama_fixture.h"

static char cert[UPSTREAM_PATH_MAX], key[UPSTREAM_PATH_MAX], https_base[128];

static void open_tls(fixture *f, int with_ca) {
  char extra[UPSTREAM_PATH_MAX + 64] = "";
  if (with_ca)
    snprintf(extra, sizeof extra, ",\"ca_file\":\"%s\"", cert);
  fx_open_at(f, https_base, extra);
}

static void test_self_signed_refused(void) {
  fixture f;
  open_tls(&f, 0);
  ctl_reset(&f);
  for (int stream = 0; stream < 2; stream++) {
    result r;
    chat_sync(&f, &r, req_for("llama3", stream), 5000);
    CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
    CHECK_EQ_INT(r.http_status, 0);
    CHECK_STR_CONTAINS(r.message, "o: ");
    CHECK_STR_CONTAINS(r.message, "certificate");
    CHECK_EQ_INT(r.n_deltas, 0);
    result_free(&r);
  }
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 0); /* no request got through */
  cJSON_Delete(calls);
  fx_close(&f);
}

static void test_ca_file_accepted(void) {
  fixture f;
  open_tls(&f, 1);
  ctl_reset(&f);
  result r;
  chat_sync(&f, &r,
            "{\"model\":\"llama3\",\"messages\":[{\"role\":\"user\",\"content\":\"over tls\"}]}",
            5000);
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "choices.0.message.content", "echo: over tls");
  cJSON_Delete(o);
  result_free(&r);
  chat_sync(&f, &r,
            "{\"model\":\"tools\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
            "\"q\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
            5000);
  o = parse_response(&r);
  CHECK_JSTR(o, "choices.0.message.tool_calls.0.function.arguments", "{\"q\":\"q\"}");
  CHECK_EQ_INT(r.n_deltas, 2);
  cJSON_Delete(o);
  result_free(&r);
  result_init(&r, &f);
  CHECK_EQ_INT(f.def->list_models(f.def->ud, &r.sink, &r.call), 0);
  run_until(&r.done, 5000);
  o = parse_response(&r);
  CHECK(cJSON_GetArraySize(jget(o, "data")) > 0);
  cJSON_Delete(o);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 3);
  CHECK_JSTR(calls, "0.path", "/api/chat");
  CHECK_JSTR(calls, "2.path", "/api/tags");
  cJSON_Delete(calls);
  fx_close(&f);
}

int main(void) {
  suite_tmpdir();
  CHECK_EQ_INT(upstream_make_cert(tmpdir, cert, key), 0);
  char args[2 * UPSTREAM_PATH_MAX + 64];
  snprintf(args, sizeof args, "--tls-cert %s --tls-key %s", cert, key);
  suite_begin(args);
  snprintf(https_base, sizeof https_base, "https://localhost:%d", up.port);
  snprintf(ctl_base, sizeof ctl_base, "%s", https_base);
  ctl_ca_file = cert;
  RUN(test_self_signed_refused);
  RUN(test_ca_file_accepted);
  suite_end();
  CHECK_DONE();
}
