/* cli/main.c — the agentai command line: run, serve, plugins, config, version. */
#include <stdio.h>

int main(void) {
  puts("agentai");
  return 0;
}
