/* lua/routes_internal.h — the route table and per-request state shared by route loading
 * (routes.c) and request dispatch (routes_request.c); not for other modules. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lua/internal.h"
#include "lua/routes.h"

#define MAX_SEGS 32      /* path segments a pattern may have */
#define MAX_PATTERN 1000 /* bytes */

/* Methods as bits, in the order an Allow header lists them. */
enum { M_GET = 1, M_HEAD = 2, M_POST = 4, M_PUT = 8, M_PATCH = 16, M_DELETE = 32, M_OPTIONS = 64 };
#define NMETHODS 7

typedef struct seg {
  const char *s;
  size_t len;
} seg;

typedef struct route_seg {
  const char *text; /* literal text, or the parameter's name; NUL-terminated, in route.buf */
  size_t len;
  int param;
} route_seg;

typedef struct route {
  unsigned method; /* one M_* bit */
  const char *pattern;
  route_seg segs[MAX_SEGS];
  int nsegs;
  int nparams;
  uint64_t literals; /* bit 63-i set when segment i is literal: the larger, the more specific */
  int fn_ref;        /* the handler, in the registry */
  char where[320];   /* "file:line" of the registration */
  char *buf;         /* the pattern, then its segments NUL-separated */
} route;

/* One request in flight. Never freed before the routes are (a header proxy
 * that Lua kept may still point here): reused through the pool, with gen
 * telling a proxy of an earlier request from the current one. */
typedef struct route_req {
  lh_group group; /* first: on_end receives &group */
  lh_routes *routes;
  http_request *req;     /* NULL once answered */
  const void *req_table; /* the handler's `req`, to tell it from another request's */
  const route *route;
  seg path[MAX_SEGS]; /* the path's segments, pointing into req's path */
  uint64_t gen;
  struct route_req *prev, *next; /* routes->live, or routes->pool */
} route_req;

struct lh_routes {
  lh_vm vm; /* first: the Lua functions find the routes from their VM */
  route *routes;
  size_t nroutes, cap;
  const char *loading; /* the file being loaded; NULL once the routes serve */
  uint64_t cpu_limit;  /* per request */
  route_req *live;
  route_req *pool;
  int req_mt, headers_mt; /* registry refs of the two metatables */
};

/** The M_* bit of an upper-case method name, or 0 for another method. */
unsigned lh_routes__method_bit(const char *m);

/** The name of one M_* bit ("?" for anything else). */
const char *lh_routes__method_name(unsigned bit);

/** Splits "/a/b" into its segments; -1 when there are more than MAX_SEGS or path does not start
 *  with '/'. "/" has none; an empty segment ("/a//b", "/a/") is kept as "". */
int lh_routes__split_path(const char *path, seg *out);

/** 1 for the built-in API's paths (/v1..., /healthz, /readyz, /version, /metrics): never a
 *  route's. */
int lh_routes__reserved_path(const char *p);

/** Copies the text of the error value at the top of L into out (popping it), without running
 *  user code (no __tostring). */
void lh_routes__error_text(lua_State *L, char *out, size_t len);

/** Creates the metatables of `req` and `req.headers` and stores their refs in r. Raises on
 *  out-of-memory: call it protected. */
void lh_routes__open_request_types(lua_State *L, lh_routes *r);
