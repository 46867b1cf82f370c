/* The bytes of the files (docs/store.md, "Files"), and telling a torn tail from damage. */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SECTOR   512 /* the unit a crash may leave unwritten (the torn-tail rule) */
#define ZERO_MIN 8   /* the shortest all-zero piece of a sector taken for an unwritten one */
#define CP_SHIFT 12  /* st_resync keeps the CRC-32 of every 4 KiB prefix */

uint8_t st_crc8(const unsigned char *p, size_t n)
{
    unsigned c = 0;
    while (n-- > 0) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c & 0x80 ? c << 1 ^ 0x07 : c << 1) & 0xff;
    }
    return (uint8_t)c;
}

uint32_t st_crc32(uint32_t crc, const void *p, size_t n)
{
    return (uint32_t)crc32_z(crc, p, n);
}

void st_name(char out[NAME_LEN], int snapshot, uint64_t gen)
{
    snprintf(out, NAME_LEN, "%s-%016" PRIx64, snapshot ? "snapshot" : "journal", gen);
}

int st_parse_name(const char *name, int *snapshot, uint64_t *gen)
{
    const char *hex;
    if (strncmp(name, "journal-", 8) == 0)
        *snapshot = 0, hex = name + 8;
    else if (strncmp(name, "snapshot-", 9) == 0)
        *snapshot = 1, hex = name + 9;
    else
        return 0;
    if (strlen(hex) != 16)
        return 0;
    uint64_t g = 0;
    for (int i = 0; i < 16; i++) {
        char ch = hex[i];
        if (ch >= '0' && ch <= '9')
            g = g << 4 | (uint64_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            g = g << 4 | (uint64_t)(ch - 'a' + 10);
        else
            return 0;
    }
    *gen = g;
    return 1;
}

void st_header_make(unsigned char h[HEADER_LEN], int snapshot, uint64_t gen, uint64_t id)
{
    memcpy(h, snapshot ? MAGIC_SNAPSHOT : MAGIC_JOURNAL, 8);
    st_put64(h + 8, gen);
    st_put64(h + 16, id);
    st_put32(h + 24, 0);
    st_put32(h + 28, st_crc32(0, h, 28));
}

int st_header_check(const unsigned char *b, size_t size, int snapshot, uint64_t gen, uint64_t *id, char *why, size_t whylen)
{
    const char *magic = snapshot ? MAGIC_SNAPSHOT : MAGIC_JOURNAL;
    if (size < HEADER_LEN) {
        snprintf(why, whylen, "header is cut short: the file has %zu bytes", size);
        return -1;
    }
    if (st_get32(b + 28) != st_crc32(0, b, 28)) {
        snprintf(why, whylen, "header fails its checksum");
        return -1;
    }
    if (memcmp(b, magic, 8) != 0) {
        snprintf(why, whylen, "header's magic is \"%.8s\", not %s", (const char *)b, magic);
        return -1;
    }
    if (st_get32(b + 24) != 0) {
        snprintf(why, whylen, "header's reserved bytes are not zero");
        return -1;
    }
    if (st_get64(b + 8) != gen) {
        char name[NAME_LEN];
        st_name(name, snapshot, gen);
        snprintf(why, whylen, "generation %" PRIu64 " in a file named %s", st_get64(b + 8), name);
        return -1;
    }
    *id = st_get64(b + 16);
    return 0;
}

void st_frame_make(unsigned char f[FRAME_LEN], const void *rec, size_t len)
{
    f[0] = (unsigned char)len, f[1] = (unsigned char)(len >> 8), f[2] = (unsigned char)(len >> 16);
    f[3] = st_crc8(f, 3);
    st_put32(f + 4, st_crc32(0, rec, len));
}

/* The length of the frame at p when it verifies (its CRC-8 in v2, its bounds in v1), else 0. */
static size_t frame_len(const unsigned char *p, int v1)
{
    if (v1) {
        uint32_t len = st_get32(p);
        return len <= V1_RECORD_MAX ? len : 0;
    }
    return st_crc8(p, 3) == p[3] ? (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 : 0;
}

st_frame_t st_frame_at(const unsigned char *b, size_t end, size_t off, int v1, size_t *len)
{
    if (end - off < FRAME_LEN)
        return FR_SHORT;
    *len = frame_len(b + off, v1);
    if (*len == 0)
        return FR_BAD_LEN;
    if (*len > end - off - FRAME_LEN)
        return FR_PAST_END;
    return st_crc32(0, b + off + FRAME_LEN, *len) == st_get32(b + off + 4) ? FR_OK : FR_BAD_CRC;
}

int st_all_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* Whether the part of b[from..to) inside some 512-byte block of the file is all zero and at least
 * ZERO_MIN bytes long: change records never hold that many zero bytes in a row (docs/store.md). */
static int zero_sector(const unsigned char *b, size_t from, size_t to)
{
    while (from < to) {
        size_t next = (from / SECTOR + 1) * SECTOR;
        if (next > to)
            next = to;
        if (next - from >= ZERO_MIN && st_all_zero(b + from, next - from))
            return 1;
        from = next;
    }
    return 0;
}

int st_torn(const unsigned char *b, size_t size, size_t off, int v1)
{
    size_t len;
    if (size - off < FRAME_LEN || st_all_zero(b + off, size - off))
        return 1;
    switch (st_frame_at(b, size, off, v1, &len)) {
    case FR_PAST_END:
        return 1;
    case FR_BAD_CRC:
        return off + FRAME_LEN + len == size && zero_sector(b, off, size);
    default:
        return 0;
    }
}

/* CRC-32 of b[0..n) from the index. */
static uint32_t prefix_crc(const st_resync_t *r, size_t n)
{
    size_t k = n >> CP_SHIFT;
    return st_crc32(r->cp[k], r->b + (k << CP_SHIFT), n & ((1u << CP_SHIFT) - 1));
}

static int build_index(st_resync_t *r)
{
    size_t n = (r->end >> CP_SHIFT) + 1;
    if ((r->cp = malloc(n * sizeof(*r->cp))) == NULL) {
        r->cp_failed = 1;
        return -1;
    }
    r->cp[0] = 0;
    for (size_t k = 1; k < n; k++)
        r->cp[k] = st_crc32(r->cp[k - 1], r->b + ((k - 1) << CP_SHIFT), (size_t)1 << CP_SHIFT);
    return 0;
}

/* Whether the payload b[a..a+len) has CRC-32 want. CRC-32 is linear: the CRC of a range is the
 * CRC of the prefix up to its end, minus the CRC of the prefix before it shifted by its length. */
static int payload_ok(st_resync_t *r, size_t a, size_t len, uint32_t want)
{
    if (r->cp == NULL && (r->cp_failed || build_index(r) != 0))
        return st_crc32(0, r->b + a, len) == want;
    uint32_t shifted = (uint32_t)crc32_combine(prefix_crc(r, a), 0, (z_off_t)len);
    return (prefix_crc(r, a + len) ^ shifted) == want;
}

size_t st_resync(st_resync_t *r, size_t from)
{
    for (size_t off = from; off + FRAME_LEN <= r->end; off++) {
        size_t len = frame_len(r->b + off, r->v1);
        if (len == 0 || len > r->end - off - FRAME_LEN)
            continue;
        if (payload_ok(r, off + FRAME_LEN, len, st_get32(r->b + off + 4)))
            return off;
    }
    return r->end;
}

uint64_t st_count_following(st_resync_t *r, size_t from)
{
    uint64_t n = 0;
    for (size_t off = st_resync(r, from); off < r->end; off = st_resync(r, off)) {
        n++;
        off += FRAME_LEN + frame_len(r->b + off, r->v1);
    }
    return n;
}

void st_resync_free(st_resync_t *r)
{
    free(r->cp);
    r->cp = NULL;
}

const char *st_frame_word(st_frame_t fr)
{
    return fr == FR_BAD_LEN   ? "record's length fails its check"
           : fr == FR_BAD_CRC ? "record fails its checksum"
                              : "record is cut short";
}

void st_frame_problem(const unsigned char *b, size_t end, size_t off, int v1, st_frame_t fr, char *out, size_t outlen)
{
    if (fr == FR_SHORT || fr == FR_PAST_END) {
        snprintf(out, outlen, "%s: %zu bytes remain", st_frame_word(fr), end - off);
        return;
    }
    st_resync_t r = {.b = b, .end = end, .v1 = v1};
    uint64_t n = st_count_following(&r, off + 1);
    st_resync_free(&r);
    const char *word = st_frame_word(fr == FR_BAD_LEN ? FR_BAD_LEN : FR_BAD_CRC);
    snprintf(out, outlen, "%s; %" PRIu64 " valid record%s follow%s", word, n, n == 1 ? "" : "s", n == 1 ? "s" : "");
}

void st_trailer_make(unsigned char t[TRAILER_LEN], uint64_t count, uint32_t file_crc)
{
    memcpy(t, MAGIC_TRAILER, 8);
    st_put64(t + 8, count);
    st_put32(t + 16, file_crc);
    st_put32(t + 20, st_crc32(0, t, 20));
}

int st_trailer_check(const unsigned char *b, size_t size, uint64_t *count, uint32_t *file_crc)
{
    if (size < HEADER_LEN + TRAILER_LEN)
        return TRAILER_NONE;
    const unsigned char *t = b + size - TRAILER_LEN;
    if (memcmp(t, MAGIC_TRAILER, 8) != 0)
        return TRAILER_NONE;
    if (st_get32(t + 20) != st_crc32(0, t, 20))
        return TRAILER_BAD;
    *count = st_get64(t + 8);
    *file_crc = st_get32(t + 16);
    return TRAILER_OK;
}

int st_snapshot_check(const unsigned char *b, size_t size, long long *off, char *why, size_t whylen)
{
    uint64_t count, n = 0;
    uint32_t fcrc;
    size_t at = HEADER_LEN, len = 0, end = size - TRAILER_LEN;
    st_frame_t fr = FR_OK;
    int trailer = st_trailer_check(b, size, &count, &fcrc);
    if (trailer == TRAILER_BAD) {
        *off = (long long)end;
        snprintf(why, whylen, "snapshot's trailer fails its checksum");
        return -1;
    }
    if (trailer == TRAILER_NONE) {
        while (at < size && st_frame_at(b, size, at, 0, &len) == FR_OK)
            at += FRAME_LEN + len;
        *off = (long long)at;
        snprintf(why, whylen, "snapshot has no trailer: it is cut short");
        return -1;
    }
    while (at < end && (fr = st_frame_at(b, end, at, 0, &len)) == FR_OK)
        at += FRAME_LEN + len, n++;
    if (at < end) {
        *off = (long long)at;
        if (why != NULL) /* it counts the valid records that follow: not for a verdict alone */
            st_frame_problem(b, end, at, 0, fr, why, whylen);
        return -1;
    }
    if (n != count) {
        *off = (long long)end;
        snprintf(why, whylen, "trailer counts %" PRIu64 " records; the snapshot holds %" PRIu64, count, n);
        return -1;
    }
    if (st_crc32(0, b, end) != fcrc) {
        *off = -1;
        snprintf(why, whylen, "snapshot fails its checksum");
        return -1;
    }
    return 0;
}
