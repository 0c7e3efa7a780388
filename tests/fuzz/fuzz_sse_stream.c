/* tests/fuzz/fuzz_sse_stream.c — fuzzes the provider-openai SSE reader and chunk assembler
 * (oai_stream.c) with the shared line splitter, fed in pieces of a fuzzer-chosen size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The reader is internal to the plugin (hidden visibility), so the target compiles it in. */
#include "../../plugins/common/upstream_http.c"
#include "../../plugins/provider-openai/oai_stream.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every forwarded chunk must be a JSON object: the reader parsed it before handing it on. */
static int check_chunk(void *ud, const char *json, size_t len) {
  size_t *count = ud;
  cJSON *o = cJSON_ParseWithLength(json, len);
  if (!cJSON_IsObject(o))
    abort();
  cJSON_Delete(o);
  (*count)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  /* byte 0: piece size (0 = all at once); byte 1: forward the usage chunk, and a small limit */
  size_t piece = data[0];
  int forward_usage = data[1] & 1;
  size_t max_event = (data[1] & 2) ? 256 : 0;
  data += 2;
  size -= 2;
  size_t forwarded = 0;
  oai_stream *s;
  if (oai_stream_new(check_chunk, &forwarded, forward_usage, max_event, &s) != 0)
    return 0;
  int rc = 0;
  for (size_t at = 0; at < size && rc == 0;) {
    size_t n = piece && size - at > piece ? piece : size - at;
    rc = oai_stream_feed(s, (const char *)data + at, n);
    at += n;
  }
  if (rc == 0)
    rc = oai_stream_finish(s);
  if (rc != 0 && oai_stream_message(s)[0] == '\0')
    abort(); /* every failure says why */
  if (forwarded > oai_stream_chunks(s))
    abort();
  size_t len = 0;
  char *text = oai_stream_result(s, &len);
  if (text) {
    cJSON *o = cJSON_ParseWithLength(text, len);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (!cJSON_IsObject(o) || cJSON_GetArraySize(choices) < 1 ||
        !cJSON_IsObject(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "message")))
      abort(); /* the assembled answer always has the shape the host relies on */
    cJSON_Delete(o);
    free(text);
  }
  oai_stream_free(s);
  return 0;
}
