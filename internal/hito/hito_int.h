/* What hito's own files share: the shape of a version. Not for other modules. */
#ifndef PORRIO_HITO_INT_H
#define PORRIO_HITO_INT_H
#include "arena/arena.h"
#include "hito/hito.h"
#include "jsonw/jsonw.h"
#include "pmap/pmap.h"
#include "pvec/pvec.h"

/* What every version shares: the texts of the milestones, which never change once added. The
 * writer adds to the arena while readers read what older versions hold (see arena.h). */
typedef struct hito_base {
    unsigned refs;
    arena_t text;
    char *comment; /* the file's comment as a JSON string, quoted */
    size_t nfile;  /* milestones 0..nfile-1 came from the file */
} hito_base_t;

/* Milestone i is list[i]: a = its "file\0title\0fecha" in base->text, b = its JSON there too;
 * by_file maps each file to its index. The rendered lists are made once per version. */
struct hito_db {
    unsigned refs;
    int transient;
    hito_base_t *base;
    pvec_t list;
    pmap_t by_file;
    jsonw_text_t *list_json, *all_json;
};

extern const pmap_ops_t hito_by_file_ops; /* keys live in base->text */

/* The members of a milestone, in this order wherever they are read, and their rules' words. */
extern const char *const hito_fields[3];
#define HITO_FECHA_RULE "must be a real date written d/m/yyyy"
#define HITO_TEXT_RULE  "must be a non-empty string of at most 256 bytes"
#define HITO_UTF8_RULE  "must be valid UTF-8"
#define HITO_FILE_RULE  "must be a file name: not \".\" or \"..\", without '/', '\\' or control characters"

/* printf into err (when err and errlen allow). */
void hito_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The string value of v, or NULL when v is not a string or hides a NUL. */
const char *hito_plain_string(const json_t *v);

/* Adds a milestone whose values are checked to a version this writer owns: its fields and its
 * JSON go to the arena. 0; -1 on OOM. */
int hito_add(hito_db_t *db, const char *const val[3], const char *json, size_t jsonlen);

#endif
