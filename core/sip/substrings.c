/* Any of a set of substrings, ASCII case ignored (substrings.h).
 *
 * The words make a trie, completed into an automaton by failure links
 * (Aho-Corasick): from every state, every byte leads somewhere, to the
 * longest word prefix that ends the text read so far. Bytes are first mapped
 * to classes (one per byte value some word holds, upper case letters with
 * their lower case, and one for all the rest), which keeps the table small:
 * (states) x (classes) entries, a few kilobytes for the usual lists. */
#include "config.h"

#include "sip/substrings.h"

#include <stdint.h>
#include <stdlib.h>

/* An entry of `next` is the row of the state it leads to (state x classes),
 * this bit set when a word ends there: the text contains it. */
#define WORD_ENDS 0x80000000u

struct sw_substrings {
    uint8_t class_of[256];
    size_t n_classes;
    uint32_t *next;     /* next[row + class] */
    bool any;           /* some word was given */
};

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* The trie of the words in next (0 doubles as "no edge": no edge of a trie
 * leads back to the root), and where a word ends. Returns the states used. */
static size_t build_trie(sw_substrings_t *set, const char *const *words, size_t n, bool *word_end)
{
    size_t used = 1, classes = set->n_classes;
    for (size_t i = 0; i < n; i++) {
        size_t state = 0;
        for (const unsigned char *p = (const unsigned char *)words[i]; *p != '\0'; p++) {
            uint32_t *edge = &set->next[state * classes + set->class_of[*p]];
            if (*edge == 0)
                *edge = (uint32_t)used++;
            state = *edge;
        }
        if (state != 0)
            word_end[state] = true;
    }
    return used;
}

/* Breadth first from the root: a state's missing edges are those of its
 * failure state (the longest proper suffix that is a trie state), which is
 * nearer the root and so complete already; a state where a word ends, or
 * whose failure state is one, ends a word. */
static void add_failure_links(sw_substrings_t *set, bool *word_end, uint32_t *fail, uint32_t *queue)
{
    size_t classes = set->n_classes, head = 0, tail = 0;
    for (size_t c = 0; c < classes; c++)
        if (set->next[c] != 0) {
            fail[set->next[c]] = 0;
            queue[tail++] = set->next[c];
        }
    while (head < tail) {
        uint32_t state = queue[head++];
        word_end[state] = word_end[state] || word_end[fail[state]];
        uint32_t *row = &set->next[(size_t)state * classes];
        const uint32_t *fail_row = &set->next[(size_t)fail[state] * classes];
        for (size_t c = 0; c < classes; c++) {
            if (row[c] != 0) {
                fail[row[c]] = fail_row[c];
                queue[tail++] = row[c];
            } else {
                row[c] = fail_row[c];
            }
        }
    }
}

sw_substrings_t *sw_substrings_new(const char *const *words, size_t n)
{
    sw_substrings_t *set = calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    size_t states = 1;
    set->n_classes = 1; /* class 0: the bytes no word holds */
    for (size_t i = 0; i < n; i++)
        for (const unsigned char *p = (const unsigned char *)words[i]; *p != '\0'; p++, states++) {
            unsigned char c = fold(*p);
            if (set->class_of[c] == 0)
                set->class_of[c] = (uint8_t)set->n_classes++;
        }
    for (int c = 'A'; c <= 'Z'; c++)
        set->class_of[c] = set->class_of[c - 'A' + 'a'];
    set->any = states > 1;
    /* rows must fit below WORD_ENDS */
    if (states > (WORD_ENDS - 1) / set->n_classes) {
        free(set);
        return NULL;
    }
    set->next = calloc(states * set->n_classes, sizeof *set->next);
    bool *word_end = calloc(states, sizeof *word_end);
    uint32_t *fail = calloc(states, sizeof *fail), *queue = calloc(states, sizeof *queue);
    if (set->next == NULL || word_end == NULL || fail == NULL || queue == NULL) {
        free(word_end), free(fail), free(queue);
        sw_substrings_free(set);
        return NULL;
    }
    size_t used = build_trie(set, words, n, word_end);
    add_failure_links(set, word_end, fail, queue);
    /* state numbers to rows, marked where a word ends */
    for (size_t k = 0; k < used * set->n_classes; k++) {
        uint32_t to = set->next[k];
        set->next[k] = (uint32_t)(to * set->n_classes) | (word_end[to] ? WORD_ENDS : 0);
    }
    free(word_end), free(fail), free(queue);
    return set;
}

void sw_substrings_free(sw_substrings_t *set)
{
    if (set == NULL)
        return;
    free(set->next);
    free(set);
}

bool sw_substrings_find(const sw_substrings_t *set, const char *text, size_t len)
{
    if (set == NULL || !set->any)
        return false;
    uint32_t row = 0;
    for (size_t i = 0; i < len; i++) {
        row = set->next[row + set->class_of[(unsigned char)text[i]]];
        if (row & WORD_ENDS)
            return true;
    }
    return false;
}
