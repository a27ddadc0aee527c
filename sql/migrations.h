/* migrations.h — the numbered schema migrations embedded at build time (sql/embed.sh).
 * Not an API for running them: sql/store.c applies them; this only declares the table. */
#ifndef SQL_MIGRATIONS_H
#define SQL_MIGRATIONS_H

typedef struct {
    int version;        /* NNN from NNN_name.sql, strictly increasing */
    const char *name;   /* file stem, recorded in schema_migrations */
    const char *sql;    /* whole file text */
} store_migration_t;

extern const store_migration_t STORE_MIGRATIONS[];
extern const int STORE_N_MIGRATIONS;

#endif
