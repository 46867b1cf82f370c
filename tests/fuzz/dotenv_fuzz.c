/* dotenv_fuzz: cfg_layer_dotenv_parse (config.h) on arbitrary bytes, handed over in a buffer of
 * their exact size with no NUL after them, so ASan reports any read past the end.
 * Checked beyond "no crash":
 *   - a refused text leaves the layer as it was (it holds a value beforehand) and says
 *     ".env line N: ...";
 *   - an accepted text's values are NUL-free, and they re-encode: written back as
 *     `export NAME="value"` lines (\\, \", \n, \r, \t escaped), the text parses again to the same
 *     values, every one of them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz.h"

/* The layer's values as .env text that gives them back: malloc'd, its length in *len. */
static char *reencode(const cfg_layer_t *l, size_t *len)
{
    size_t cap = 1, n = 0;
    for (int k = 0; k < CFG_COUNT; k++)
        if (l->val[k] != NULL)
            cap += 32 + strlen(cfg_name((cfg_key_t)k)) + 2 * strlen(l->val[k]);
    char *out = malloc(cap);
    CHECK(out != NULL);
    for (int k = 0; k < CFG_COUNT; k++) {
        if (l->val[k] == NULL)
            continue;
        n += (size_t)snprintf(out + n, cap - n, "export %s=\"", cfg_name((cfg_key_t)k));
        for (const char *v = l->val[k]; *v; v++) {
            const char *esc = *v == '\\'   ? "\\\\"
                              : *v == '"'  ? "\\\""
                              : *v == '\n' ? "\\n"
                              : *v == '\r' ? "\\r"
                              : *v == '\t' ? "\\t"
                                           : NULL;
            if (esc != NULL) {
                memcpy(out + n, esc, 2);
                n += 2;
            } else {
                out[n++] = *v;
            }
        }
        n += (size_t)snprintf(out + n, cap - n, "\" # from the fuzzer\n");
    }
    *len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_layer_t l = {0}, again = {0};
    char err[256] = "";
    char *text = fuzz_dup(data, size);
    CHECK(cfg_layer_set(&l, CFG_PORT, "before") == 0);
    if (cfg_layer_dotenv_parse(&l, text, size, NULL, err, sizeof(err)) != 0) {
        for (int k = 0; k < CFG_COUNT; k++)
            CHECK(k == CFG_PORT ? strcmp(l.val[k], "before") == 0 : l.val[k] == NULL);
        CHECK(strncmp(err, ".env line ", 10) == 0 || strcmp(err, ".env: out of memory") == 0);
        cfg_layer_free(&l);
        free(text);
        return 0;
    }
    size_t len;
    char *back = reencode(&l, &len);
    if (cfg_layer_dotenv_parse(&again, back, len, "again", err, sizeof(err)) != 0) {
        fprintf(stderr, "dotenv_fuzz: the values written back do not parse: %s\n%.*s", err, (int)len, back);
        abort();
    }
    for (int k = 0; k < CFG_COUNT; k++) {
        CHECK((l.val[k] == NULL) == (again.val[k] == NULL));
        if (l.val[k] != NULL)
            CHECK(strcmp(l.val[k], again.val[k]) == 0);
    }
    free(back);
    cfg_layer_free(&again);
    cfg_layer_free(&l);
    free(text);
    return 0;
}
