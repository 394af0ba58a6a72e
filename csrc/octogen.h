/* Internal interface of the octogen.core C module. */
#ifndef OCTOGEN_H
#define OCTOGEN_H

#include <poll.h>
#include <stddef.h>
#include <curl/curl.h>
#include "compat.h"

#define OCTOGEN_VERSION "0.1.0"

#define OCTOGEN_CLIENT_MT "octogen.client"
#define OCTOGEN_ERROR_MT "octogen.error"
#define OCTOGEN_ARRAY_MT "octogen.array"

/* JSON nesting deeper than this is refused in both directions: the API's
 * deepest document is about six levels, and each level costs Lua stack. */
#define OCTOGEN_MAX_DEPTH 512

#define OCTOGEN_DEFAULT_MAX_RESPONSE_BYTES (64u * 1024u * 1024u)

/* Response headers kept per exchange (those of the final response, in
 * wire order). A hostile server may send tens of thousands of tiny lines
 * within libcurl's 300 KB header cap; past this many they are counted
 * and dropped, so building meta.headers costs a bounded, linear pass.
 * Real API answers carry about fifteen. */
#define OCTOGEN_MAX_HEADERS 100
/* Headers one call may add (request()'s opts.headers: If-None-Match and
 * the like), beyond the client's own. */
#define OCTOGEN_MAX_CALL_HEADERS 16
/* Bytes of kept header lines per exchange: a second bound, beside
 * libcurl's own, on what the kept lines can hold. */
#define OCTOGEN_MAX_HEADER_BYTES (1024u * 1024u)

/* Every wait and timeout given in seconds is clamped to this many
 * milliseconds (INT_MAX, about 24.8 days): the most curl_multi_poll
 * takes, and far beyond any useful wait. Casting a larger double (or
 * math.huge) to an integer would be undefined behaviour. */
#define OCTOGEN_MAX_WAIT_MS 2147483647L

/* A growable byte buffer; the owner frees it with buffer_free. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;     /* appends past this fail; 0 means no limit */
    int overflowed;   /* set when an append was refused for the limit */
} buffer;

void buffer_init(buffer *b, size_t limit);
int buffer_append(buffer *b, const char *p, size_t n);
void buffer_reset(buffer *b);
void buffer_free(buffer *b);

/* One kept response header: offsets into exchange.heads. */
typedef struct {
    size_t name, name_len, value, value_len;
} header_ref;

enum { HEAD_NONE = 0, HEAD_OPEN = 1, HEAD_ENDED = 2 };

/* What one exchange owns besides its easy handle: buffers and the
 * per-call header nodes libcurl reads during the transfer. The response
 * headers are collected here by a header callback as they arrive (see
 * http.c on_header) rather than read back from libcurl afterwards. */
typedef struct {
    CURL *easy;                       /* not owned */
    buffer url;
    buffer response;
    buffer heads;                     /* lower-case names and values */
    header_ref head_refs[OCTOGEN_MAX_HEADERS];
    int head_kept;
    int head_state;                   /* HEAD_*: ENDED once the final blank line came */
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist auth_node, type_node;
    char type_line[128];
    /* A call with headers of its own gets a whole list of its own, built
     * by curl_slist_append and freed by the next setup or http_free. */
    struct curl_slist *call_list;
} exchange;

/* base_url as parsed once at construction by libcurl's URL API, for the
 * cosocket transport (wire.c). Freed with the client, not at close(). */
typedef struct {
    char *scheme;       /* "http" or "https" */
    char *host;         /* IPv6 without brackets */
    char *authority;    /* the Host header's value: brackets, and the port
                           unless it is the scheme's default */
    char *path;         /* base path as libcurl sends it, "" for none */
    long port;          /* 80/443 filled in */
    const char *error;  /* libcurl's static message when parsing failed */
} octogen_target;

#define OCTOGEN_EASY_POOL 16

/* The sockets libcurl asks a multi handle's driver to watch, kept by
 * its socket callback (http.c http_watch) as the table poll() takes.
 * Both multi handles of a client are driven through libcurl's socket
 * API: curl_easy_perform and curl_multi_perform poll every connection
 * again before reading it, on top of the wait itself; told which socket
 * is ready, libcurl reads it at once. pfd is malloc'd (grown by the
 * callback), freed by http_socks_free once the multi handle is gone. */
typedef struct {
    struct pollfd *pfd;
    int n, cap;
} octogen_socks;
/* libcurl's connection cache, shared by a client's blocking handle and the
 * handles of its started transfers, so both kinds of call reuse the same
 * connections. Counted: a transfer may keep its easy handle after the
 * client closed, and the share must outlive every handle that uses it. */
typedef struct {
    CURLSH *sh;
    int refs;
} octogen_share;

octogen_share *share_new(void);
void share_ref(octogen_share *s);
void share_unref(octogen_share *s);

/* One client: the easy handle for blocking calls, the multi handle and a
 * pool of easy handles for transfers started without waiting, and the
 * prepared header lists. Owned by the octogen.client userdata. */
typedef struct {
    CURL *easy;
    exchange ex;                      /* the blocking path's */
    CURLM *bmulti;                    /* runs easy (http_perform); made on the first call */
    octogen_socks bsocks;             /* bmulti's sockets */
    CURLM *multi;                     /* made on the first start() */
    octogen_socks socks;              /* multi's sockets */
    octogen_share *share;             /* one reference; NULL once closed */
    CURL *pool[OCTOGEN_EASY_POOL];    /* idle easy handles for transfers */
    int pooled;
    int in_flight;
    struct curl_slist *headers;       /* accept, user agent, extras */
    struct curl_slist *body_headers;  /* the same plus Content-Type */
    char *auth_line;                  /* "Authorization: Bearer KEY", or NULL */
    char *base_url;                   /* no trailing slash */
    octogen_target target;            /* base_url, parsed (wire.c) */
    int insecure;                     /* TLS verification turned off */
    long timeout_ms;
    long connect_timeout_ms;
    size_t max_response_bytes;
    /* Re-entry: any allocation in the C core may run a GC step, and a
     * finalizer may then call close() or another call on this client.
     * busy counts C calls in progress on the client; close() while it is
     * non-zero only sets close_pending, and the last of them closes.
     * ex_busy is set while the blocking exchange (ex, easy) is in use: a
     * blocking call made meanwhile is refused (see client.c). */
    int busy;
    int ex_busy;
    int close_pending;
} octogen_client;

/* What one call may change from the client's settings. */
typedef struct {
    long timeout_ms;            /* 0: the client's */
    const char *content_type;   /* NULL: application/json when there is a body */
    int no_auth;                /* send no Authorization header */
    const char *basic;          /* "user:password" for HTTP Basic, or NULL */
    /* "Name: value" lines this call adds; a client header of the same
     * name is left out. Anchored in the call table. */
    const char *headers[OCTOGEN_MAX_CALL_HEADERS];
    int n_headers;
} octogen_call;

/* One answer as any transport hands it over (libcurl's buffers or the
 * cosocket transport's Lua strings): what the conversion in response.c
 * and the error builders in errors.c read. Nothing libcurl in it. */
typedef struct {
    long status;           /* 0 when no status line came */
    double elapsed;        /* seconds */
    const char *method;    /* may be NULL (errors only) */
    const char *url;       /* may be NULL (errors only) */
} octogen_answer;

/* The outcome of one libcurl transfer (http_done). */
typedef struct {
    CURLcode code;
    octogen_answer answer;
} octogen_response;

/* Transport failures, named once (errors.c): the libcurl path maps its
 * CURLcode onto these, the cosocket transport names them as strings
 * through core.transport_error. */
typedef enum {
    TRANSPORT_TIMEOUT = 0,   /* TimeoutError */
    TRANSPORT_CONNECTION,    /* ConnectionError */
    TRANSPORT_TLS,           /* ConnectionError, tls = true */
    TRANSPORT_TLS_VERIFY,    /* ConnectionError, tls = true, retryable = false */
    TRANSPORT_TOO_LARGE,     /* APIError: the body passed max_response_bytes */
    TRANSPORT_KINDS
} transport_kind;

/* The shape a caller promises for a good answer (response.c). */
typedef struct {
    int top;            /* JSON_TOP_*, or -1 for any */
    int allow_304;      /* a 304 is `true, meta` (meta.not_modified) */
    int keep_body;      /* meta.body: the answer's bytes too (the cache keeps them) */
    char member[64];    /* "" for none */
    int member_kind;    /* JSON_KIND_* */
} shape;

/* client.c */
int octogen_client_new(lua_State *L);
void octogen_client_register(lua_State *L);
octogen_client *octogen_check_open(lua_State *L, int idx);
int octogen_guarded(lua_State *L, octogen_client *c, lua_CFunction f, void *ctx,
                    int *in_use);
void *octogen_guard_ctx(lua_State *L);

/* http.c */
void http_configure(CURL *e, long connect_timeout_ms);
void http_bind(CURL *e, exchange *x);
void http_free(exchange *x);
int http_same_header_name(const char *a, const char *b);
CURLcode http_setup(octogen_client *c, exchange *x, const char *method,
                    const char *path, const char *body, size_t body_len,
                    const octogen_call *call, const char *auth_line);
void http_done(exchange *x, CURLcode code, const char *method, octogen_response *r);
void http_watch(CURLM *m, octogen_socks *s);
void http_socks_free(octogen_socks *s);
CURLMcode http_wait(CURLM *m, octogen_socks *s, long max_ms, int *running);
CURLcode http_perform(octogen_client *c);
void http_push_headers(lua_State *L, const exchange *x);
long http_seconds_to_ms(double seconds);
size_t http_byte_limit(double bytes);

/* response.c */
/* {limit, remaining, reset} from the X-RateLimit-* headers (reset: the
 * epoch second the bucket is full again), as meta.rate_limit and
 * err.rate_limit carry it. */
void response_push_rate_limit(lua_State *L, int header_idx);
void response_parse_shape(lua_State *L, int arg, const char *expect, shape *sh);
int response_convert(lua_State *L, const octogen_answer *a, const char *body,
                     size_t len, int header_idx, const shape *sh);
int response_push(lua_State *L, exchange *x, const octogen_response *r,
                  const shape *sh);
void response_read_call(lua_State *L, int idx, octogen_call *call);
void response_register(lua_State *L);

/* wire.c */
void wire_parse_target(octogen_client *c);
void wire_free_target(octogen_client *c);
void wire_register(lua_State *L);

/* transfer.c */
void transfer_register(lua_State *L);
void transfer_detach_all(lua_State *L, octogen_client *c);

/* convert.c */
void convert_register(lua_State *L);
int convert_push_null(lua_State *L);
int convert_decode(lua_State *L, const char *json, size_t len, int *top_is,
                   const char **why);
int convert_decode_watch(lua_State *L, const char *json, size_t len, int *top_is,
                         const char *watch, int *watched_kind, const char **why);
int convert_encode(lua_State *L, int idx, const char **why);

enum { JSON_TOP_SCALAR = 0, JSON_TOP_OBJECT = 1, JSON_TOP_ARRAY = 2 };
enum {
    JSON_KIND_ABSENT = 0, JSON_KIND_NULL, JSON_KIND_SCALAR,
    JSON_KIND_OBJECT, JSON_KIND_ARRAY
};

/* errors.c */
void errors_register(lua_State *L);

/* digest.c: core.sha256, for the shared store */
void digest_register(lua_State *L);
int errors_transport_error(lua_State *L);
void errors_push_kind(lua_State *L, transport_kind kind, const char *message,
                      const octogen_answer *a, int header_idx);
void errors_push_transport(lua_State *L, const octogen_response *r,
                           const char *curl_message);
void errors_push_status(lua_State *L, const char *body, size_t len,
                        const octogen_answer *a, int header_idx);
void errors_push_simple(lua_State *L, const char *name, const char *message,
                        const char *method, const char *url);
void errors_push_bad_body(lua_State *L, const octogen_answer *a,
                          const char *message, const char *body, size_t len,
                          int header_idx);

#endif
