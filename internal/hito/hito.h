/* hito: the course's milestones. They come from a read-only JSON file; additions arrive as change
 * records so that another layer can make them durable and replay them at start. No HTTP, no
 * storage, no locking.
 *
 * A hito_db_t is one version of the milestones, immutable once sealed and shared between
 * threads by reference counting, like porra_db_t: hito_db_apply builds the next version (or, on
 * the transient version loaded at start, adds in place). A milestone renders as the object the
 * file gave (every member it had, in its order) or, when added, {"file", "title", "fecha"}. */
#ifndef PORRIO_HITO_H
#define PORRIO_HITO_H
#include <jansson.h>
#include <stddef.h>

#define HITO_FIELD_MAX 256 /* bytes, for file and title */

typedef struct hito_db hito_db_t;

typedef enum {
    HITO_OK,      /* a change was planned */
    HITO_INVALID, /* the body breaks a rule: 400 */
    HITO_EXISTS   /* a milestone with that file exists: 409 */
} hito_status_t;

/* Loads the milestones file, `{"comment": string, "hitos_lista": [{"file","title","fecha"}...]}`
 * (all strings; elements may carry more members, kept as they are), as a transient version.
 * path NULL or "" gives an empty db (comment "", no milestones). NULL with a message in err on:
 * a file that cannot be read, invalid JSON ("PATH:LINE:COL: text"), a wrong shape ("PATH:
 * hitos_lista[1].fecha: must be a date d/m/yyyy"), a duplicate file, or OOM. The file is never
 * written. Let go with hito_db_release. */
hito_db_t *hito_db_load(const char *path, char *err, size_t errlen);

/* Ends the transient state: from now on applies build new versions. */
void hito_db_seal(hito_db_t *db);

/* One more reference; thread-safe. */
hito_db_t *hito_db_ref(hito_db_t *db);

/* Lets go of a reference; thread-safe; NULL is a no-op. */
void hito_db_release(hito_db_t *db);

/* Number of milestones: those from the file plus those added. */
size_t hito_count(const hito_db_t *db);

/* The index of the milestone whose file is `file`, or -1. */
long hito_find(const hito_db_t *db, const char *file);

/* 1 when a milestone named `file` came from the milestones file (not from an addition). */
int hito_from_file(const hito_db_t *db, const char *file);

/* The JSON of milestone `index` and its length, or NULL when out of range. Borrowed: valid while
 * the caller holds db. */
const char *hito_json(const hito_db_t *db, size_t index, size_t *len);

/* GET /hitos: the array of every milestone, file ones first. GET /all: {"hitos": {"comment",
 * "hitos_lista": [...], "hitos": {"<file>": milestone}}}. Each is rendered the first time it is
 * asked for in this version, then shared; borrowed like hito_json. NULL on OOM. */
const char *hito_list_json(const hito_db_t *db, size_t *len);
const char *hito_all_json(const hito_db_t *db, size_t *len);

/* Parses a path id, written as the index it names: "0", or decimal digits not starting with '0'.
 * 0 and *out set (LONG_MAX for a number too large for a long: no milestone has that index); -1
 * for anything else (empty, a sign, leading zeros, spaces, hex). */
int hito_index_parse(const char *s, long *out);

/* 1 when s is "d/m/yyyy" (day and month one or two digits, year four) and a real Gregorian
 * date from year 1 on; 0 otherwise (NULL included). */
int hito_fecha_ok(const char *s);

/* ---- change records (their bytes: docs/store.md) ---- */

enum { HITO_OP_ADD = 0x20 };

/* A milestone to add; the strings are borrowed (from the request body or the record). */
typedef struct hito_change {
    const char *file, *title, *fecha;
} hito_change_t;

#define HITO_CHANGE_MAX (1 + 2 * (HITO_FIELD_MAX + 1) + 11)

/* Checks a POST /hitos body: an object with exactly "file", "title", "fecha", non-empty strings,
 * file and title at most HITO_FIELD_MAX bytes, file neither "." nor ".." and without '/', '\\'
 * or control characters (it names a file in the course's repository), fecha as hito_fecha_ok. HITO_INVALID with err
 * naming the field ("fecha: must be a real date written d/m/yyyy", "x: unknown field");
 * HITO_EXISTS when file is taken; HITO_OK with *c pointing into body. */
hito_status_t hito_plan_add(const hito_db_t *db, const json_t *body, hito_change_t *c, char *err, size_t errlen);

/* hito_plan_add without the rule on file's characters, which only new milestones are held to:
 * for restoring an export, whose milestones may have been added before the rule (they replay as
 * they were accepted). */
hito_status_t hito_plan_restore(const hito_db_t *db, const json_t *body, hito_change_t *c, char *err, size_t errlen);

/* Writes c's record into buf: its length, or 0 when it does not fit in cap. */
size_t hito_change_encode(const hito_change_t *c, char *buf, size_t cap);

/* Reads a record: 0 with *c pointing into rec; -1 with err when it is not a well-formed one. */
int hito_change_decode(const char *rec, size_t len, hito_change_t *c, char *err, size_t errlen);

/* Applies c to *db, checking it as the plan checks a body (a record replayed from disk gets the
 * checks a request gets): a sealed *db is replaced by a new version, the caller's reference
 * moving to it; a transient one is added to in place. The new milestone's index; -1 with err and
 * *db unchanged on a bad record, a duplicate file or OOM (a transient db may then be left
 * half-changed: loading fails anyway). */
long hito_db_apply(hito_db_t **db, const hito_change_t *c, char *err, size_t errlen);

/* Calls emit with the record of every milestone added (not those of the file, which is read
 * again at start), in order. 0; -1 as soon as emit returns non-zero, or on OOM. */
int hito_dump(const hito_db_t *db, int (*emit)(void *ctx, const void *rec, size_t len), void *ctx);

#endif
