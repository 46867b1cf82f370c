/* live: a value published whole by a pointer swap, kept by its readers' references. */
#include "live/live.h"
#include "test.h"

#include <stdlib.h>

/* A value that says whether it is whole: every cell holds the same number. */
#define CELLS 64
typedef struct {
    long cell[CELLS];
} value_t;

static value_t *value_new(long v)
{
    value_t *x = live_alloc(sizeof(*x));
    for (int i = 0; x != NULL && i < CELLS; i++)
        x->cell[i] = v;
    return x;
}

static int whole(const value_t *x)
{
    for (int i = 1; i < CELLS; i++)
        if (x->cell[i] != x->cell[0])
            return 0;
    return 1;
}

static void test_publish(void)
{
    live_t h;
    live_init(&h, NULL);
    EXPECT(live_acquire(&h) == NULL);
    live_release(NULL);
    value_t *a = value_new(1), *b = value_new(2);
    EXPECT(a != NULL && b != NULL);
    EXPECT_INT((uintptr_t)a % _Alignof(max_align_t), 0);
    live_swap(&h, a);
    value_t *got = live_acquire(&h);
    EXPECT(got == a);
    /* replaced while held: the holder of a reference still reads it whole */
    live_swap(&h, b);
    EXPECT_INT(got->cell[CELLS - 1], 1);
    live_release(got);
    got = live_acquire(&h);
    EXPECT(got == b);
    live_release(got);
    live_swap(&h, NULL);
    EXPECT(live_acquire(&h) == NULL);
    live_destroy(&h);
}

typedef struct {
    live_t *h;
    int stop, torn, none;
} reader_t;

static void *reader(void *arg)
{
    reader_t *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        value_t *x = live_acquire(r->h);
        if (x == NULL)
            r->none++;
        else if (!whole(x))
            r->torn++;
        live_release(x);
    }
    return NULL;
}

/* Three readers while the main thread publishes 20000 values, freeing each replaced one as the
 * last reference goes: none is seen torn or missing. */
static void test_swap_while_reading(void)
{
    live_t h;
    reader_t r[3];
    pthread_t t[3];
    live_init(&h, value_new(0));
    for (int i = 0; i < 3; i++) {
        r[i] = (reader_t){.h = &h};
        pthread_create(&t[i], NULL, reader, &r[i]);
    }
    for (long i = 1; i <= 20000; i++)
        live_swap(&h, value_new(i));
    int torn = 0, none = 0;
    for (int i = 0; i < 3; i++) {
        __atomic_store_n(&r[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(t[i], NULL);
        torn += r[i].torn, none += r[i].none;
    }
    EXPECT_INT(torn, 0);
    EXPECT_INT(none, 0);
    value_t *last = live_acquire(&h);
    EXPECT(last != NULL && last->cell[0] == 20000 && whole(last));
    live_release(last);
    live_destroy(&h);
}

int main(void)
{
    RUN(test_publish);
    RUN(test_swap_while_reading);
    return TEST_END();
}
