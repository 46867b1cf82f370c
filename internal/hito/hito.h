/* hito: the course's milestones. They come from a read-only JSON file; additions arrive as
 * change records (plan -> journal -> apply) so that another layer can make them durable and
 * replay them at start. No HTTP, no storage, no locking: the caller serialises every call, and
 * borrowed references are only valid under that serialisation until the next mutating call.
 * Milestone objects are never modified once created, so holding a reference to one is safe. */
#ifndef PORRIO_HITO_H
#define PORRIO_HITO_H
#include <jansson.h>
#include <stddef.h>

#define HITO_FIELD_MAX 256 /* bytes, for file and title */

typedef struct hito_db hito_db_t; /* opaque */

typedef enum {
    HITO_OK,      /* a change record was produced */
    HITO_INVALID, /* the body breaks a rule: 400 */
    HITO_EXISTS   /* a milestone with that file exists: 409 */
} hito_status_t;

/* Loads the milestones file, `{"comment": string, "hitos_lista": [{"file","title","fecha"}...]}`
 * (all strings; elements may carry more members, kept as they are). path NULL or "" gives an
 * empty db (comment "", no milestones). NULL with a message in err on: a file that cannot be read,
 * invalid JSON ("PATH:LINE:COL: text"), a wrong shape ("PATH: hitos_lista[1].fecha: must be a
 * date d/m/yyyy"), a duplicate file, or OOM. The file is never written. Free with hito_db_free. */
hito_db_t *hito_db_load(const char *path, char *err, size_t errlen);

/* Frees db and everything it holds; NULL is a no-op. Borrowed references die with it. */
void hito_db_free(hito_db_t *db);

/* Number of milestones: those from the file plus those applied. */
size_t hito_count(const hito_db_t *db);

/* Borrowed reference to hitos_lista[index], or NULL when index is out of range. */
json_t *hito_get(const hito_db_t *db, size_t index);

/* Borrowed reference to the hitos_lista array, file milestones first, then additions. */
json_t *hito_list(const hito_db_t *db);

/* NEW reference to the course's object: {"comment", "hitos_lista": [...], "hitos": {"<file>":
 * milestone}}. The containers are its own; the milestone objects are shared with db (immutable).
 * NULL on OOM. */
json_t *hito_all(const hito_db_t *db);

/* Parses a path id: decimal digits, optionally after one '-' (a negative value, then simply out
 * of range). 0 and *out set; -1 for anything else (empty, spaces, '+', hex, overflow). */
int hito_index_parse(const char *s, long *out);

/* 1 when s is "d/m/yyyy" (day and month one or two digits, year four) and a real Gregorian
 * date from year 1 on; 0 otherwise (NULL included). */
int hito_fecha_ok(const char *s);

/* Checks a POST /hitos body: an object with exactly "file", "title", "fecha", non-empty strings,
 * file and title at most HITO_FIELD_MAX bytes, fecha as hito_fecha_ok. HITO_INVALID with err
 * naming the field ("fecha: must be a real date written d/m/yyyy", "x: unknown field");
 * HITO_EXISTS when file is taken; HITO_OK with *change a NEW {"op": "hito.add", "file", "title",
 * "fecha"} for hito_apply. db is not changed; *change is NULL unless HITO_OK (OOM:
 * HITO_INVALID with "out of memory"). */
hito_status_t hito_plan_add(const hito_db_t *db, const json_t *body, json_t **change, char *err,
                            size_t errlen);

/* Applies a change record, from hito_plan_add or replayed from a journal, so it is re-checked as
 * the plan checks a body (members other than op/file/title/fecha are ignored). Appends the new
 * milestone and returns its index; -1 with err and db unchanged on any malformed record, an
 * unknown op, a duplicate file or OOM. change is only read. */
long hito_apply(hito_db_t *db, const json_t *change, char *err, size_t errlen);

/* Calls cb once per milestone added by hito_apply, in order, with a change record that
 * hito_apply accepts (borrowed, valid during the call). File milestones are not included: the
 * file is read again at start. 0 when done; -1 as soon as cb returns non-zero, or on OOM. */
int hito_dump(const hito_db_t *db, int (*cb)(void *ctx, json_t *change), void *ctx);

#endif
