/*
 * Per-request deadlines that libmicrohttpd lacks: its timeout is one of
 * idleness, so a client that sends a byte now and then (slowloris) could
 * hold a connection for ever.  Here a request's headers must be complete
 * within header_timeout of the connection opening or of its previous
 * reply, and its body within body_timeout of the headers; a connection
 * past either has its socket shut down, which libmicrohttpd sees as the
 * client going away.  No deadline runs while scepd works or replies.
 */
#ifndef DEADLINE_H
#define DEADLINE_H

#include <stdint.h>

#include <microhttpd.h>

typedef struct deadlines deadlines;

deadlines *deadlines_new(void);
void deadlines_free(deadlines *d);
/* Seconds; 0 turns one off.  Safe while connections run (SIGHUP). */
void deadlines_set(deadlines *d, int header_timeout, int body_timeout);
/* MHD_OPTION_NOTIFY_CONNECTION's callback; cls is the deadlines. */
void deadlines_notify(void *cls, struct MHD_Connection *c,
    void **socket_context, enum MHD_ConnectionNotificationCode code);
/* From the access handler: headers in (the body's clock starts) ... */
void deadlines_headers_done(struct MHD_Connection *c);
/* ... body in (no deadline while scepd works and replies) ... */
void deadlines_body_done(struct MHD_Connection *c);
/* ... and from the completion callback: the next request's clock. */
void deadlines_request_done(struct MHD_Connection *c);
/* Shut down the connections past a deadline; how many.  Once a second. */
int deadlines_sweep(deadlines *d);

#endif
