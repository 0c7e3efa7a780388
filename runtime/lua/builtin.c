/* lua/builtin.c — where the Lua layer shipped with the runtime lives: scripts/lib (modules such as
 * agentai.history) and scripts/workflows (built-in workflows such as chat and plan_execute). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "lua/workflow.h"

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The installed copy next to the binary (<prefix>/share/agentai/scripts), else the
 * source tree's (a build or test run). Computed once. */
const char *lh_builtin_scripts_dir(void) {
  static char dir[PATH_MAX + 64];
  static int done;
  if (done)
    return dir[0] ? dir : NULL;
  done = 1;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      snprintf(dir, sizeof dir, "%s/../share/agentai/scripts", exe);
      if (is_dir(dir))
        return dir;
    }
  }
  snprintf(dir, sizeof dir, "%s/scripts", AGENTAI_SOURCE_DIR);
  if (is_dir(dir))
    return dir;
  dir[0] = '\0';
  return NULL;
}
