/* web - one port that serves HTTP requests and WebSocket connections
 * (libwebsockets), for the services whose clients need both on one address:
 * the sim (REST + the telnyx_rtc socket the SDK logs into) and the relay.
 *
 * One thread runs the loop (cs_web_run). Handlers are called on it: an HTTP
 * handler gets the whole request (body collected up to a limit) and fills
 * in the whole response; a WebSocket gets open / message (one whole text
 * message, reassembled from its fragments) / close. Any thread may queue a
 * message to a connection (cs_web_send) or close one (cs_web_close); the
 * loop is woken to do it. Connections are named by a number that is never
 * reused, so a late send to a closed one is dropped, not misdelivered. */
#ifndef CS_WEB_H
#define CS_WEB_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_web cs_web_t;

typedef struct {
    const char *method;        /* GET, POST, PUT, DELETE, PATCH, OPTIONS */
    const char *path;          /* without the query */
    const char *query;         /* raw, without '?'; "" when none */
    const char *authorization; /* the header, or NULL */
    const char *body;          /* NUL-terminated; "" when none */
    size_t len;
    int too_large; /* the body was over the limit: body is "" */
} cs_web_request_t;

typedef struct {
    int status;
    const char *content_type;
    char *body; /* malloc'd; taken by cs_web */
    size_t len; /* 0: strlen(body) */
} cs_web_response_t;

typedef struct {
    void *arg;
    void (*http)(void *arg, const cs_web_request_t *req, cs_web_response_t *res);
    /* path and query of the upgrade request. */
    void (*ws_open)(void *arg, uint64_t conn, const char *path, const char *query);
    void (*ws_message)(void *arg, uint64_t conn, const char *text, size_t len);
    void (*ws_close)(void *arg, uint64_t conn);
} cs_web_handlers_t;

/* Listens on port (0: any free port, see cs_web_port). max_body caps HTTP
 * bodies (413 is the handler's to send: too_large is set) and WebSocket
 * messages (a bigger one closes the connection with 1009). NULL + err when
 * the port cannot be taken. */
cs_web_t *cs_web_new(int port, size_t max_body, const cs_web_handlers_t *handlers, char *err,
                     size_t errlen);
void cs_web_destroy(cs_web_t **self_p);

int cs_web_port(const cs_web_t *self);

/* Runs the loop until cs_web_stop; call from one thread. */
void cs_web_run(cs_web_t *self);
/* Any thread: makes cs_web_run return. */
void cs_web_stop(cs_web_t *self);

/* Any thread: queues one text message (copied). -1 when the connection is
 * known to be gone or memory ran out. */
int cs_web_send(cs_web_t *self, uint64_t conn, const char *text, size_t len);

/* Any thread: closes a connection; abrupt drops the TCP connection without
 * a close frame (a network cut, for tests), else a normal close (1000). */
void cs_web_close(cs_web_t *self, uint64_t conn, int abrupt);

/* The value of `name` in a query string ("a=1&b=2"; lws has decoded it)
 * copied into out; -1 when absent or longer than len - 1. */
int cs_web_query_arg(const char *query, const char *name, char *out, size_t len);

/* Routing "<prefix><id>[/<rest>]": 1 with the id copied and *rest pointing
 * at "/<rest>" (or ""), 0 when the path is not under prefix or the id is
 * empty or does not fit idlen. */
int cs_web_path_id(const char *path, const char *prefix, char *id, size_t idlen, const char **rest);

/* Connections open now (WebSocket only). */
long cs_web_connections(cs_web_t *self);

#endif
