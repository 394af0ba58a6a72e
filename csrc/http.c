/* One HTTP exchange on an easy handle.
 *
 * A handle is configured once (http_configure) and reused, so libcurl
 * keeps the connection alive between calls; per call we only set what
 * changes: URL, method, body and the header list. The same setup serves
 * the blocking path (curl_easy_perform on the client's own handle) and
 * transfers run by the client's multi handle (transfer.c). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "octogen.h"

void buffer_init(buffer *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
    b->overflowed = 0;
}

int buffer_append(buffer *b, const char *p, size_t n)
{
    if (b->limit != 0 && (n > b->limit || b->len > b->limit - n)) {
        b->overflowed = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *grown;
        while (cap < b->len + n + 1)
            cap *= 2;
        grown = (char *)realloc(b->data, cap);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 1;
}

void buffer_reset(buffer *b)
{
    b->len = 0;
    b->overflowed = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void buffer_free(buffer *b)
{
    free(b->data);
    buffer_init(b, b->limit);
}

octogen_share *share_new(void)
{
    octogen_share *s = (octogen_share *)malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    s->sh = curl_share_init();
    if (s->sh == NULL ||
        curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK) {
        if (s->sh != NULL)
            curl_share_cleanup(s->sh);
        free(s);
        return NULL;
    }
    s->refs = 1;
    return s;
}

void share_ref(octogen_share *s)
{
    s->refs++;
}

/* The last reference goes once no easy handle uses the share any more,
 * which is what curl_share_cleanup requires. */
void share_unref(octogen_share *s)
{
    if (--s->refs > 0)
        return;
    curl_share_cleanup(s->sh);
    free(s);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata)
{
    buffer *b = (buffer *)userdata;
    size_t n = size * nmemb;
    /* Returning less than n makes libcurl abort with CURLE_WRITE_ERROR. */
    return buffer_append(b, p, n) ? n : 0;
}

/* Seconds (a Lua number: maybe NaN, huge or tiny) as the milliseconds
 * libcurl takes: rounded to the nearest, but a positive time never
 * becomes 0 (libcurl reads 0 as "no limit") and none exceeds
 * OCTOGEN_MAX_WAIT_MS (the cast of a larger double is undefined). */
long http_seconds_to_ms(double seconds)
{
    double ms;
    if (!(seconds > 0))
        return 0;
    ms = floor(seconds * 1000.0 + 0.5);
    if (ms < 1)
        return 1;
    if (ms >= (double)OCTOGEN_MAX_WAIT_MS)
        return OCTOGEN_MAX_WAIT_MS;
    return (long)ms;
}

/* A byte count (a Lua number) as a buffer limit: at least 1 (0 would
 * mean "no limit"), at most SIZE_MAX. */
size_t http_byte_limit(double bytes)
{
    if (!(bytes >= 1))
        return 1;
    if (bytes >= (double)SIZE_MAX)
        return SIZE_MAX;
    return (size_t)bytes;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* One header line as libcurl receives it (status lines, header lines,
 * the blank line that ends a block, and trailers alike). Linear in the
 * line: a status line starts a new response (after a 1xx, or a proxy's
 * answer to CONNECT) and drops what the previous one had; only the first
 * OCTOGEN_MAX_HEADERS lines of a block are kept; lines after the block's
 * blank line (trailers) are not headers. head_state tells response.c
 * whether the block was complete. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata)
{
    exchange *x = (exchange *)userdata;
    size_t n = size * nmemb, len = n, name_len, i;
    const char *colon, *v, *end;
    header_ref *ref;

    while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        buffer_reset(&x->heads);
        x->head_kept = 0;
        x->head_state = HEAD_OPEN;
        return n;
    }
    if (x->head_state != HEAD_OPEN)
        return n;
    if (len == 0) {
        x->head_state = HEAD_ENDED;
        return n;
    }
    /* A folded continuation line (obsolete) is not kept either. */
    if (x->head_kept >= OCTOGEN_MAX_HEADERS || is_blank(p[0]))
        return n;
    colon = (const char *)memchr(p, ':', len);
    if (colon == NULL || colon == p)
        return n;
    name_len = (size_t)(colon - p);
    v = colon + 1;
    end = p + len;
    while (v < end && is_blank(*v))
        v++;
    while (end > v && is_blank(end[-1]))
        end--;
    ref = &x->head_refs[x->head_kept];
    ref->name = x->heads.len;
    ref->name_len = name_len;
    ref->value = x->heads.len + name_len;
    ref->value_len = (size_t)(end - v);
    if (!buffer_append(&x->heads, p, name_len) ||
        !buffer_append(&x->heads, v, ref->value_len)) {
        /* Over OCTOGEN_MAX_HEADER_BYTES: keep what fitted before. */
        x->heads.len = ref->name;
        return n;
    }
    for (i = 0; i < name_len; i++) {
        char ch = x->heads.data[ref->name + i];
        if (ch >= 'A' && ch <= 'Z')
            x->heads.data[ref->name + i] = (char)(ch - 'A' + 'a');
    }
    x->head_kept++;
    return n;
}

/* Options every easy handle of a client carries; set once per handle. */
void http_configure(CURL *e, long connect_timeout_ms)
{
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    /* Any encoding libcurl was built with (gzip, deflate, br, zstd). */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    /* Never follow a redirect: the Authorization header must not travel to
     * a host the caller did not name. A 3xx is reported as an APIError. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
}

/* Points the handle's output at this exchange's buffers. */
void http_bind(CURL *e, exchange *x)
{
    x->easy = e;
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x->response);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)x);
    x->heads.limit = OCTOGEN_MAX_HEADER_BYTES;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)x);
}

void http_free(exchange *x)
{
    buffer_free(&x->url);
    buffer_free(&x->response);
    buffer_free(&x->heads);
    curl_slist_free_all(x->call_list);
    x->call_list = NULL;
}

/* True when two "Name: value" lines name the same header. */
int http_same_header_name(const char *a, const char *b)
{
    for (;; a++, b++) {
        char ca = *a, cb = *b;
        if (ca >= 'A' && ca <= 'Z')
            ca = (char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (char)(cb - 'A' + 'a');
        if (ca != cb)
            return 0;
        if (ca == ':' || ca == '\0')
            return ca == ':';
    }
}

static int overridden(const char *line, const octogen_call *call)
{
    int i;
    for (i = 0; i < call->n_headers; i++)
        if (http_same_header_name(line, call->headers[i]))
            return 1;
    return 0;
}

/* The whole header list of a call with headers of its own: what the
 * prepared list would send, in the same order, less the client headers
 * the call replaces, then the call's. Owned by the exchange. */
static struct curl_slist *call_list(const struct curl_slist *prepared, const octogen_call *call)
{
    struct curl_slist *list = NULL, *grown;
    const struct curl_slist *h;
    int i;
    for (h = prepared; h != NULL; h = h->next) {
        if (overridden(h->data, call))
            continue;
        grown = curl_slist_append(list, h->data);
        if (grown == NULL)
            goto fail;
        list = grown;
    }
    for (i = 0; i < call->n_headers; i++) {
        grown = curl_slist_append(list, call->headers[i]);
        if (grown == NULL)
            goto fail;
        list = grown;
    }
    return list;
fail:
    curl_slist_free_all(list);
    return NULL;
}

/* Everything but the transfer itself: URL, method, body, headers. The
 * body and auth strings must outlive the transfer; the caller anchors
 * them. The Authorization and a per-call Content-Type are chained in
 * front of the client's prepared list with nodes inside the exchange;
 * only a call with headers of its own gets a list allocated (call_list). */
CURLcode http_setup(octogen_client *c, exchange *x, const char *method,
                    const char *path, const char *body, size_t body_len,
                    const octogen_call *call, const char *auth_line)
{
    CURL *e = x->easy;
    size_t base_len = strlen(c->base_url);
    struct curl_slist *list = body != NULL ? c->body_headers : c->headers;

    while (*path == '/')
        path++;
    buffer_reset(&x->url);
    if (!buffer_append(&x->url, c->base_url, base_len) ||
        (*path != '\0' && (!buffer_append(&x->url, "/", 1) ||
                           !buffer_append(&x->url, path, strlen(path)))))
        return CURLE_OUT_OF_MEMORY;
    if (body != NULL && call->content_type != NULL) {
        /* body_headers starts with the JSON Content-Type; replace it. */
        snprintf(x->type_line, sizeof x->type_line, "Content-Type: %s", call->content_type);
        x->type_node.data = x->type_line;
        x->type_node.next = c->body_headers->next;
        list = &x->type_node;
    }
    /* HTTP Basic for this call replaces the Bearer line (libcurl would
     * drop its Basic header for a custom Authorization one); the
     * cosocket transport's request head does the same (wire.c). */
    if (auth_line != NULL && !call->no_auth && call->basic == NULL) {
        x->auth_node.data = (char *)auth_line;
        x->auth_node.next = list;
        list = &x->auth_node;
    }
    curl_slist_free_all(x->call_list);
    x->call_list = NULL;
    if (call->n_headers > 0) {
        x->call_list = call_list(list, call);
        if (x->call_list == NULL)
            return CURLE_OUT_OF_MEMORY;
        list = x->call_list;
    }
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     call->timeout_ms > 0 ? call->timeout_ms : c->timeout_ms);
    buffer_reset(&x->response);
    x->response.limit = c->max_response_bytes;
    buffer_reset(&x->heads);
    x->head_kept = 0;
    x->head_state = HEAD_NONE;
    x->errbuf[0] = '\0';

    curl_easy_setopt(e, CURLOPT_URL, x->url.data);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                         strcmp(method, "POST") == 0 ? NULL : method);
    } else {
        /* HTTPGET clears NOBODY, so HEAD is set after it. */
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                         strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0
                             ? NULL : method);
    }
    if (call->basic != NULL) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERPWD, call->basic);
    }
    return CURLE_OK;
}

/* After the transfer: read the outcome, and drop every pointer to the
 * caller's strings and to the exchange's nodes. */
void http_done(exchange *x, CURLcode code, const char *method, octogen_response *r)
{
    CURL *e = x->easy;
    curl_off_t total_us = 0;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)NULL);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(e, CURLOPT_USERPWD, (char *)NULL);
    r->code = code;
    r->answer.status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->answer.status);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total_us);
    r->answer.elapsed = (double)total_us / 1e6;
    r->answer.method = method;
    r->answer.url = x->url.data;
}

/* libcurl's socket callback: keep the table of sockets to watch. A
 * table that cannot grow makes the callback fail, which fails the
 * transfers on that socket rather than leaving them unwatched. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    octogen_socks *s = (octogen_socks *)userp;
    int i;
    (void)e;
    (void)socketp;
    for (i = 0; i < s->n && s->pfd[i].fd != fd; i++)
        ;
    if (what == CURL_POLL_REMOVE) {
        if (i < s->n)
            s->pfd[i] = s->pfd[--s->n];
        return 0;
    }
    if (i == s->n) {
        if (s->n == s->cap) {
            int cap = s->cap ? s->cap * 2 : 8;
            struct pollfd *grown = (struct pollfd *)realloc(s->pfd, (size_t)cap * sizeof *grown);
            if (grown == NULL)
                return -1;
            s->pfd = grown;
            s->cap = cap;
        }
        s->pfd[s->n++].fd = fd;
    }
    s->pfd[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
                               ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    s->pfd[i].revents = 0;
    return 0;
}

/* Makes m report its sockets into s. */
void http_watch(CURLM *m, octogen_socks *s)
{
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, (void *)s);
}

void http_socks_free(octogen_socks *s)
{
    free(s->pfd);
    s->pfd = NULL;
    s->n = 0;
    s->cap = 0;
}

/* poll() revents as libcurl's event bits, read as libcurl's own
 * Curl_socket_check reads them: an error or hang-up makes the socket
 * readable (the read then reports it) and fails a write. */
static int event_bits(short revents, short events)
{
    int bits = 0;
    if ((events & POLLIN) && (revents & (POLLIN | POLLPRI | POLLERR | POLLHUP | POLLNVAL)))
        bits |= CURL_CSELECT_IN;
    if ((events & POLLOUT) && (revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)))
        bits |= CURL_CSELECT_OUT;
    if (revents & (POLLERR | POLLNVAL))
        bits |= CURL_CSELECT_ERR;
    return bits;
}

/* Ready sockets handed to libcurl per round; more wait for the next
 * round (poll() reports them again). */
#define READY_PER_ROUND 64

/* One round of m's event loop: wait at most max_ms (less when one of
 * libcurl's timers is due sooner; 0 only looks) for a watched socket,
 * then let libcurl act on the ready ones, or on its due timers. With no
 * socket to watch it still waits: a retry's backoff relies on that. */
CURLMcode http_wait(CURLM *m, octogen_socks *s, long max_ms, int *running)
{
    curl_socket_t fd[READY_PER_ROUND];
    int bits[READY_PER_ROUND];
    int i, n = 0, ready;
    long ms = -1;
    CURLMcode mc = CURLM_OK;

    curl_multi_timeout(m, &ms);
    if (ms < 0 || ms > max_ms)
        ms = max_ms;
    if (ms > OCTOGEN_MAX_WAIT_MS)
        ms = OCTOGEN_MAX_WAIT_MS;
    ready = s->n > 0 || ms > 0 ? poll(s->pfd, (nfds_t)s->n, (int)ms) : 0;
    if (ready < 0 && errno != EINTR)
        ready = 0;
    /* The table may change under each call: act on a copy. */
    for (i = 0; ready > 0 && i < s->n && n < READY_PER_ROUND; i++) {
        int b = event_bits(s->pfd[i].revents, s->pfd[i].events);
        if (b != 0) {
            fd[n] = s->pfd[i].fd;
            bits[n++] = b;
        }
    }
    for (i = 0; i < n && mc == CURLM_OK; i++)
        mc = curl_multi_socket_action(m, fd[i], bits[i], running);
    /* Timers that are due (timeouts, a connection attempt's next phase)
     * when no socket was: socket actions run them too. */
    if (n == 0 && mc == CURLM_OK) {
        curl_multi_timeout(m, &ms);
        if (ms == 0)
            mc = curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, running);
    }
    return mc;
}

/* One transfer on the client's blocking handle, to the end, on the
 * caller's thread: what curl_easy_perform does, with one poll() per wait
 * and none more (see octogen_socks). */
CURLcode http_perform(octogen_client *c)
{
    int running = 0, left, done = 0;
    CURLMcode mc;
    CURLMsg *msg;
    CURLcode code = CURLE_OK;

    if (c->bmulti == NULL) {
        c->bmulti = curl_multi_init();
        if (c->bmulti == NULL)
            return CURLE_OUT_OF_MEMORY;
        http_watch(c->bmulti, &c->bsocks);
    }
    mc = curl_multi_add_handle(c->bmulti, c->easy);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
    mc = curl_multi_socket_action(c->bmulti, CURL_SOCKET_TIMEOUT, 0, &running);
    /* No timer while a transfer runs does not happen; were it so, the
     * sockets are looked at again every second, as curl_easy_perform
     * does. */
    while (mc == CURLM_OK && running > 0)
        mc = http_wait(c->bmulti, &c->bsocks, 1000, &running);
    while ((msg = curl_multi_info_read(c->bmulti, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy) {
            code = msg->data.result;
            done = 1;
        }
    curl_multi_remove_handle(c->bmulti, c->easy);
    if (mc != CURLM_OK) {
        /* The multi handle itself failed (out of memory, or a socket
         * table that could not grow): a fresh one for the next call. */
        curl_multi_cleanup(c->bmulti);
        c->bmulti = NULL;
        http_socks_free(&c->bsocks);
        if (!done)
            code = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
    }
    return code;
}

/* Response headers of the last exchange, as collected by on_header, as
 * a table with lower-case names; a repeated header is joined with ", "
 * as RFC 9110 allows. One pass over at most OCTOGEN_MAX_HEADERS lines. */
void http_push_headers(lua_State *L, const exchange *x)
{
    int i;
    lua_createtable(L, 0, x->head_kept);
    for (i = 0; i < x->head_kept; i++) {
        const header_ref *h = &x->head_refs[i];
        /* Names longer than this were never useful and are skipped, as
         * before. */
        if (h->name_len >= 128)
            continue;
        lua_pushlstring(L, x->heads.data + h->name, h->name_len);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushlstring(L, x->heads.data + h->value, h->value_len);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, x->heads.data + h->value, h->value_len);
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
    }
}
