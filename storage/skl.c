/* skl.c -- the memtable: an arena skiplist with one writer and lock-free readers (skl.h). */
#include <stdlib.h>
#include <string.h>

#include "matcher/matcher.h"
#include "storage/sst_int.h"
#include "storage/skl.h"

#define SKL_MAX_HEIGHT 12
#define SKL_BRANCH     4 /* a node reaches the next level with probability 1/4 */

/* A value record in the arena: (vlen << 1 | tombstone), then the bytes. */
typedef struct {
    uint32_t word;
    uint8_t bytes[];
} sklValue;

typedef struct sklNode {
    sklValue *val; /* atomic: replaced by a put of the same key */
    uint32_t klen;
    uint32_t height;
    struct sklNode *next[]; /* height links, then the key bytes */
} sklNode;

struct sklList {
    uint8_t *arena;
    size_t cap, used;
    uint64_t count;
    uint64_t rng;
    uint32_t height; /* current height of the list (atomic) */
    sklNode *head;
};

static inline const uint8_t *nodeKey(const sklNode *n)
{
    return (const uint8_t *)&n->next[n->height];
}

static inline sklNode *loadNext(const sklNode *n, int level)
{
    return __atomic_load_n(&n->next[level], __ATOMIC_ACQUIRE);
}

static void *arenaTake(sklList *s, size_t bytes)
{
    size_t at = (s->used + 7) & ~(size_t)7;
    if (at > s->cap || bytes > s->cap - at)
        return NULL;
    s->used = at + bytes;
    return s->arena + at;
}

void sklReset(sklList *s)
{
    s->used = 0;
    s->count = 0;
    s->height = 1;
    s->head = arenaTake(s, sizeof(sklNode) + SKL_MAX_HEIGHT * sizeof(sklNode *));
    memset(s->head, 0, sizeof(sklNode) + SKL_MAX_HEIGHT * sizeof(sklNode *));
    s->head->height = SKL_MAX_HEIGHT;
}

sklList *sklCreate(size_t arenaBytes)
{
    if (arenaBytes < (64u << 10))
        return NULL;
    sklList *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    const mtAllocator *a = mtDefaultAllocator();
    s->arena = a->alloc(a->ctx, arenaBytes);
    if (!s->arena) {
        free(s);
        return NULL;
    }
    s->cap = arenaBytes;
    s->rng = 0x9E3779B97F4A7C15ull ^ (uintptr_t)s;
    sklReset(s);
    return s;
}

void sklFree(sklList *s)
{
    if (!s)
        return;
    const mtAllocator *a = mtDefaultAllocator();
    a->free(a->ctx, s->arena, s->cap);
    free(s);
}

static uint32_t randomHeight(sklList *s)
{
    uint32_t h = 1;
    while (h < SKL_MAX_HEIGHT) {
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        if (s->rng % SKL_BRANCH)
            break;
        h++;
    }
    return h;
}

/* Finds the first node >= key; prev[] gets the last node < key per level. */
static sklNode *findGreaterOrEqual(const sklList *s, const void *key, size_t klen, sklNode **prev)
{
    sklNode *x = s->head;
    int level = (int)__atomic_load_n(&s->height, __ATOMIC_RELAXED) - 1;
    for (;;) {
        sklNode *n = loadNext(x, level);
        if (n && sstKeyCmp(nodeKey(n), n->klen, key, klen) < 0) {
            x = n;
            continue;
        }
        if (prev)
            prev[level] = x;
        if (level == 0)
            return n;
        level--;
    }
}

static sklValue *makeValue(sklList *s, const void *val, size_t vlen, int tomb)
{
    size_t n = tomb ? 0 : vlen;
    sklValue *v = arenaTake(s, sizeof(sklValue) + n);
    if (!v)
        return NULL;
    v->word = (uint32_t)(n << 1) | (tomb ? 1u : 0u);
    if (n)
        memcpy(v->bytes, val, n);
    return v;
}

int sklPut(sklList *s, const void *key, size_t klen, const void *val, size_t vlen, int tomb)
{
    if (vlen > (UINT32_MAX >> 1))
        return -1;
    sklNode *prev[SKL_MAX_HEIGHT];
    sklNode *n = findGreaterOrEqual(s, key, klen, prev);
    size_t mark = s->used;
    sklValue *v = makeValue(s, val, vlen, tomb);
    if (!v)
        return -1;
    if (n && sstKeyCmp(nodeKey(n), n->klen, key, klen) == 0) {
        __atomic_store_n(&n->val, v, __ATOMIC_RELEASE);
        return 0;
    }
    uint32_t h = randomHeight(s);
    sklNode *x = arenaTake(s, sizeof(sklNode) + h * sizeof(sklNode *) + klen);
    if (!x) {
        s->used = mark; /* the value record goes too: nothing changed */
        return -1;
    }
    uint32_t cur = s->height;
    for (uint32_t i = cur; i < h; i++)
        prev[i] = s->head;
    if (h > cur)
        __atomic_store_n(&s->height, h, __ATOMIC_RELAXED);
    x->val = v;
    x->klen = (uint32_t)klen;
    x->height = h;
    memcpy((uint8_t *)&x->next[h], key, klen);
    for (uint32_t i = 0; i < h; i++) {
        x->next[i] = prev[i]->next[i];
        __atomic_store_n(&prev[i]->next[i], x, __ATOMIC_RELEASE);
    }
    s->count++;
    return 0;
}

int sklGet(const sklList *s, const void *key, size_t klen, const void **val, size_t *vlen)
{
    sklNode *n = findGreaterOrEqual(s, key, klen, NULL);
    if (!n || sstKeyCmp(nodeKey(n), n->klen, key, klen) != 0)
        return SST_NOT_FOUND;
    const sklValue *v = __atomic_load_n(&n->val, __ATOMIC_ACQUIRE);
    if (v->word & 1)
        return SST_DELETED;
    *val = v->bytes;
    *vlen = v->word >> 1;
    return SST_FOUND;
}

uint64_t sklCount(const sklList *s)
{
    return s->count;
}

size_t sklBytes(const sklList *s)
{
    return s->used;
}

void sklIterSeek(sklIter *it, const sklList *s, const void *key, size_t klen)
{
    it->s = s;
    it->node = klen ? findGreaterOrEqual(s, key, klen, NULL) : loadNext(s->head, 0);
}

int sklIterNext(sklIter *it, sstEntry *e)
{
    const sklNode *n = it->node;
    if (!n)
        return 0;
    const sklValue *v = __atomic_load_n(&n->val, __ATOMIC_ACQUIRE);
    e->key = nodeKey(n);
    e->klen = n->klen;
    e->tombstone = (int)(v->word & 1);
    e->val = e->tombstone ? NULL : v->bytes;
    e->vlen = v->word >> 1;
    it->node = loadNext(n, 0);
    return 1;
}
