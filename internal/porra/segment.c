/* The rule for the path segments that make up a pool's ID and for a bettor's name. */
#include "porra/porra.h"

#include <stdio.h>
#include <string.h>

#define SEG_RULE      "must be " PORRA_SEGMENT_RULE
#define SEG_RULE_DASH "must be 1-64 characters: letters, digits, '_', '.', '-' or UTF-8 letters, not only dots"

/* Length of the valid multi-byte UTF-8 sequence at s, or 0. s is NUL-terminated, and NUL is
 * never a continuation byte, so a truncated sequence stops before reading past the end. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n = c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c < 0xF5 ? 4 : 0;
    if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* beyond U+10FFFF */
    if (n == 0 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

int porra_segment_ok(const char *s, int allow_dash, char *err, size_t errlen)
{
    /* characters, not bytes: the rule JSON Schema's maxLength states (README, HTTP API) */
    size_t len = s ? strnlen(s, PORRA_SEGMENT_MAX + 1) : 0, n, chars = 0;
    int only_dots = 1, ok = len >= 1 && len <= PORRA_SEGMENT_MAX;
    for (size_t i = 0; ok && i < len; i += n, chars++) {
        unsigned char c = (unsigned char)s[i];
        n = c >= 0x80 ? utf8_seq((const unsigned char *)s + i) : 1;
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
