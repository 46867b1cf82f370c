/* `porrio store verify|recover`: reading a store without serving it (docs/store.md). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "porrio.h"

static int usage(void)
{
    fprintf(stderr, "usage: porrio [--SETTING VALUE]... store verify [DATA_DIR]\n"
                    "       porrio [--SETTING VALUE]... store recover --to NEWDIR [DATA_DIR]\n");
    return 2;
}

static void line(void *ctx, const char *fmt, ...)
{
    va_list ap;
    (void)ctx;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void report(FILE *out, const char *prefix, const store_error_t *e)
{
    if (e->file[0] != '\0' && e->offset >= 0)
        fprintf(out, "%s%s at offset %lld: %s\n", prefix, e->file, e->offset, e->problem);
    else if (e->file[0] != '\0')
        fprintf(out, "%s%s: %s\n", prefix, e->file, e->problem);
    else
        fprintf(out, "%s%s\n", prefix, e->problem);
}

int store_command(settings_t *s, int argc, char **argv)
{
    const char *to = NULL, *dir = NULL;
    int verify = argc >= 2 && strcmp(argv[1], "verify") == 0;
    if (argc < 2 || (!verify && strcmp(argv[1], "recover") != 0))
        return usage();
    for (int i = 2; i < argc; i++) {
        if (!verify && strcmp(argv[i], "--to") == 0 && i + 1 < argc && to == NULL)
            to = argv[++i];
        else if (dir == NULL && argv[i][0] != '-')
            dir = argv[i];
        else
            return usage();
    }
    if (!verify && to == NULL)
        return usage();
    app_opts_t o = {.data_dir = dir != NULL ? dir : s->cfg.value[CFG_DATA_DIR], .hitos_file = s->cfg.value[CFG_HITOS_FILE]};
    app_scan_report_t rep = {.line = line};
    store_error_t e;
    if (verify) {
        int rc = app_verify(&o, &rep, &e);
        if (rc != 0) {
            report(e.damaged ? stdout : stderr, e.damaged ? "DAMAGED: " : "porrio: cannot read the store: ", &e);
            return 1;
        }
        printf("%s: whole, %llu records%s\n", o.data_dir, (unsigned long long)rep.records,
               rep.torn ? " (start-up leaves the torn tail out)" : "");
        if (rep.conflicts > 0)
            printf("%llu added milestones are in HITOS_FILE too: start-up stops until they are taken out of it\n",
                   (unsigned long long)rep.conflicts);
        return 0;
    }
    if (app_recover(&o, to, &rep, &e) != 0) {
        report(stderr, "porrio: ", &e);
        return 1;
    }
    printf("recovered %llu records into %s; skipped %llu records that did not apply and %llu damaged bytes\n",
           (unsigned long long)rep.applied, to, (unsigned long long)rep.skipped_records,
           (unsigned long long)rep.skipped_bytes);
    return 0;
}
