/* Private to store/: the schema as a list of migrations. */
#ifndef LEDGER_SCHEMA_H
#define LEDGER_SCHEMA_H

/*
 * ledger_migrations[i] takes the database from user_version i to i + 1.
 * Append; never edit a migration that has shipped.
 */
extern const char *const ledger_migrations[];
extern const int ledger_schema_latest;

#endif
