/* tests/unit/test_provider_openai_tls.c — provider-openai over HTTPS to the node test upstream with
 * a self-signed certificate: refused by default, accepted with ca_file, spoken as HTTP/2. */
#include "provider_openai_fixture.h"

static char cert[UPSTREAM_PATH_MAX], key[UPSTREAM_PATH_MAX], https_base[128];

static void open_tls(fixture *f, int with_ca) {
  char cfg[UPSTREAM_PATH_MAX + 512], err[1024];
  snprintf(cfg, sizeof cfg,
           "{\"providers\":{\"s\":{\"base_url\":\"%s/v1\",\"api_key_env\":\"" TEST_KEY_ENV
           "\"%s%s%s}}}",
           https_base, with_ca ? ",\"ca_file\":\"" : "", with_ca ? cert : "", with_ca ? "\"" : "");
  int rc = fx_try_open(f, cfg, "s", err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "load failed: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->def != NULL);
}

static void test_self_signed_refused(void) {
  fixture f;
  open_tls(&f, 0);
  result r;
  chat_sync(&f, &r, "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
            5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.http_status, 0);
  CHECK_STR_CONTAINS(r.message, "s: ");
  CHECK_STR_CONTAINS(r.message, "certificate");
  result_free(&r);
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
            "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"over tls\"}]}",
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
  CHECK_EQ_INT(r.n_deltas, 5);
  cJSON_Delete(o);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 2);
  CHECK_JSTR(calls, "0.http", "2.0"); /* the server offers h2 over TLS: it is used */
  CHECK_JSTR(calls, "1.http", "2.0");
  cJSON_Delete(calls);
  fx_close(&f);
}

int main(void) {
  suite_tmpdir();
  CHECK_EQ_INT(upstream_make_cert(tmpdir, cert, key), 0);
  char args[2 * UPSTREAM_PATH_MAX + 128];
  snprintf(args, sizeof args, "--tls-cert %s --tls-key %s --api-key " TEST_KEY, cert, key);
  suite_begin(args);
  snprintf(https_base, sizeof https_base, "https://localhost:%d", up.port);
  snprintf(ctl_base, sizeof ctl_base, "%s", https_base);
  ctl_ca_file = cert;
  RUN(test_self_signed_refused);
  RUN(test_ca_file_accepted);
  suite_end();
  CHECK_DONE();
}
