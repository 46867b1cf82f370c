/* The rule for the path segments that make up a pool's ID and for a bettor's name. */
#include "porra/porra.h"
#include "jsonw/jsonw.h"

#include <stdio.h>
#include <string.h>

#define SEG_RULE      "must be " PORRA_SEGMENT_RULE
#define SEG_RULE_DASH "must be 1-64 characters: letters, digits, '_', '.', '-' or UTF-8 letters, not only dots"

int porra_segment_ok(const char *s, int allow_dash, char *err, size_t errlen)
{
    /* characters, not bytes: the rule JSON Schema's maxLength states (README, HTTP API) */
    size_t len = s ? strnlen(s, PORRA_SEGMENT_MAX + 1) : 0, n, chars = 0;
    int only_dots = 1, ok = len >= 1 && len <= PORRA_SEGMENT_MAX;
    for (size_t i = 0; ok && i < len; i += n, chars++) {
        unsigned char c = (unsigned char)s[i];
        n = jsonw_utf8_len((const unsigned char *)s + i, len - i);
        ok = n > 0 && chars < PORRA_SEGMENT_CHARS &&
             (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              (c == '-' && allow_dash));
        only_dots &= c == '.';
    }
    if (ok && !only_dots)
        return 1;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", allow_dash ? SEG_RULE_DASH : SEG_RULE);
    return 0;
}

int porra_id_ok(const char *id)
{
    char seg[PORRA_SEGMENT_MAX + 1];
    const char *p = id;
    if (id == NULL)
        return 0;
    for (int k = 0; k < 4; k++) {
        const char *dash = k < 3 ? strchr(p, '-') : p + strlen(p);
        if (dash == NULL || (size_t)(dash - p) > PORRA_SEGMENT_MAX)
            return 0;
        memcpy(seg, p, (size_t)(dash - p));
        seg[dash - p] = '\0';
        if (!porra_segment_ok(seg, 0, NULL, 0))
            return 0;
        p = dash + 1;
    }
    return 1;
}
