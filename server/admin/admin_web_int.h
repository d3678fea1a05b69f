/* Inside server/admin only: the page's HTML and JavaScript (admin_web.c). */
#ifndef SCEPD_ADMIN_WEB_INT_H
#define SCEPD_ADMIN_WEB_INT_H

/*
 * The ledger page, served at / on the admin listener: the transactions as
 * a table with status and text filters, and a transaction's timeline.
 * Everything is in the binary (no CDN; it works offline); the data comes
 * from the admin API with the bearer token, which the page takes from
 * its URL fragment (#token=..., never sent to the server) or asks for.
 */

extern const char admin_web_html[];
extern const char admin_web_js[];

#endif
